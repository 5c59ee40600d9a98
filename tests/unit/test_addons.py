# -*- coding: utf-8 -*-
"""Pure logic of the add-ons: which node groups have GPUs, the MPIJob rendering, the local runner's image table,
the simulated nodes' GPUs, and the ssh stand-in's argument parsing."""

import os
import sys

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.trainkit.aws.plugins.filter.gpu import gpu_nodegroups
from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils import training

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tools")
sys.path.insert(0, TOOLS)

import local_runner  # noqa: E402  (tools/ is not a package)
import local_standins  # noqa: E402


def test_gpu_nodegroups_from_the_table_an_override_and_the_family():
    groups = [
        {"name": "cpu", "instance_type": "m5.xlarge"},
        {"name": "v100", "instance_type": "p3.8xlarge"},
        {"name": "custom", "instance_type": "m5.large", "gpus": 2},
        {"name": "none", "instance_type": "g5.xlarge", "gpus": 0},
        {"name": "new", "instance_type": "p6-b200.48xlarge"},
        {"name": "amd", "instance_type": "g4ad.xlarge"},
    ]
    found = gpu_nodegroups(groups)
    assert [(g["name"], g["gpus"]) for g in found] == [("v100", 4), ("custom", 2), ("new", 1)]
    with pytest.raises(AnsibleFilterError, match="needs an instance_type"):
        gpu_nodegroups([{"name": "x"}])
    # a spot group of several types: the device plugin's node selection needs every one of them
    [spot] = gpu_nodegroups([{"name": "spot", "instance_types": ["g5.xlarge", "g6.xlarge"], "spot": True}])
    assert spot["gpus"] == 1 and spot["instance_types"] == ["g5.xlarge", "g6.xlarge"]
    assert found[0]["instance_types"] == ["p3.8xlarge"]


def test_simulated_gpu_nodes_advertise_their_gpus_only_through_a_device_plugin():
    args = ("c", "us-west-2", "gpu", "p3.8xlarge", "c-gpu-0", "us-west-2a", "127.10.1.0/24", "127.11.1.1")
    static = instance_types.node_object(*args)
    assert static["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert static["metadata"]["annotations"]["trainkit.io/gpus"] == "4"
    plugged = instance_types.node_object(*args, device_plugin=True)
    assert "nvidia.com/gpu" not in plugged["status"]["capacity"]
    assert "nvidia.com/gpu" not in plugged["status"]["allocatable"]
    assert plugged["metadata"]["annotations"]["trainkit.io/gpus"] == "4"


def mpi_spec(**extra):
    base = {
        "name": "mpi-fit",
        "namespace": "default",
        "framework": "mpi",
        "image": "mpioperator/mpich:0.7.0",
        "command": ["python3", "/opt/trainkit/train_mpi.py"],
        "workers": 2,
        "data_pvc": "efsvol",
        "mount_path": "/mnt/data",
        "data_subpath": "{job}/data/{rank}",
        "output_path": "{job}/output/node_{rank}",
    }
    base.update(extra)
    return base


def test_mpijob_implementation_workers_sshd_and_replica_restart_policies():
    assert training.problems(mpi_spec()) == []
    [mpijob] = training.workloads(training.render(mpi_spec(mpi_implementation="MPICH"), "launcher"))
    spec = mpijob["spec"]
    assert spec["mpiImplementation"] == "MPICH"
    launcher, worker = spec["mpiReplicaSpecs"]["Launcher"], spec["mpiReplicaSpecs"]["Worker"]
    assert launcher["restartPolicy"] == worker["restartPolicy"] == "Never"
    assert "restartPolicy" not in launcher["template"]["spec"] and "restartPolicy" not in worker["template"]["spec"]
    assert launcher["template"]["spec"]["containers"][0]["command"] == [
        "mpirun",
        "-np",
        "2",
        "python3",
        "/opt/trainkit/train_mpi.py",
    ]
    assert worker["template"]["spec"]["containers"][0]["command"] == ["/usr/sbin/sshd", "-De"]
    env = dict((e["name"], e.get("value")) for e in launcher["template"]["spec"]["containers"][0]["env"])
    assert env["TRAINKIT_MOUNT_PATH"] == "/mnt/data" and env["TRAINKIT_OUTPUT_PATH"] == "{job}/output/node_{rank}"
    [own] = training.workloads(training.render(mpi_spec(worker_command=[]), "launcher"))
    assert "command" not in own["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert own["spec"]["mpiImplementation"] == "OpenMPI"
    assert any("mpi_implementation" in p for p in training.problems(mpi_spec(mpi_implementation="LAM")))
    assert any("command is required" in p for p in training.problems(mpi_spec(command=[])))


@pytest.mark.parametrize(
    "image, expected",
    [
        ("mpioperator/mpi-operator:0.7.0", ("mpioperator/mpi-operator", "0.7.0")),
        ("docker.io/mpioperator/mpi-operator:0.7.0", ("mpioperator/mpi-operator", "0.7.0")),
        ("nvcr.io/nvidia/k8s-device-plugin:v0.17.4", ("nvcr.io/nvidia/k8s-device-plugin", "v0.17.4")),
        ("localhost:5000/x/y@sha256:abc", ("localhost:5000/x/y", "")),
        ("nginx", ("nginx", "")),
        ("library/python:3.12", ("python", "3.12")),
    ],
)
def test_image_repository(image, expected):
    assert local_runner.image_repository(image) == expected


def test_gpu_limit_reads_limits_or_requests():
    assert local_runner.gpu_limit({"resources": {"limits": {"nvidia.com/gpu": "2"}}}) == 2
    assert local_runner.gpu_limit({"resources": {"requests": {"nvidia.com/gpu": 1}}}) == 1
    assert local_runner.gpu_limit({}) == 0


def test_ssh_standin_runs_the_command_on_the_named_host_only(tmp_path, monkeypatch):
    hosts = tmp_path / "ssh-hosts"
    hosts.mkdir()
    (hosts / "ns_w-0.json").write_text(
        '{"names": ["w-0.job.ns.svc", "127.10.1.5"], "env": {"PATH": "/usr/bin:/bin", "MARK": "worker"}, '
        '"cwd": "%s", "uid": "u"}' % tmp_path
    )
    monkeypatch.setenv("TRAINKIT_RUNNER_DIR", str(tmp_path))
    assert local_standins.ssh(["-o", "ConnectionAttempts=10", "-x", "nowhere.svc", "true"]) == 255
    calls = []
    monkeypatch.setattr(local_standins.os, "execve", lambda path, argv, env: calls.append((argv, env["MARK"])))
    monkeypatch.chdir(tmp_path)
    local_standins.ssh(["-o", "ConnectionAttempts=10", "-x", "user@w-0.job.ns.svc", "echo", "$MARK"])
    assert calls == [(["sh", "-c", "echo $MARK"], "worker")]
    assert "echo $MARK" in (hosts / "ns_w-0.sessions").read_text()
