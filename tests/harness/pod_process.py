# -*- coding: utf-8 -*-
"""A training job's pod run as a process on this machine, exactly as training_job renders it (standard library only:
the GPU lane imports it on machines that have python3 and torch and nothing else).

The container command and environment come from plugins/module_utils/training.py's render(); the launcher and the
role's files sit in a directory standing in for the ConfigMap at /opt/trainkit, and a directory stands in for the
data claim. Only what needs a cluster is replaced: the pod's name and IP (downward API) and the master's address
(the headless Service's DNS name) become this machine's loopback, and mpirun is the one beside ``python``.
"""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))

import proctree  # noqa: E402  # standard library only

FILES = os.path.join(REPO, "roles", "training_job", "files")
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
LAUNCHER_DIR = "/opt/trainkit"
COMMANDS = {
    "pytorch": ["/opt/trainkit/train_pytorch.py"],
    "paddle": ["python3", "/opt/trainkit/train_paddle.py"],
    "mpi": ["python3", "/opt/trainkit/train_mpi.py"],
}


def load_training():
    """plugins/module_utils/training.py without ansible on the path."""
    spec = importlib.util.spec_from_file_location("trainkit_training", os.path.join(MODULE_UTILS, "training.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training = load_training()


def free_port():
    """A port no process on this machine listens on now (the kernel's pick among its ephemeral ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def job_spec(name, framework, volume, gpus=0, workers=1, **extra):
    """A training_job spec for one of the shipped scripts over the claim directory ``volume``."""
    spec = {
        "name": name,
        "namespace": "default",
        "framework": framework,
        "image": "unused-here",
        "command": COMMANDS[framework],
        "workers": workers,
        "pservers": 0,
        "gpus": gpus,
        "data_pvc": "data",
        "mount_path": volume,
        "data_subpath": "{job}/data/{rank}",
        "output_path": "{job}/output/node_{rank}",
        "checkpoint_path": "{job}/checkpoints",
        "checkpoint_every": 50,
        "ports": {"base": free_port(), "num": 1, "num_sparse": 0, "host_port": False},
        "peer_discovery": "dns",
        "mpi_implementation": "MPICH",
    }
    spec.update(extra)
    problems = training.problems(spec)
    if problems:
        raise ValueError("; ".join(problems))
    return spec


def config_map(directory):
    """The ConfigMap's files (the launcher and the role's files) written to ``directory``, once."""
    if not os.path.isdir(directory):
        os.makedirs(directory)
        for name in ("launcher.py", "checkpoint.py"):  # what the module itself puts into the ConfigMap
            shutil.copy(os.path.join(MODULE_UTILS, name), os.path.join(directory, name))
        for name in os.listdir(FILES):
            if os.path.isfile(os.path.join(FILES, name)):
                shutil.copy(os.path.join(FILES, name), os.path.join(directory, name))
    return directory


def container_of(spec):
    """Rank 0's container as rendered: the Job's (paddle, pytorch) or the MPIJob launcher's (mpi)."""
    sources = []
    for name in ("launcher.py", "checkpoint.py"):
        with open(os.path.join(MODULE_UTILS, name)) as handle:
            sources.append(handle.read())
    objects = training.render(spec, *sources)
    [workload] = training.workloads(objects)
    if workload["kind"] == "MPIJob":
        template = workload["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]
    else:
        template = workload["spec"]["template"]
    [container] = template["spec"]["containers"]
    return container


def split(spec, python=sys.executable, count=None):
    """The data-split job's work: one shard per trainer under <claim>/<job>/data."""
    directory = config_map(os.path.join(spec["mount_path"], ".opt-trainkit"))
    out = os.path.join(spec["mount_path"], spec["name"], "data")
    result = subprocess.run(
        [python, os.path.join(directory, "split_data.py")],
        env=dict(os.environ, OUT_DIR=out, SPLIT_COUNT=str(count or spec["workers"])),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError("split_data.py failed: " + result.stderr[-2000:])


def command_and_env(spec, python=sys.executable, extra_env=None):
    """(argv, environment) of rank 0's container, run here with ``python``."""
    container = container_of(spec)
    directory = config_map(os.path.join(spec["mount_path"], ".opt-trainkit"))
    downward = {"metadata.name": spec["name"] + "-0", "metadata.namespace": "default", "status.podIP": "127.0.0.1"}
    env = dict(os.environ)
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = downward[variable["valueFrom"]["fieldRef"]["fieldPath"]]
    env.update({"JOB_COMPLETION_INDEX": "0", "MASTER_ADDR": "127.0.0.1", "TRAINKIT_PEER_DISCOVERY": "dns"})
    env.update({"HYDRA_IFACE": "lo", "JOB_NAME": spec["name"]})
    env["PATH"] = os.path.dirname(python) + os.pathsep + env.get("PATH", "")  # mpirun beside the python
    env.update(extra_env or {})
    argv = []
    for arg in container["command"]:
        if arg.startswith(LAUNCHER_DIR):
            arg = directory + arg[len(LAUNCHER_DIR) :]
        argv.append(python if arg == "python3" else arg)
    return argv, env


def model_of(spec, rank=0):
    """The model.json rank ``rank`` wrote, or None."""
    path = os.path.join(spec["mount_path"], spec["name"], "output", "node_{0}".format(rank), "model.json")
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def run(spec, python=sys.executable, extra_env=None, timeout=900):
    """Run rank 0's container to its end; returns (completed process, rank 0's model.json or None). Past
    ``timeout`` the pod's every process is killed (torchrun's workers too, which would hold their GPUs) and
    subprocess.TimeoutExpired raised with what it printed."""
    argv, env = command_and_env(spec, python, extra_env)
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proctree.kill_tree(process.pid)
        stdout, stderr = process.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, output=stdout[-3000:], stderr=stderr[-3000:]) from None
    result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    return result, (model_of(spec) if result.returncode == 0 else None)


def start(spec, python=sys.executable, extra_env=None):
    """Start rank 0's container in a session of its own (killed with os.killpg); returns the Popen."""
    argv, env = command_and_env(spec, python, extra_env)
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def kill_pod(process):
    """SIGKILL the pod's every process at once, as the kubelet does when a pod is removed (its cgroup is killed):
    torchrun's workers start sessions of their own, so the process group alone would leave them running."""
    proctree.kill_tree(process.pid)
    process.wait(timeout=60)
