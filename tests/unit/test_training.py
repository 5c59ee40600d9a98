# -*- coding: utf-8 -*-
"""Rendering of training jobs and the launcher's pure logic (peer assignment, framework variables)."""

import ast
import os

import pytest

from ansible_collections.trainkit.aws.plugins.module_utils import launcher
from ansible_collections.trainkit.aws.plugins.module_utils import training


def spec(**extra):
    base = {
        "name": "fit",
        "namespace": "default",
        "framework": "paddle",
        "image": "img",
        "command": ["python3", "train.py"],
        "workers": 2,
        "pservers": 0,
        "gpus": 0,
        "mount_path": "/mnt/data",
        "data_subpath": "{job}/data/{rank}",
        "output_path": "{job}/output/node_{rank}",
        "ports": {"base": 7164, "num": 1, "num_sparse": 0, "host_port": False},
    }
    base.update(extra)
    return base


def pod(name, ip, phase="Running", role="trainer", index=None, deleting=False):
    return {
        "name": name,
        "ip": ip,
        "phase": phase,
        "role": role,
        "index": index,
        "exit_code": None,
        "deleting": deleting,
    }


def test_valid_spec_has_no_problems():
    assert training.problems(spec()) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"name": "x" * 53}, "at most 52"),
        ({"framework": "tensorflow"}, "framework must be one of"),
        ({"cpu": "two"}, "not a Kubernetes quantity"),
        ({"files": {"launcher.py": "x"}}, "plain file name other than launcher.py"),
        ({"tolerations": [{"key": "a", "colour": "red"}]}, "tolerations entries take only"),
        ({"data_pvc": "efsvol", "mount_path": "/opt/trainkit"}, "mount_path must be an absolute path"),
        ({"env": {"1BAD": "x"}}, "not a valid variable name"),
    ],
)
def test_problems_name_the_field(extra, message):
    found = training.problems(spec(**extra))
    assert any(message in p for p in found), found


def test_paddle_host_ports_and_gpu_backend():
    objects = training.render(spec(ports={"base": 8000, "num": 2, "num_sparse": 1, "host_port": True}, gpus=1), "#")
    job = objects[-1]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert [(p["containerPort"], p["hostPort"]) for p in container["ports"]] == [
        (8000, 8000),
        (8001, 8001),
        (8002, 8002),
    ]
    env = dict((e["name"], e.get("value")) for e in container["env"])
    assert "PADDLE_DISTRI_BACKEND" not in env  # NCCL on GPUs: paddle decides
    assert env["TRAINER_COUNT"] == "1" and container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["command"][:4] == ["python3", "/opt/trainkit/launcher.py", "--framework", "paddle"]


def test_user_env_wins_and_the_launcher_is_in_the_configmap():
    objects = training.render(spec(env={"CONF_PADDLE_NIC": "ens5"}, files={"train.py": "print(1)"}), "SOURCE")
    cm = [o for o in objects if o["kind"] == "ConfigMap"][0]
    assert cm["data"] == {"launcher.py": "SOURCE", "train.py": "print(1)"}
    env = dict((e["name"], e.get("value")) for e in objects[-1]["spec"]["template"]["spec"]["containers"][0]["env"])
    assert env["CONF_PADDLE_NIC"] == "ens5"


def test_outcome_of_jobs():
    assert training.outcome(None) is None
    assert training.outcome({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == "succeeded"
    assert training.outcome({"status": {"conditions": [{"type": "Failed", "status": "True"}]}}) == "failed"
    assert training.outcome({"status": {"active": 2, "ready": 1}}) == "running"
    assert training.outcome({"status": {"active": 2, "ready": 0}}) == "pending"
    assert training.outcome({"status": {}}) == "pending"
    assert training.combined(["succeeded", "running"]) == "running"
    assert training.combined(["succeeded", None]) == "absent"


def test_assign_sorts_by_ip_numerically_not_as_text():
    pods = [pod("a", "127.10.0.10"), pod("b", "127.10.0.9"), pod("c", "127.10.0.100")]
    order = launcher.assign(pods, {"trainer": 3}, "a")
    assert [p["name"] for p in order["trainer"]] == ["b", "a", "c"]


def test_assign_waits_then_refuses_surplus_and_strangers():
    assert launcher.assign([pod("a", "127.0.0.2"), pod("b", None, "Pending")], {"trainer": 2}, "a") is None
    with pytest.raises(launcher.LaunchError, match="3 trainer pods are running but the job has 2"):
        launcher.assign([pod("a", "127.0.0.2"), pod("b", "127.0.0.3"), pod("c", "127.0.0.4")], {"trainer": 2}, "a")
    with pytest.raises(launcher.LaunchError, match="is not among"):
        launcher.assign([pod("a", "127.0.0.2")], {"trainer": 1}, "z")
    # a failed pod that is being replaced (deleting) does not count as dead
    ok = launcher.assign([pod("a", "127.0.0.2"), pod("b", "127.0.0.3", "Failed", deleting=True)], {"trainer": 1}, "a")
    assert [p["name"] for p in ok["trainer"]] == ["a"]


def test_a_peer_that_already_finished_counts_as_having_run():
    """CI (stop 33): a parameter-server trainer did its one exchange and exited 0 within a second; the other
    trainer's launcher, a moment later, never saw all 3 pods Running at once and waited until the pserver gave up."""
    pods = [pod("ps", "127.0.0.2", role="pserver"), pod("t0", "127.0.0.3", "Succeeded"), pod("t1", "127.0.0.4")]
    peers = launcher.assign(pods, {"pserver": 1, "trainer": 2}, "t1")
    assert [p["name"] for p in peers["trainer"]] == ["t0", "t1"] and [p["name"] for p in peers["pserver"]] == ["ps"]


def test_paddle_parameter_server_variables():
    peers = {
        "trainer": [pod("t0", "127.0.0.2"), pod("t1", "127.0.0.3")],
        "pserver": [pod("p0", "127.0.0.9", role="pserver")],
    }
    env = launcher.framework_env("paddle", "pserver", 0, peers, 7164, "127.0.0.9", {})
    assert env["TRAINING_ROLE"] == "PSERVER" and env["PADDLE_PSERVER_ID"] == "0"
    assert env["PADDLE_PSERVERS_IP_PORT_LIST"] == "127.0.0.9:7164"
    assert env["PADDLE_TRAINER_ENDPOINTS"] == "127.0.0.2:7164,127.0.0.3:7164"
    assert "PADDLE_TRAINER_ID" not in env
    env = launcher.framework_env("paddle", "trainer", 1, peers, 7164, "127.0.0.3", {})
    assert env["TRAINING_ROLE"] == "TRAINER" and env["PADDLE_TRAINER_ID"] == "1"
    assert env["PADDLE_CURRENT_ENDPOINT"] == "127.0.0.3:7164" and env["PADDLE_TRAINERS_NUM"] == "2"


def test_indexed_job_with_dns_needs_no_api(tmp_path):
    environ = {
        "POD_NAME": "ddp-1-x",
        "POD_NAMESPACE": "default",
        "TRAINKIT_JOB": "ddp",
        "TRAINKIT_WORKERS": "4",
        "TRAINKIT_PORT": "29500",
        "JOB_COMPLETION_INDEX": "1",
        "MASTER_ADDR": "ddp-0.ddp",
        "TRAINKIT_MOUNT_PATH": str(tmp_path),
        "TRAINKIT_OUTPUT_PATH": "{job}/output/node_{rank}",
    }

    def no_api(_environ):
        raise AssertionError("DNS discovery must not call the API server")

    env = launcher.resolve(environ, "pytorch", lister_factory=no_api)
    assert env["RANK"] == "1" and env["WORLD_SIZE"] == "4"
    assert env["MASTER_ADDR"] == "ddp-0.ddp" and env["MASTER_PORT"] == "29500"
    assert env["TRAINKIT_OUTPUT_DIR"] == str(tmp_path / "ddp" / "output" / "node_1")
    assert (tmp_path / "ddp" / "output" / "node_1").is_dir()
    command = launcher.torchrun_command(env, 1, ["train.py"])
    assert command[1:3] == ["-m", "torch.distributed.run"] and "--node-rank=1" in command


def test_token_subject():
    import base64
    import json

    claims = base64.urlsafe_b64encode(json.dumps({"sub": "system:serviceaccount:ns:fit-launcher"}).encode())
    assert launcher.token_subject("h." + claims.decode().rstrip("=") + ".s") == "fit-launcher"
    assert launcher.token_subject("garbage") is None


def test_absent_treats_an_unserved_kind_as_gone():
    from ansible_collections.trainkit.aws.plugins.module_utils.k8s import NOT_SERVED
    from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
    from ansible_collections.trainkit.aws.plugins.module_utils import _training_job as training_job

    class NoCRD:  # what Client.get raises when discovery does not know the kind
        def get(self, obj, namespace):
            raise K8sError("The server does not serve kubeflow.org/v2beta1 MPIJob.", reason=NOT_SERVED)

    class Down:
        def get(self, obj, namespace):
            raise K8sError("Cannot reach the API server 127.0.0.1:1: refused")

    mpijob = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "x"}}
    assert training_job.existing(NoCRD(), mpijob, "default") is None
    with pytest.raises(K8sError, match="Cannot reach"):
        training_job.existing(Down(), mpijob, "default")


SCRIPTS = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "training_job", "files")


def script_function(script, name):
    """One pure function of a shipped training script, compiled alone: the unit lane has no torch or paddle to import
    the whole script with (the training and GPU lanes run the scripts themselves)."""
    with open(os.path.join(SCRIPTS, script)) as handle:
        tree = ast.parse(handle.read())
    [node] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    namespace = {}
    exec(compile(ast.Module(body=[node], type_ignores=[]), script, "exec"), namespace)  # pylint: disable=exec-used
    return namespace[name]


def test_pytorch_processes_each_take_the_gpu_of_their_local_rank():
    placement = script_function("train_pytorch.py", "placement")
    assert placement({}, 0) == ("gloo", "cpu"), "no GPU: gloo on the CPU, as before"
    assert placement({"LOCAL_RANK": "0"}, 1) == ("nccl", "cuda:0")
    assert [placement({"LOCAL_RANK": str(r)}, 8) for r in range(8)] == [("nccl", "cuda:%d" % r) for r in range(8)]
    assert placement({"LOCAL_RANK": "2", "TRAINKIT_DEVICE": "cpu"}, 8) == ("gloo", "cpu")
    with pytest.raises(SystemExit, match="LOCAL_RANK 1 has no GPU of its own: this pod sees 1 GPU"):
        placement({"LOCAL_RANK": "1"}, 1)


def test_paddle_trainer_takes_its_selected_gpu_only_with_a_cuda_build():
    placement = script_function("train_paddle.py", "placement")
    assert placement({}, False, 0) == "cpu"
    assert placement({}, False, 1) == "cpu", "the CPU build trains on the CPU even where a GPU is visible"
    assert placement({}, True, 1) == "gpu:0"
    assert placement({"FLAGS_selected_gpus": "1"}, True, 2) == "gpu:1"
    assert placement({"TRAINKIT_DEVICE": "cpu"}, True, 1) == "cpu"
    with pytest.raises(SystemExit, match="sees 1 GPU"):
        placement({"FLAGS_selected_gpus": "3"}, True, 1)


def trainer_of(objects):
    [job] = [o for o in objects if o["kind"] == "Job"]
    return job["spec"]["template"]["spec"]


@pytest.mark.parametrize("gpus", [1, 4, 8])
def test_pytorch_runs_one_process_per_gpu_with_a_memory_backed_dev_shm(gpus):
    pod_spec = trainer_of(training.render(spec(framework="pytorch", gpus=gpus), "launcher"))
    [container] = pod_spec["containers"]
    command = container["command"]
    assert command[command.index("--nproc-per-node") + 1] == str(gpus)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}} in pod_spec["volumes"]
    sized = trainer_of(training.render(spec(framework="pytorch", gpus=gpus, shm_size="8Gi"), "launcher"))
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in sized["volumes"]


def test_cpu_pods_and_shm_size_0_get_no_dev_shm_volume():
    for extra in ({"gpus": 0}, {"gpus": 1, "shm_size": "0"}):
        pod_spec = trainer_of(training.render(spec(framework="pytorch", **extra), "launcher"))
        command = pod_spec["containers"][0]["command"]
        assert "dshm" not in str(pod_spec), extra
        assert command[command.index("--nproc-per-node") + 1] == "1"


def test_mpi_workers_get_dev_shm_and_the_launcher_does_not():
    [mpijob] = [o for o in training.render(spec(framework="mpi", gpus=2), "launcher") if o["kind"] == "MPIJob"]
    replicas = mpijob["spec"]["mpiReplicaSpecs"]
    assert mpijob["spec"]["slotsPerWorker"] == 2, "one MPI slot per GPU"
    assert "dshm" in str(replicas["Worker"]["template"]) and "dshm" not in str(replicas["Launcher"]["template"])


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"framework": "pytorch", "gpus": 4, "nproc_per_node": 2}, "torchrun runs one process per GPU"),
        ({"framework": "pytorch", "gpus": 1, "nproc_per_node": 2}, "torchrun runs one process per GPU"),
        ({"framework": "paddle", "gpus": 2}, "a paddle trainer is one process on one GPU"),
        ({"framework": "pytorch", "gpus": 1, "shm_size": "lots"}, "shm_size 'lots' is not a Kubernetes quantity"),
    ],
)
def test_gpu_layouts_that_would_share_or_idle_gpus_are_refused(extra, message):
    found = training.problems(spec(**extra))
    assert any(message in p for p in found), found


@pytest.mark.parametrize("framework", ["paddle", "pytorch", "mpi"])
def test_every_framework_gets_the_checkpoint_contracts_variables(framework):
    objects = training.render(
        spec(framework=framework, data_pvc="efsvol", checkpoint_path="{job}/checkpoints", checkpoint_every=25),
        "launcher",
    )
    text = str([o for o in objects if o["kind"] in ("Job", "MPIJob")])
    for name, value in (
        ("TRAINKIT_CHECKPOINT_PATH", "{job}/checkpoints"),
        ("TRAINKIT_CHECKPOINT_EVERY", "25"),
        ("TRAINKIT_RESTART_COUNT", "0"),
    ):
        assert str({"name": name, "value": value}) in text, (framework, name)
    none = training.render(spec(framework=framework, data_pvc="efsvol", checkpoint_path=""), "launcher")
    assert "TRAINKIT_CHECKPOINT_PATH" not in str(none)


def test_a_checkpoint_directory_per_rank_is_refused():
    found = training.problems(spec(checkpoint_path="{job}/ckpt/{rank}"))
    assert any("one directory for the whole job" in p for p in found), found


def test_efa_workers_request_the_devices_and_are_told_to_use_efa_and_the_mpi_launcher_holds_none():
    pod_spec = trainer_of(training.render(spec(framework="pytorch", gpus=8, efa=4, efa_rdma=True), "launcher"))
    [container] = pod_spec["containers"]
    assert container["resources"]["limits"]["vpc.amazonaws.com/efa"] == "4"
    env = dict((e["name"], e.get("value")) for e in container["env"])
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1"
    # no RDMA on the node types (g5, g6e ...): no FI_EFA_USE_DEVICE_RDMA; the user's env wins
    pod_spec = trainer_of(training.render(spec(framework="pytorch", efa=1, env={"FI_PROVIDER": "tcp"}), "launcher"))
    env = dict((e["name"], e.get("value")) for e in pod_spec["containers"][0]["env"])
    assert env["FI_PROVIDER"] == "tcp" and "FI_EFA_USE_DEVICE_RDMA" not in env
    plain = trainer_of(training.render(spec(framework="pytorch"), "launcher"))
    assert "vpc.amazonaws.com/efa" not in str(plain) and "FI_PROVIDER" not in str(plain)
    [mpijob] = [o for o in training.render(spec(framework="mpi", efa=1), "launcher") if o["kind"] == "MPIJob"]
    replicas = mpijob["spec"]["mpiReplicaSpecs"]
    assert "vpc.amazonaws.com/efa" in str(replicas["Worker"]["template"])
    assert "vpc.amazonaws.com/efa" not in str(replicas["Launcher"]["template"])
