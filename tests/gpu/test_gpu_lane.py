# -*- coding: utf-8 -*-
"""The shipped training scripts, the GPU smoke test's command and node_nvidia's checks on the machine's real GPUs.

Each job runs the way its pod would: the container command and environment that trainkit.aws.training_job renders
(plugins/module_utils/training.py), the launcher and the scripts from a directory standing in for the ConfigMap at
/opt/trainkit, a directory standing in for the data claim. Only what needs a cluster is replaced: the pod's name and IP
(downward API) and the master's address (the headless Service's DNS name) become this machine's loopback.
"""

import ast
import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))

import pod_process  # noqa: E402  # standard library only, unlike the rest of tests/harness

TOLERANCE = 1e-3  # float32 on the GPU against float32 on the CPU, the same data and steps
# Seconds a pod's run may take: seconds of training and NCCL's set-up, so a hang (NCCL waiting for a peer) fails its
# test well before a lent machine's 10-minute command limit, and the tests after it still run
POD_TIMEOUT = 240


def run_pod(tmp_path, name, framework, gpus, extra_env=None):
    """One pod of a one-worker job, run here as training_job renders it; returns (process, model.json or None)."""
    spec = pod_process.job_spec(name, framework, str(tmp_path / name), gpus=gpus)
    if gpus:
        container = pod_process.container_of(spec)
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
        assert any(m["mountPath"] == "/dev/shm" for m in container["volumeMounts"]), "GPU pods get /dev/shm"
    pod_process.split(spec)
    result, model = pod_process.run(spec, extra_env=extra_env, timeout=POD_TIMEOUT)
    sys.stdout.write("{0}{1}".format(result.stdout[-3000:], result.stderr[-3000:]))
    return result, model


def assert_same_fit(gpu, cpu):
    flat = [v for group in gpu["parameters"] for v in group]
    reference = [v for group in cpu["parameters"] for v in group]
    assert len(flat) == len(reference) == 4
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(flat, reference)), (flat, reference)
    assert abs(gpu["loss"] - cpu["loss"]) <= TOLERANCE, (gpu["loss"], cpu["loss"])


@pytest.fixture(scope="module")
def pytorch_on_cpu(tmp_path_factory):
    pytest.importorskip("torch")
    result, model = run_pod(tmp_path_factory.mktemp("cpu"), "cpu-ref", "pytorch", 0, {"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0 and model, result.stderr[-3000:]
    assert model["backend"] == "gloo" and model["devices"] == ["cpu"]
    return model


def test_the_gpu_smoke_tests_command_lists_every_gpu(gpus, tmp_path):
    """The default command of trainkit.aws.gpu_smoke_test, read from the module's argument spec."""
    with open(os.path.join(REPO, "plugins", "modules", "gpu_smoke_test.py")) as handle:
        tree = ast.parse(handle.read())
    # argument_spec's command=dict(..., default=[...]); other defaults name constants (GPU) and are not literals
    [command] = [
        ast.literal_eval(option.value)
        for spec in ast.walk(tree)
        if isinstance(spec, ast.keyword) and spec.arg == "command" and isinstance(spec.value, ast.Call)
        for option in spec.value.keywords
        if option.arg == "default"
    ]
    out = tmp_path / "termination-log"
    command = [str(out) if c == "/dev/termination-log" else c for c in command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = [line for line in result.stdout.splitlines() if line.startswith("GPU ")]
    assert len(listed) == len(gpus) and out.read_text().splitlines() == result.stdout.splitlines(), result.stdout


def test_pytorch_with_gpus_1_trains_on_cuda_0_over_nccl_as_on_the_cpu(pytorch_on_cpu, tmp_path):
    result, model = run_pod(tmp_path, "gpu-one", "pytorch", 1, {"CUDA_VISIBLE_DEVICES": "0"})
    assert result.returncode == 0 and model, result.stderr[-3000:]
    assert model["backend"] == "nccl" and model["devices"] == ["cuda:0"] and model["world_size"] == 1
    assert_same_fit(model, pytorch_on_cpu)


def test_pytorch_ddp_runs_one_process_per_gpu_over_nccl_as_on_the_cpu(gpus, pytorch_on_cpu, tmp_path):
    """gpus = every GPU of the machine: torchrun starts one process per GPU, each on the GPU of its LOCAL_RANK."""
    result, model = run_pod(tmp_path, "gpu-all", "pytorch", len(gpus))
    assert result.returncode == 0 and model, result.stderr[-3000:]
    assert model["world_size"] == len(gpus) and model["backend"] == "nccl"
    assert model["devices"] == ["cuda:{0}".format(i) for i in range(len(gpus))], model["devices"]
    assert_same_fit(model, pytorch_on_cpu)


def test_paddle_trains_on_the_gpu_as_on_the_cpu(tmp_path):
    paddle = pytest.importorskip("paddle")
    if not paddle.is_compiled_with_cuda():
        pytest.skip("this machine's paddle is the CPU build")
    cpu_result, cpu = run_pod(tmp_path, "paddle-cpu", "paddle", 0, {"TRAINKIT_DEVICE": "cpu"})
    assert cpu_result.returncode == 0 and cpu and cpu["device"] == "cpu", cpu_result.stderr[-3000:]
    result, model = run_pod(tmp_path, "paddle-gpu", "paddle", 1)
    assert result.returncode == 0 and model and model["device"] == "gpu:0", result.stderr[-3000:]
    assert_same_fit(model, cpu)


def test_the_mpi_script_trains_across_two_ranks_where_the_machine_has_mpi(tmp_path):
    """train_mpi.py (numpy, no GPU) through the MPIJob launcher's command, mpirun -np 2, where this python has mpi4py
    with an MPI library and an mpirun beside it or on PATH: "whatever else the machine's Python has"."""
    pytest.importorskip("numpy")
    pytest.importorskip("mpi4py")
    try:
        from mpi4py import MPI  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
    except (ImportError, RuntimeError) as exc:  # mpi4py's wheels load an MPI library they do not carry
        pytest.skip("mpi4py finds no MPI library here: {0}".format(exc))
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    if not shutil.which("mpirun", path=path):
        pytest.skip("no mpirun beside {0} or on PATH".format(sys.executable))
    spec = pod_process.job_spec("mpi", "mpi", str(tmp_path / "mpi"), workers=2)
    pod_process.split(spec)
    result, model = pod_process.run(spec, timeout=POD_TIMEOUT)
    sys.stdout.write(result.stdout[-3000:] + result.stderr[-3000:])
    assert result.returncode == 0 and model, result.stderr[-3000:]
    other = pod_process.model_of(spec, rank=1)
    assert model["world_size"] == 2 and other and other["parameters"] == model["parameters"], (model, other)
    weights, bias = model["parameters"]
    assert [round(w, 1) for w in weights] == [3.0, -2.0, 0.5] and round(bias[0], 1) == 1.0, model


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
        timeout=POD_TIMEOUT,
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


def test_the_fabric_check_runs_over_nccl_on_every_gpu(gpus, tmp_path):
    """roles/training_job/files/fabric_check.py as the role runs it before a job (a PyTorch job of the job's GPUs):
    NCCL all-reduces of every message size on every GPU, the result in the termination message."""
    pytest.importorskip("torch")
    spec = pod_process.job_spec(
        "fabric",
        "pytorch",
        str(tmp_path / "fabric"),
        gpus=len(gpus),
        command=["/opt/trainkit/fabric_check.py"],
        checkpoint_path="",
    )
    out = tmp_path / "termination-log"
    result, _model = pod_process.run(spec, extra_env={"TRAINKIT_TERMINATION_LOG": str(out)}, timeout=POD_TIMEOUT)
    sys.stdout.write(result.stdout[-3000:] + result.stderr[-3000:])
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["fabric"] == "nccl" and found["world_size"] == len(gpus) and found["ok"] is True
    assert [r["bytes"] for r in found["sizes"]][-1] == 64 << 20 and all(r["algbw_gbps"] > 0 for r in found["sizes"])
