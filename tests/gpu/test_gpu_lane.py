# -*- coding: utf-8 -*-
"""The shipped training scripts, the GPU smoke test's command and node_nvidia's checks on the machine's real GPUs.

Each job runs the way its pod would: the container command and environment that trainkit.aws.training_job renders
(plugins/module_utils/training.py), the launcher and the scripts from a directory standing in for the ConfigMap at
/opt/trainkit, a directory standing in for the data claim. Only what needs a cluster is replaced: the pod's name and IP
(downward API) and the master's address (the headless Service's DNS name) become this machine's loopback.
"""

import ast
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(REPO, "roles", "training_job", "files")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
TOLERANCE = 1e-3  # float32 on the GPU against float32 on the CPU, the same data and steps


def load_training():
    """plugins/module_utils/training.py (standard library only) without ansible on the path."""
    spec = importlib.util.spec_from_file_location("trainkit_training", os.path.join(MODULE_UTILS, "training.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training = load_training()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def job_spec(name, framework, gpus, volume, **extra):
    spec = {
        "name": name,
        "namespace": "default",
        "framework": framework,
        "image": "unused-here",
        "command": {
            "pytorch": ["/opt/trainkit/train_pytorch.py"],
            "paddle": ["python3", "/opt/trainkit/train_paddle.py"],
        }[framework],
        "workers": 1,
        "pservers": 0,
        "gpus": gpus,
        "data_pvc": "data",
        "mount_path": volume,
        "data_subpath": "{job}/data/{rank}",
        "output_path": "{job}/output/node_{rank}",
        "ports": {"base": free_port(), "num": 1, "num_sparse": 0, "host_port": False},
        "peer_discovery": "dns",
    }
    spec.update(extra)
    assert training.problems(spec) == [], training.problems(spec)
    return spec


def run_pod(tmp_path, spec, extra_env=None, timeout=900):
    """Run rank 0's container of a rendered job here; returns (completed process, model.json or None)."""
    config_map = tmp_path / "opt-trainkit"
    if not config_map.exists():
        config_map.mkdir()
        shutil.copy(os.path.join(MODULE_UTILS, "launcher.py"), config_map / "launcher.py")
        for name in os.listdir(FILES):
            if os.path.isfile(os.path.join(FILES, name)):
                shutil.copy(os.path.join(FILES, name), config_map / name)
    with open(os.path.join(MODULE_UTILS, "launcher.py")) as handle:
        objects = training.render(spec, handle.read())
    [job] = [o for o in objects if o["kind"] == "Job"]
    [container] = job["spec"]["template"]["spec"]["containers"]
    if spec["gpus"]:
        limits = container["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == str(spec["gpus"])
        assert any(m["mountPath"] == "/dev/shm" for m in container["volumeMounts"]), "GPU pods get /dev/shm"
    downward = {"metadata.name": spec["name"] + "-0", "metadata.namespace": "default", "status.podIP": "127.0.0.1"}
    env = dict(os.environ)
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = downward[variable["valueFrom"]["fieldRef"]["fieldPath"]]
    env.update({"JOB_COMPLETION_INDEX": "0", "MASTER_ADDR": "127.0.0.1", "TRAINKIT_PEER_DISCOVERY": "dns"})
    env.update(extra_env or {})
    command = [
        str(config_map) + c[len("/opt/trainkit") :] if c.startswith("/opt/trainkit") else c
        for c in container["command"]
    ]
    command = [sys.executable if c == "python3" else c for c in command]
    split = subprocess.run(
        [sys.executable, str(config_map / "split_data.py")],
        env=dict(os.environ, OUT_DIR=os.path.join(spec["mount_path"], spec["name"], "data"), SPLIT_COUNT="1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert split.returncode == 0, split.stderr
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    model = os.path.join(spec["mount_path"], spec["name"], "output", "node_0", "model.json")
    sys.stdout.write("$ {0}\n{1}{2}".format(" ".join(command), result.stdout[-3000:], result.stderr[-3000:]))
    if result.returncode != 0 or not os.path.exists(model):
        return result, None
    with open(model) as handle:
        return result, json.load(handle)


def assert_same_fit(gpu, cpu):
    flat = [v for group in gpu["parameters"] for v in group]
    reference = [v for group in cpu["parameters"] for v in group]
    assert len(flat) == len(reference) == 4
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(flat, reference)), (flat, reference)
    assert abs(gpu["loss"] - cpu["loss"]) <= TOLERANCE, (gpu["loss"], cpu["loss"])


@pytest.fixture(scope="module")
def pytorch_on_cpu(tmp_path_factory):
    pytest.importorskip("torch")
    tmp = tmp_path_factory.mktemp("cpu")
    spec = job_spec("cpu-ref", "pytorch", 0, str(tmp / "volume"))
    result, model = run_pod(tmp, spec, {"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0 and model, result.stderr[-3000:]
    assert model["backend"] == "gloo" and model["devices"] == ["cpu"]
    return model


def test_the_gpu_smoke_tests_command_lists_every_gpu(gpus, tmp_path):
    """The default command of trainkit.aws.gpu_smoke_test, read from the module's argument spec."""
    with open(os.path.join(REPO, "plugins", "modules", "gpu_smoke_test.py")) as handle:
        tree = ast.parse(handle.read())
    defaults = [
        ast.literal_eval(k.value)
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and any(k.arg == "default" for k in call.keywords)
        for k in call.keywords
        if k.arg == "default" and isinstance(k.value, ast.List)
    ]
    [command] = [d for d in defaults if d and d[0] == "sh"]
    out = tmp_path / "termination-log"
    command = [str(out) if c == "/dev/termination-log" else c for c in command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = [line for line in result.stdout.splitlines() if line.startswith("GPU ")]
    assert len(listed) == len(gpus) and out.read_text().splitlines() == result.stdout.splitlines(), result.stdout


def test_pytorch_with_gpus_1_trains_on_cuda_0_over_nccl_as_on_the_cpu(pytorch_on_cpu, tmp_path):
    spec = job_spec("gpu-one", "pytorch", 1, str(tmp_path / "volume"))
    result, model = run_pod(tmp_path, spec, {"CUDA_VISIBLE_DEVICES": "0"})
    assert result.returncode == 0 and model, result.stderr[-3000:]
    assert model["backend"] == "nccl" and model["devices"] == ["cuda:0"] and model["world_size"] == 1
    assert_same_fit(model, pytorch_on_cpu)


def test_pytorch_ddp_runs_one_process_per_gpu_over_nccl_as_on_the_cpu(gpus, pytorch_on_cpu, tmp_path):
    """gpus = every GPU of the machine: torchrun starts one process per GPU, each on the GPU of its LOCAL_RANK."""
    spec = job_spec("gpu-all", "pytorch", len(gpus), str(tmp_path / "volume"))
    result, model = run_pod(tmp_path, spec)
    assert result.returncode == 0 and model, result.stderr[-3000:]
    assert model["world_size"] == len(gpus) and model["backend"] == "nccl"
    assert model["devices"] == ["cuda:{0}".format(i) for i in range(len(gpus))], model["devices"]
    assert_same_fit(model, pytorch_on_cpu)


def test_paddle_trains_on_the_gpu_as_on_the_cpu(tmp_path):
    paddle = pytest.importorskip("paddle")
    if not paddle.is_compiled_with_cuda():
        pytest.skip("this machine's paddle is the CPU build")
    cpu_result, cpu = run_pod(tmp_path, job_spec("paddle-cpu", "paddle", 0, str(tmp_path / "volume")))
    assert cpu_result.returncode == 0 and cpu and cpu["device"] == "cpu", cpu_result.stderr[-3000:]
    result, model = run_pod(tmp_path, job_spec("paddle-gpu", "paddle", 1, str(tmp_path / "volume")))
    assert result.returncode == 0 and model and model["device"] == "gpu:0", result.stderr[-3000:]
    assert_same_fit(model, cpu)


def test_node_nvidia_checks_the_real_driver_and_changes_nothing(gpus, tmp_path):
    """node_nvidia with node_nvidia_check_only, in check mode, on this machine: it finds the driver it did not install
    (so keeps it), nvidia-smi lists every GPU, and nothing changes."""
    pytest.importorskip("ansible")
    collections = tmp_path / "collections" / "ansible_collections" / "trainkit"
    collections.mkdir(parents=True)
    os.symlink(REPO, collections / "aws")
    book = tmp_path / "check.yml"
    book.write_text(
        json.dumps(
            [
                {
                    "name": "node_nvidia, check only",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": True,
                    "gather_subset": ["min"],
                    "roles": [{"role": "trainkit.aws.node_nvidia", "node_nvidia_check_only": True}],
                    "post_tasks": [{"name": "report", "ansible.builtin.debug": {"var": "trainkit_nvidia"}}],
                }
            ]
        )
    )
    before = subprocess.run(["nvidia-smi", "-q"], capture_output=True, text=True, check=False).stdout
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_CALLBACK_FORMAT_PRETTY="false",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    result = subprocess.run(
        [sys.executable, "-m", "ansible", "playbook", "--check", "-i", "localhost,", str(book)]
        + ["-e", "ansible_python_interpreter=" + sys.executable],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    sys.stdout.write(result.stdout[-6000:] + result.stderr[-3000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    reports = [json.loads(line.split("=> ", 1)[1]) for line in result.stdout.splitlines() if "trainkit_nvidia" in line]
    report = reports[-1]["trainkit_nvidia"]
    assert report["rc"] in (0, "0") and len(report["gpus"]) == len(gpus), report
    if not os.path.exists("/etc/trainkit/nvidia-driver"):
        assert report["image_driver_kept"] in (True, "True"), "a driver trainkit did not install is kept"
    assert "| CHANGED" not in result.stdout, result.stdout[-3000:]
    after = subprocess.run(["nvidia-smi", "-q"], capture_output=True, text=True, check=False).stdout
    assert [line for line in before.splitlines() if "Driver Version" in line] == [
        line for line in after.splitlines() if "Driver Version" in line
    ]
