# -*- coding: utf-8 -*-
"""training_job, the in-pod launcher and real training on the local cluster.

Rendering is checked by the real API server (server-side dry run). The launcher runs as a real process against
the local API server with a real service-account token. Training runs for real: the local runner
(tools/local_runner.py, started with the control plane) turns each pod into a local process on the pod's 127.x
IP, which runs the launcher and then PaddlePaddle or PyTorch over gloo.
"""

import ipaddress
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import jinja2
import pytest
import yaml

from ansible_collections.trainkit.aws.plugins.module_utils.k8s import ready
from harness import REPO
from harness import eventually
from harness import kwok_node
from harness import shared_claim
from harness import unique
from harness import train_python
from pod_process import free_port

pytestmark = pytest.mark.k8s

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
FILES = os.path.join(REPO, "roles", "training_job", "files")
LAUNCHER = os.path.join(REPO, "plugins", "module_utils", "launcher.py")
RUNNER = {"trainkit.io/runner": "local"}


def worker_octet():
    """The launcher tests' pod IPs: 127.(100+N) for xdist worker N, outside the control planes' pod networks
    (127.10-99, tools/local-k8s), so that neither another worker nor a plane hands out the same addresses."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 100 + int("".join(c for c in worker if c.isdigit()) or 0)


def files(*names):
    out = {}
    for name in names:
        with open(os.path.join(FILES, name)) as handle:
            out[name] = handle.read()
    return out


@pytest.fixture(scope="module")
def client(local_k8s):
    c = local_k8s.client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def node(client):
    name = kwok_node(client, unique("train-node"), "training")
    yield name
    client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


@pytest.fixture
def namespace(client, node):
    """A namespace with a ReadWriteMany claim 'shared' (the local runner maps it to one directory)."""
    ns = unique("train")
    client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    pv = ns + "-pv"
    shared_claim(client, ns, "shared", pv, "/nonexistent/" + ns)
    yield ns
    client.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    client.delete({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv}})


def job_args(local_k8s, ns, node, **extra):
    args = {
        "kubeconfig": local_k8s.kubeconfig,
        "namespace": ns,
        "image": "local",
        "data_pvc": "shared",
        "nic": "lo",
        "pod_annotations": RUNNER,
        "node_selector": {"kubernetes.io/hostname": node},
        "ports": {"base": free_port()},
        "wait_timeout": 300,
    }
    args.update(extra)
    return args


def volume(local_k8s, ns):
    return os.path.join(local_k8s.workdir, "volumes", ns, "shared")


def split(ansible, local_k8s, ns, node, job, count):
    result = ansible.module(
        "training_job",
        job_args(
            local_k8s,
            ns,
            node,
            name=job + "-split",
            framework="data_split",
            split_for=job,
            split_count=count,
            command=["python3", "/opt/trainkit/split_data.py"],
            files=files("split_data.py", "dataset.csv"),
            wait=True,
        ),
    )
    assert result.get("status") == "succeeded", result.output
    return result


def models(local_k8s, ns, job, count, name="model.json"):
    out = []
    for rank in range(count):
        with open(os.path.join(volume(local_k8s, ns), job, "output", "node_{0}".format(rank), name)) as handle:
            out.append(json.load(handle))
    return out


def assert_trained_together(results, world):
    assert sorted(r["rank"] for r in results) == list(range(world))
    assert all(r["world_size"] == world for r in results)
    first = results[0]["parameters"]
    for r in results[1:]:
        assert r["parameters"] == first, "ranks disagree: data parallelism did not synchronise"
    weights, bias = first
    # dataset.csv is y = 3 x1 - 2 x2 + 0.5 x3 + 1 (+ noise): the shards only fit this when trained together
    assert [round(w, 1) for w in weights] == [3.0, -2.0, 0.5] and round(bias[0], 1) == 1.0
    assert sum(r["samples"] for r in results) == 1200


# -- rendering, validated by the API server ---------------------------------------------------------------
def test_every_framework_renders_and_the_api_server_accepts_it(ansible, local_k8s, client, namespace, node):
    base = job_args(local_k8s, namespace, node, command=["python3", "/opt/trainkit/train.py"], cpu="2", memory="2Gi")
    cases = {
        "paddle": dict(framework="paddle", workers=3),
        "paddle-ps": dict(framework="paddle", workers=2, pservers=1, ports={"base": 7164, "num": 2, "num_sparse": 1}),
        "pytorch": dict(
            framework="pytorch",
            workers=2,
            gpus=1,
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        ),
        "split": dict(framework="data_split", split_count=4),
    }
    for name, extra in cases.items():
        args = dict(base, name=unique(name), **extra)
        result = ansible.module("training_job", args, check=True, diff=True)
        assert result.rc == 0 and result["changed"] is True, result.output
        after = dict((d["after"]["kind"], d["after"]) for d in result["diff"])
        # the dry run returns what the server would store: defaults filled in, so it was validated
        job = after["Job"]
        assert job["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
        assert client.get(job, namespace) is None, "check mode created the job"
        env = dict((e["name"], e.get("value")) for e in job["spec"]["template"]["spec"]["containers"][0]["env"])
        if name == "paddle":
            assert job["spec"]["parallelism"] == job["spec"]["completions"] == 3
            for var in (
                "JOB_NAME",
                "JOB_PATH",
                "JOB_NAMESPACE",
                "TRAIN_CONFIG_DIR",
                "CONF_PADDLE_NIC",
                "CONF_PADDLE_PORT",
                "CONF_PADDLE_PORTS_NUM",
                "CONF_PADDLE_PORTS_NUM_SPARSE",
                "CONF_PADDLE_GRADIENT_NUM",
                "TRAINER_COUNT",
            ):
                assert var in env, var
            assert env["TRAINER_COUNT"] == "2" and env["CONF_PADDLE_GRADIENT_NUM"] == "3"
            assert set(after) == {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job"}
            rules = after["Role"]["rules"]
            assert rules == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
        if name == "paddle-ps":
            ports = [p["containerPort"] for p in job["spec"]["template"]["spec"]["containers"][0]["ports"]]
            assert ports == [7164, 7165, 7166]
            kinds = [d["after"]["metadata"]["name"] for d in result["diff"] if d["after"]["kind"] == "Job"]
            assert kinds == [args["name"] + "-pserver", args["name"]]
            assert env["FLAGS_enable_pir_api"] == "0"
        if name == "pytorch":
            assert job["spec"]["completionMode"] == "Indexed"
            assert after["Service"]["spec"]["clusterIP"] == "None"
            assert env["MASTER_ADDR"] == "{0}-0.{0}".format(args["name"])
            assert "Role" not in after  # DNS discovery: the launcher needs no API access
            limits = job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
            assert limits["nvidia.com/gpu"] == "1"
            assert "--torchrun" in job["spec"]["template"]["spec"]["containers"][0]["command"]
            # the API server takes the memory-backed /dev/shm (emptyDir medium Memory, sizeLimit) as rendered
            pod_spec = job["spec"]["template"]["spec"]
            [shm] = [v for v in pod_spec["volumes"] if v["name"] == "dshm"]
            assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
            assert {"name": "dshm", "mountPath": "/dev/shm"} in pod_spec["containers"][0]["volumeMounts"]
        if name == "split":
            assert env["SPLIT_COUNT"] == "4" and env["OUT_DIR"] == "/mnt/data/{0}/data".format(args["name"])


def test_mpijob_renders_against_its_crd_and_pod_templates_validate(ansible, local_k8s, client, namespace, node):
    # the CRD the addons role installs (its template, rendered as the role would)
    with open(os.path.join(REPO, "roles", "addons", "templates", "mpi-operator.yaml.j2")) as handle:
        rendered = jinja2.Template(handle.read()).render(
            addons_mpi_operator_version="0.7.0",
            addons_mpi_operator_namespace="mpi-operator",
            addons_mpi_operator_image="mpioperator/mpi-operator:0.7.0",
            addons_pod_annotations={},
            addons_system_node_selector={},
        )
    [crd] = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "CustomResourceDefinition"]
    client.apply(crd)
    client.wait(crd, None, ready, 60, "the MPIJob CRD to be Established")
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=unique("mpi"),
        framework="mpi",
        workers=4,
        gpus=2,
        command=["python3", "/opt/train.py"],
    )
    result = ansible.module("training_job", args, check=True, diff=True)
    assert result.rc == 0, result.output
    mpijob = [d["after"] for d in result["diff"] if d["after"]["kind"] == "MPIJob"][0]
    assert mpijob["spec"]["slotsPerWorker"] == 2
    assert mpijob["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] == 4
    launcher = mpijob["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    assert launcher["command"][:3] == ["mpirun", "-np", "8"]
    # the CRD only knows the MPIJob envelope; each pod template is checked as what it is, a PodTemplate
    for role, replica in mpijob["spec"]["mpiReplicaSpecs"].items():
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": args["name"] + "-" + role.lower(), "namespace": namespace},
            "template": replica["template"],
        }
        client.apply(template, namespace, dry_run=True)
    broken = dict(args, memory="lots")
    refused = ansible.module("training_job", broken)
    assert refused.rc != 0 and "not a Kubernetes quantity" in refused["msg"]
    assert client.get(mpijob, namespace) is None


def test_bad_input_changes_nothing(ansible, local_k8s, client, namespace, node):
    cases = [
        (dict(name="Bad_Name", framework="paddle"), "must be a DNS label"),
        (dict(name=unique("x"), framework="pytorch", pservers=2), "framework paddle only"),
        (dict(name=unique("x"), framework="paddle", workers=0), "workers must be at least 1"),
        (dict(name=unique("x"), framework="paddle", output_path="/abs/{rank}"), "relative to mount_path"),
        (dict(name=unique("x"), framework="paddle", data_subpath="{job}/{user}"), "only use the fields"),
        (dict(name=unique("x"), framework="paddle", ports={"base": 65535, "num": 2}), "within 1024..65535"),
        (dict(name=unique("x"), framework="pytorch", gpus=2, nproc_per_node=1), "one process per GPU"),
        (dict(name=unique("x"), framework="paddle", gpus=2), "a paddle trainer is one process on one GPU"),
    ]
    for extra, message in cases:
        args = job_args(local_k8s, namespace, node, command=["python3", "t.py"], **extra)
        result = ansible.module("training_job", args)
        assert result.rc != 0 and message in result["msg"], (extra, result.get("msg"))
        assert "nothing was changed" in result["msg"]
    _s, listing = client.request("GET", "/api/v1/namespaces/{0}/configmaps".format(namespace))
    assert [c["metadata"]["name"] for c in listing["items"]] == ["kube-root-ca.crt"]


# -- the launcher, a real process against the API server ---------------------------------------------------
class LauncherPods:
    """Pods of one job whose status the test sets (on a node KWOK does not manage), and their launchers."""

    def __init__(self, local_k8s, client, ns, job, tmp_path):
        self.local_k8s, self.client, self.ns, self.job, self.tmp = local_k8s, client, ns, job, tmp_path
        self.node = unique("manual-node")
        client.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node}})
        sys.path.insert(0, os.path.join(REPO, ".tmp", "collections"))
        from ansible_collections.trainkit.aws.plugins.module_utils import training

        spec = {"name": job, "namespace": ns, "framework": "paddle", "labels": {}}
        for obj in training.rbac(spec):
            client.apply(obj, ns)
        self.service_account = training.launcher_name(spec)

    def close(self):
        self.client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node}})

    def create(self, name, role="trainer", service_account=None):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.ns,
                "labels": {"trainkit.io/job": self.job, "trainkit.io/role": role},
            },
            "spec": {
                "nodeName": self.node,
                "serviceAccountName": service_account or self.service_account,
                "containers": [{"name": "trainer", "image": "local"}],
            },
        }
        return self.client.request("POST", "/api/v1/namespaces/{0}/pods".format(self.ns), pod)[1]

    def set_status(self, name, phase, ip=None):
        status = {"phase": phase}
        if ip:
            status.update(podIP=ip, podIPs=[{"ip": ip}], hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}])
        self.client.request(
            "PATCH",
            "/api/v1/namespaces/{0}/pods/{1}/status".format(self.ns, name),
            {"status": status},
            content_type="application/merge-patch+json",
        )

    def token(self, pod, service_account=None):
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 600,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        }
        path = "/api/v1/namespaces/{0}/serviceaccounts/{1}/token".format(
            self.ns, service_account or self.service_account
        )
        return self.client.request("POST", path, body)[1]["status"]["token"]

    def launch(self, pod, workers, pservers=0, role="trainer", timeout=60, service_account=None, ip=None):
        name = pod["metadata"]["name"]
        sa_dir = self.tmp / ("sa-" + name)
        sa_dir.mkdir()
        (sa_dir / "token").write_text(self.token(pod, service_account))
        (sa_dir / "ca.crt").write_text(open(os.path.join(self.local_k8s.workdir, "pki", "ca.crt")).read())
        env = {
            "PATH": os.environ["PATH"],
            "POD_NAME": name,
            "POD_NAMESPACE": self.ns,
            "POD_IP": ip or "",
            "TRAINKIT_JOB": self.job,
            "TRAINKIT_ROLE": role,
            "TRAINKIT_WORKERS": str(workers),
            "TRAINKIT_PSERVERS": str(pservers),
            "TRAINKIT_PORT": "7164",
            "TRAINKIT_LAUNCH_TIMEOUT": str(timeout),
            "TRAINKIT_SA_DIR": str(sa_dir),
            "KUBERNETES_SERVICE_HOST": self.client.host,
            "KUBERNETES_SERVICE_PORT": str(self.client.port),
        }
        return subprocess.Popen(
            [sys.executable, LAUNCHER, "--framework", "paddle", "--print-env"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def launcher_pods(local_k8s, client, namespace, tmp_path):
    pods = LauncherPods(local_k8s, client, namespace, unique("job"), tmp_path)
    yield pods
    pods.close()


def finish(procs):
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append((proc.returncode, stdout, stderr))
    return out


@pytest.mark.parametrize("count", [1, 3, 16])
def test_launcher_assigns_ids_by_pod_ip(launcher_pods, count):
    names = ["{0}-{1:02d}".format(launcher_pods.job, i) for i in range(count)]
    octets = random.sample(range(2, 250), count)
    ips = dict((n, "127.{0}.200.{1}".format(worker_octet(), o)) for n, o in zip(names, octets))
    pods = [launcher_pods.create(n) for n in names]
    # half the pods run before the launchers start, the rest while they wait (the watch must see them)
    for name in names[: count // 2]:
        launcher_pods.set_status(name, "Running", ips[name])
    procs = [launcher_pods.launch(pod, count) for pod in pods]
    time.sleep(1)
    for name in names[count // 2 :]:
        launcher_pods.set_status(name, "Running", ips[name])
    results = finish(procs)
    envs = []
    for code, stdout, stderr in results:
        assert code == 0, stderr
        envs.append(json.loads(stdout))
    by_ip = sorted(names, key=lambda n: ipaddress.ip_address(ips[n]))
    for name, env in zip(names, envs):
        assert env["PADDLE_TRAINER_ID"] == str(by_ip.index(name))
        assert env["PADDLE_TRAINERS_NUM"] == str(count)
        assert env["PADDLE_CURRENT_ENDPOINT"] == ips[name] + ":7164"
        assert env["TRAINING_ROLE"] == "TRAINER"
    assert sorted(int(e["PADDLE_TRAINER_ID"]) for e in envs) == list(range(count))
    endpoints = set(e["PADDLE_TRAINER_ENDPOINTS"] for e in envs)
    assert endpoints == {",".join(ips[n] + ":7164" for n in by_ip)}


def test_launcher_refuses_duplicate_ips(launcher_pods):
    pods = [launcher_pods.create("{0}-{1}".format(launcher_pods.job, i)) for i in range(3)]
    for pod, ip in zip(pods, ["127.{0}.201.5".format(worker_octet())] * 2 + ["127.{0}.201.6".format(worker_octet())]):
        launcher_pods.set_status(pod["metadata"]["name"], "Running", ip)
    for code, stdout, stderr in finish([launcher_pods.launch(pods[2], 3)]):
        assert code == 2 and stdout == ""
        assert "both report IP 127.{0}.201.5".format(worker_octet()) in stderr


def test_launcher_fails_when_a_peer_dies(launcher_pods):
    pods = [launcher_pods.create("{0}-{1}".format(launcher_pods.job, i)) for i in range(3)]
    launcher_pods.set_status(pods[0]["metadata"]["name"], "Running", "127.{0}.202.2".format(worker_octet()))
    proc = launcher_pods.launch(pods[0], 3)
    time.sleep(1)
    launcher_pods.set_status(pods[1]["metadata"]["name"], "Failed")
    [(code, _stdout, stderr)] = finish([proc])
    assert code == 2 and "peer pod {0} died".format(pods[1]["metadata"]["name"]) in stderr


def test_launcher_reports_missing_permission_and_timeout(launcher_pods):
    # a pod of the job whose service account has no RoleBinding: the API server says 403
    stranger = launcher_pods.create("{0}-x".format(launcher_pods.job), service_account="default")
    [(code, _o, stderr)] = finish([launcher_pods.launch(stranger, 1, service_account="default")])
    assert code == 2 and "forbidden: service account 'default'" in stderr and "may not list pods" in stderr
    launcher_pods.client.delete(stranger)
    pod = launcher_pods.create("{0}-0".format(launcher_pods.job))
    launcher_pods.set_status(pod["metadata"]["name"], "Running", "127.{0}.203.2".format(worker_octet()))
    [(code, _o, stderr)] = finish([launcher_pods.launch(pod, 2, timeout=2)])
    assert code == 2 and "timed out after 2s waiting for the 2 pods" in stderr and "(1 running)" in stderr


def test_a_runner_pod_is_running_only_once_its_process_has_started(local_k8s, client, namespace, node):
    """The launcher's rendezvous counts peers in phase Running, which a kubelet reports only after the containers
    started. KWOK gives a runner pod its IP and leaves it Pending; the local runner reports Running once the process
    is there. With the runner held (SIGSTOP), the pod must stay Pending: a pod Running with no process behind it let
    a pserver start and time out waiting for trainers the runner had not started yet."""
    runner = local_k8s.pids()["pod-runner"]
    name = unique("sandbox")
    marker = os.path.join(volume(local_k8s, namespace), name)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": RUNNER},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "local",
                    "command": ["python3", "-c", "import sys; open(sys.argv[1], 'w').write('ran')", "/data/" + name],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}],
        },
    }
    os.kill(runner, signal.SIGSTOP)
    try:
        client.apply(pod, namespace)
        sandbox = client.wait(pod, namespace, lambda p: bool(p and p["status"].get("podIP")), 60, "the pod's IP")
        assert sandbox["status"]["phase"] == "Pending", sandbox["status"]
        [container] = sandbox["status"]["containerStatuses"]
        assert container["state"] == {"waiting": {"reason": "ContainerCreating"}} and not container["started"]
        assert not os.path.exists(marker)
    finally:
        os.kill(runner, signal.SIGCONT)
    done = client.wait(
        pod, namespace, lambda p: p["status"].get("phase") in ("Succeeded", "Failed"), 60, "the pod to end"
    )
    [container] = done["status"]["containerStatuses"]
    assert container["state"]["terminated"]["exitCode"] == 0, container
    with open(marker) as handle:
        assert handle.read() == "ran"
    client.delete(pod, namespace)


def runner_pod(name, namespace, node, command):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "annotations": RUNNER},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "local", "command": command}],
        },
    }


def pod_dir(local_k8s, pod):
    meta = pod["metadata"]
    return os.path.join(
        local_k8s.workdir, "pods", "{0}_{1}_{2}".format(meta["namespace"], meta["name"], meta["uid"][:8])
    )


def test_a_workers_ssh_sessions_end_with_its_pod(local_k8s, client, namespace, node):
    """mpirun reaches an MPI worker by ssh, and what it runs there lives in the worker's container: when the worker
    pod goes (evicted, its node reclaimed), its ranks go with it and the launcher's ssh ends with an error. The
    local ssh stand-in runs the command as the launcher's child, so the runner must end the worker's sessions."""
    worker = runner_pod(unique("sshd"), namespace, node, ["/usr/sbin/sshd", "-De"])
    client.apply(worker, namespace)
    worker = client.wait(worker, namespace, lambda p: p["status"].get("phase") == "Running", 60, "the worker's sshd")
    ip = worker["status"]["podIP"]
    remote = "echo $$ > session.pid; exec sleep 300"  # in the worker's directory, as the worker's shell
    caller = runner_pod(
        unique("ssh"),
        namespace,
        node,
        ["sh", "-c", "ssh -o ConnectionAttempts=30 {0} '{1}'; echo $? > ssh.rc".format(ip, remote)],
    )
    client.apply(caller, namespace)
    caller = client.wait(caller, namespace, lambda p: p["status"].get("phase") == "Running", 60, "the caller")
    pid_file = os.path.join(pod_dir(local_k8s, worker), "session.pid")
    eventually(lambda: os.path.exists(pid_file) and open(pid_file).read().strip(), 60, "the session on the worker")
    with open(pid_file) as handle:
        session = int(handle.read())
    os.kill(session, 0)  # running
    client.delete(worker, namespace)
    rc_file = os.path.join(pod_dir(local_k8s, caller), "ssh.rc")
    eventually(lambda: os.path.exists(rc_file) and open(rc_file).read().strip(), 60, "the caller's ssh to end")
    with open(rc_file) as handle:
        assert int(handle.read()) != 0
    with pytest.raises(ProcessLookupError):
        os.kill(session, 0)
    client.delete(caller, namespace)


# -- real training through the launcher --------------------------------------------------------------------
@pytest.mark.slow  # real training processes through the launcher
@pytest.mark.training
def test_paddle_collective_three_workers(ansible, local_k8s, client, namespace, node):
    train_python()
    job = unique("fit")
    split(ansible, local_k8s, namespace, node, job, 3)
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework="paddle",
        workers=3,
        command=["python3", "/opt/trainkit/train_paddle.py"],
        env={"EPOCHS": "150"},
        files=files("train_paddle.py"),
        wait=True,
    )
    result = ansible.module("training_job", args)
    assert result.rc == 0 and result["status"] == "succeeded", (result.get("msg"), result.get("failed_pods"))
    assert result["output_path"] == "/mnt/data/{0}/output".format(job)
    assert len(result["pods"]) == 3 and result["failed_pods"] == []
    for pod in result["pods"]:
        assert pod["phase"] == "Succeeded" and pod["exit_code"] == 0 and pod["node"] == node
        assert ipaddress.ip_address(pod["ip"]) in LOOPBACK
    assert_trained_together(models(local_k8s, namespace, job, 3), 3)
    # a finished job is reported, not started again
    again = ansible.module("training_job", args)
    assert again.rc == 0 and again["changed"] is False and again["status"] == "succeeded"
    assert sorted(p["name"] for p in again["pods"]) == sorted(p["name"] for p in result["pods"])


@pytest.mark.slow  # real training processes through the launcher
@pytest.mark.training
def test_pytorch_ddp_two_workers_through_torchrun(ansible, local_k8s, client, namespace, node):
    train_python()
    job = unique("ddp")
    split(ansible, local_k8s, namespace, node, job, 2)
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework="pytorch",
        workers=2,
        peer_discovery="api",
        command=["/opt/trainkit/train_pytorch.py"],
        env={"EPOCHS": "150"},
        files=files("train_pytorch.py"),
        wait=True,
    )
    result = ansible.module("training_job", args)
    assert result.rc == 0 and result["status"] == "succeeded", (result.get("msg"), result.get("failed_pods"))
    results = models(local_k8s, namespace, job, 2)
    assert_trained_together(results, 2)
    assert all(r["backend"] == "gloo" and r["devices"] == ["cpu", "cpu"] for r in results), "no GPU: gloo on CPUs"


@pytest.mark.slow  # real training processes through the launcher
@pytest.mark.training
def test_paddle_parameter_server_wiring(ansible, local_k8s, client, namespace, node):
    train_python()
    job = unique("ps")
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework="paddle",
        workers=2,
        pservers=1,
        command=["python3", "/opt/trainkit/ps_wiring_check.py"],
        files=files("ps_wiring_check.py"),
        wait=True,
    )
    result = ansible.module("training_job", args)
    assert result.rc == 0 and result["status"] == "succeeded", (result.get("msg"), result.get("failed_pods"))
    ips = dict((p["name"], p["ip"]) for p in result["pods"])
    pserver_ip = [p["ip"] for p in result["pods"] if p["role"] == "pserver"][0]
    trainer_ips = sorted((p["ip"] for p in result["pods"] if p["role"] == "trainer"), key=ipaddress.ip_address)
    assert len(ips) == 3
    endpoint = "{0}:{1}".format(pserver_ip, args["ports"]["base"])
    root = os.path.join(volume(local_k8s, namespace), job, "output")
    with open(os.path.join(root, "pserver_0", "wiring.json")) as handle:
        served = json.load(handle)
    assert served["role"] == "PSERVER" and served["endpoint"] == endpoint
    assert sorted(served["trainers"]) == ["0", "1"]
    for trainer_id, seen in served["trainers"].items():
        assert seen["peer"] == trainer_ips[int(trainer_id)]  # trainer ids follow the pod IP order
    for rank in range(2):
        with open(os.path.join(root, "node_{0}".format(rank), "wiring.json")) as handle:
            wiring = json.load(handle)
        assert wiring["trainer_id"] == rank and wiring["pservers"] == {endpoint: sum(rank * 100 + i for i in range(8))}


@pytest.mark.slow  # a 2-worker job through torchrun whose script fails: ~30 s
@pytest.mark.training
def test_a_failing_pytorch_script_fails_the_job_at_once_without_a_restart(ansible, local_k8s, client, namespace, node):
    """torchrun runs with --max-restarts 0 and the job restarts only for disruptions: a script that exits non-zero
    fails the job at once (podFailurePolicy FailJob), with the script's own lines in the report."""
    train_python()
    job = unique("torchbug")
    script = "import sys\nprint('loss is nan at step 7', flush=True)\nsys.exit(3)\n"
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework="pytorch",
        workers=2,
        peer_discovery="api",
        command=["/opt/trainkit/diverge.py"],
        files={"diverge.py": script},
        wait=True,
        log_lines=60,
    )
    result = ansible.module("training_job", args)
    assert result.rc != 0 and result["status"] == "failed", result.output[-3000:]
    assert result["restarts"] == [] and len(result["pods"]) <= 2, (result["restarts"], result["pods"])
    assert "loss is nan at step 7" in result["failed_pods"][0]["log_tail"], result["failed_pods"]


@pytest.mark.slow  # playbooks/train.yml twice on the local cluster: the fabric check, then a 3-worker job: ~2 min
@pytest.mark.training
def test_the_fabric_check_runs_before_the_job_and_a_threshold_above_the_machine_stops_it(
    ansible, local_k8s, client, namespace, node
):
    """Before the 3-worker job trains, an all-reduce benchmark runs across its pods (gloo on CPU here: real processes,
    real figures) and its table is in the summary; with a threshold above what the machine reaches the play stops
    before the training job is submitted, naming the figures and the slowest pair."""
    train_python()
    extra = {
        "trainkit_cluster": {"provider": "local", "kubeconfig": local_k8s.kubeconfig},
        "training_job_framework": "pytorch",
        "training_job_namespace": namespace,
        "training_job_data_pvc": "shared",
        "training_job_node_selector": {"kubernetes.io/hostname": node},
        "training_job_cpu": "500m",
        "training_job_memory": "512Mi",
        "training_job_fabric_sizes": "1024,65536,1048576",
        "training_job_wait_timeout": 300,
    }
    job = unique("fab")
    rc, output, _recap = ansible.playbook(
        "playbooks/train.yml", "playbooks/summary.yml", extra_vars=dict(extra, training_job_name=job)
    )
    flat = " ".join(output.split())
    assert rc == 0, output[-4000:]
    assert flat.count("all-reduce over gloo, 3 processes on 3 nodes") == 2, flat[-4000:]  # the play, the summary
    sizes = re.findall(r"(1024|65536|1048576) [0-9.]+ ([0-9.]+) ([0-9.]+)", flat)
    assert sorted(set(s[0] for s in sizes)) == ["1024", "1048576", "65536"], sizes
    # a measured bandwidth for the largest message (a 1 KiB one can round to 0.000 GB/s on a busy machine)
    assert all(float(s[2]) > 0 for s in sizes if s[0] == "1048576"), sizes
    assert len(re.findall(r"pair {0}-fabric-\S+ <-> {0}-fabric-\S+: [0-9.]+ GB/s".format(job), flat)) >= 3
    assert "status: succeeded" in flat
    # the fabric check's pods are gone; the training job ran
    assert (
        client.get(
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job + "-fabric", "namespace": namespace}}
        )
        is None
    )
    assert client.get({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job, "namespace": namespace}})
    # again: the job is there, finished - no fabric check, nothing changes
    rc, output, recap = ansible.playbook("playbooks/train.yml", extra_vars=dict(extra, training_job_name=job))
    assert rc == 0 and recap["changed"] == 0, output[-3000:]
    assert "all-reduce over" not in output

    slow = unique("slow")
    rc, output, _recap = ansible.playbook(
        "playbooks/train.yml",
        extra_vars=dict(extra, training_job_name=slow, training_fabric_min_busbw_gbps=100000),
    )
    flat = " ".join(output.split())
    assert rc != 0, flat[-3000:]
    assert re.search(
        r"fabric check: all-reduce bus bandwidth [0-9.]+ GB/s \(gloo, 3 processes on 3 nodes, 1048576 bytes\) is "
        r"below training_fabric_min_busbw_gbps 100000(\.0)?; the slowest node pair is \S+ <-> \S+ at [0-9.]+ GB/s",
        flat,
    ), flat[-3000:]
    assert "(training job {0} was not submitted)".format(slow) in flat
    assert (
        client.get({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": slow, "namespace": namespace}})
        is None
    )
    assert (
        client.get(
            {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": slow + "-fabric", "namespace": namespace}}
        )
        is None
    )


@pytest.mark.slow  # a job whose pods fail, then its removal: ~35 s
def test_failing_job_reports_the_failed_pods_log_tail(ansible, local_k8s, client, namespace, node):
    job = unique("nan")
    script = "import sys\nfor step in range(8):\n    print('step', step)\nprint('loss is nan at step 7')\nsys.exit(3)\n"
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework="paddle",
        workers=2,
        command=["python3", "/opt/trainkit/diverge.py"],
        files={"diverge.py": script},
        wait=True,
        log_lines=3,
    )
    result = ansible.module("training_job", args)
    assert result.rc != 0 and result["status"] == "failed"
    assert "Training job {0} failed".format(job) in result["msg"] and "exited 3" in result["msg"]
    assert "loss is nan at step 7" in result["msg"]
    first = result["failed_pods"][0]
    assert first["exit_code"] == 3 and first["reason"] == "Error"
    # the code failed: no restart, no retry - the job's two pods are all it ever had
    assert result["restarts"] == [] and len(result["pods"]) <= 2, (result["restarts"], result["pods"])
    assert first["log_tail"].splitlines() == ["step 6", "step 7", "loss is nan at step 7"]
    # absent removes every object of the job; again, nothing to do
    gone = ansible.module("training_job", dict(args, state="absent", wait=False), check=True)
    assert gone.rc == 0 and gone["changed"] is True
    gone = ansible.module("training_job", dict(args, state="absent", wait=False))
    assert gone.rc == 0 and gone["changed"] is True and gone["status"] == "absent"
    for kind in ("jobs", "configmaps", "roles", "rolebindings", "serviceaccounts", "pods"):
        group = (
            "/apis/batch/v1"
            if kind == "jobs"
            else "/apis/rbac.authorization.k8s.io/v1" if "role" in kind else "/api/v1"
        )
        listing = client.request(
            "GET",
            "{0}/namespaces/{1}/{2}".format(group, namespace, kind),
            query={"labelSelector": "trainkit.io/job=" + job},
        )[1]
        assert listing["items"] == [], kind
    again = ansible.module("training_job", dict(args, state="absent", wait=False))
    assert again.rc == 0 and again["changed"] is False


def test_wait_timeout_reports_pending_pods(ansible, local_k8s, client, namespace, node):
    job = unique("stuck")
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework="paddle",
        workers=2,
        command=["true"],
        node_selector={"trainkit.io/no-such-node": "true"},
        wait=True,
        wait_timeout=3,
    )
    result = ansible.module("training_job", args)
    assert result.rc != 0 and "Timed out after 3s" in result["msg"] and "raise wait_timeout" in result["msg"]
    assert result["status"] == "pending"
    assert [p["phase"] for p in result["pods"]] == ["Pending", "Pending"]
    gone = ansible.module("training_job", dict(args, state="absent"))
    assert gone.rc == 0 and gone["changed"] is True


def test_the_role_picks_each_frameworks_image_for_cpu_and_gpu_and_stops_an_mpi_job_without_one(ansible, tmp_path):
    """The role's defaults: Paddle's CUDA build with gpus > 0 (its CPU build would train on the CPU), one PyTorch
    image, and for MPI - no published image has MPICH and Python - a stop before anything is submitted on a real
    cluster when training_job_mpi_image is empty, saying where the Dockerfile is."""
    defaults = os.path.join(REPO, "roles", "training_job", "defaults", "main.yml")
    cases = [("paddle", 0, True), ("paddle", 1, True), ("pytorch", 0, True), ("pytorch", 2, True), ("mpi", 1, True)]
    cases += [("mpi", 0, False)]
    tasks = [
        {
            "name": "image {0} {1} {2}".format(*case),
            "ansible.builtin.debug": {"msg": "IMAGE {0} {1} {2} [{{{{ training_job_image }}}}]".format(*case)},
            "vars": {"training_job_framework": case[0], "training_job_gpus": case[1], "_training_job_local": case[2]},
        }
        for case in cases
    ]
    book = tmp_path / "images.yml"
    book.write_text(
        json.dumps([{"hosts": "localhost", "gather_facts": False, "vars_files": [defaults], "tasks": tasks}])
    )
    rc, output, _r = ansible.playbook(str(book))
    assert rc == 0, output[-3000:]
    images = dict(re.findall(r"IMAGE (\S+ \S+ \S+) \[(.*?)\]", output))
    assert images["paddle 0 True"] == "paddlepaddle/paddle:3.3.1"
    assert images["paddle 1 True"] == "paddlepaddle/paddle:3.3.1-gpu-cuda12.6-cudnn9.5"
    assert images["pytorch 0 True"] == images["pytorch 2 True"] == "pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime"
    assert images["mpi 1 True"] == "trainkit-mpich-python:v0.7.0" and images["mpi 0 False"] == "", images

    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"trainkit_cluster": {"provider": "eksctl"}},
            "roles": [
                {
                    "role": "trainkit.aws.training_job",
                    "training_job_framework": "mpi",
                    "training_job_kubeconfig": str(tmp_path / "no-such-kubeconfig"),
                }
            ],
        }
    ]
    book = tmp_path / "mpi.yml"
    book.write_text(json.dumps(play))
    rc, output, _r = ansible.playbook(str(book))
    flat = " ".join(output.split())
    assert rc != 0 and "no published image has MPICH, Python 3, mpi4py and numpy" in flat, output[-3000:]
    assert "images/mpich-python/Dockerfile" in flat and "set training_job_mpi_image" in flat
    assert "Training job | Split the data set" not in output, "stopped before submitting anything"


# -- disruptions: pods evicted, nodes lost, code that fails -------------------------------------------------------
DISRUPTED_ENV = {"EPOCHS": "200", "TRAINKIT_STEP_DELAY": "0.05"}  # about 10 s of training, a checkpoint every 20 steps


def trainer_job(local_k8s, namespace, node, job, framework, **extra):
    command = {"pytorch": ["/opt/trainkit/train_pytorch.py"], "paddle": ["python3", "/opt/trainkit/train_paddle.py"]}
    args = job_args(
        local_k8s,
        namespace,
        node,
        name=job,
        framework=framework,
        workers=3,
        command=command[framework],
        files=files("train_pytorch.py", "train_paddle.py"),
        checkpoint_every=20,
        wait=True,
        wait_timeout=600,
    )
    if framework == "pytorch":
        args["peer_discovery"] = "api"  # pods on loopback addresses: the launcher finds its master by the API
    args.update(extra)
    return args


def start_module(ansible, args):
    """training_job in a thread, as a playbook waits on it; returns (thread, box for its result)."""
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=ansible.module("training_job", args)), daemon=True)
    thread.start()
    return thread, box


def checkpoint_reached(local_k8s, namespace, job, step, thread, timeout=120):
    folder = os.path.join(volume(local_k8s, namespace), job, "checkpoints")
    deadline = time.monotonic() + timeout
    while not os.path.exists(os.path.join(folder, "step-{0:08d}.ckpt".format(step))):
        assert thread.is_alive(), "the job ended before the disruption"
        assert time.monotonic() < deadline, "no checkpoint of step {0} after {1}s".format(step, timeout)
        time.sleep(0.1)


def running_trainers(client, namespace, job):
    _s, listing = client.request(
        "GET", "/api/v1/namespaces/{0}/pods".format(namespace), query={"labelSelector": "trainkit.io/job=" + job}
    )
    return sorted(
        (p for p in listing["items"] if p["status"].get("phase") == "Running"), key=lambda p: p["metadata"]["name"]
    )


def uninterrupted(ansible, local_k8s, namespace, node, framework):
    job = unique("ref")
    split(ansible, local_k8s, namespace, node, job, 3)
    result = ansible.module("training_job", trainer_job(local_k8s, namespace, node, job, framework, env=DISRUPTED_ENV))
    assert result.rc == 0 and result["status"] == "succeeded", result.output[-3000:]
    return models(local_k8s, namespace, job, 3)


def assert_resumed_as_if_uninterrupted(results, reference, restarts):
    assert all(r["restart_count"] == restarts for r in results), results
    resumed = results[0]["resumed_from"]
    assert 40 <= resumed < 200 and all(r["resumed_from"] == resumed for r in results), results
    for got, want in zip(results, reference):
        flat = [v for group in got["parameters"] for v in group]
        expected = [v for group in want["parameters"] for v in group]
        # the same steps from the same checkpointed state (float32, the same reduction order)
        assert all(abs(a - b) <= 1e-6 for a, b in zip(flat, expected)), (flat, expected)


@pytest.mark.slow  # an uninterrupted and an interrupted 3-worker job per framework: ~1 min each
@pytest.mark.training
@pytest.mark.parametrize("framework", ["pytorch", "paddle"])
def test_an_evicted_worker_restarts_the_job_from_its_checkpoint(ansible, local_k8s, client, namespace, node, framework):
    """A worker evicted through the Eviction API while the job trains (as a drain for a spot interruption does): the
    pod gets DisruptionTarget, the job does not count it as a failure, the module restarts the whole job, which
    resumes from its newest checkpoint and ends with the parameters of an uninterrupted run."""
    train_python()
    reference = uninterrupted(ansible, local_k8s, namespace, node, framework)
    job = unique("evict")
    split(ansible, local_k8s, namespace, node, job, 3)
    thread, box = start_module(ansible, trainer_job(local_k8s, namespace, node, job, framework, env=DISRUPTED_ENV))
    checkpoint_reached(local_k8s, namespace, job, 40, thread)
    victim = running_trainers(client, namespace, job)[1]["metadata"]["name"]
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim, "namespace": namespace}}
    status, _body = client.request(
        "POST", "/api/v1/namespaces/{0}/pods/{1}/eviction".format(namespace, victim), body=eviction
    )
    assert status == 201, status
    thread.join(600)
    result = box["result"]
    assert result.rc == 0 and result["status"] == "succeeded", result.output[-4000:]
    [restart] = result["restarts"]
    assert restart["restart"] == 1 and any(victim in c and "EvictionByEvictionAPI" in c for c in restart["causes"])
    assert_resumed_as_if_uninterrupted(models(local_k8s, namespace, job, 3), reference, 1)


@pytest.mark.slow  # three nodes, a job across them, one node deleted mid-training: ~1.5 min per framework
@pytest.mark.training
@pytest.mark.parametrize("framework", ["pytorch", "paddle"])
def test_a_lost_node_restarts_the_job_from_its_checkpoint(ansible, local_k8s, client, namespace, node, framework):
    """A node carrying a worker deleted while the job trains, as a spot reclaim removes it: the pod's processes die
    with it (the local runner kills them, and no kubelet reports anything), the other ranks fail, and the module
    - seeing the node gone - restarts the job on the nodes left, from its newest checkpoint."""
    train_python()
    reference = uninterrupted(ansible, local_k8s, namespace, node, framework)
    label = unique("spread")
    names = [kwok_node(client, "{0}-{1}".format(label, i), label, (100, 199), "16", "64Gi") for i in range(3)]
    try:
        job = unique("lost")
        split(ansible, local_k8s, namespace, node, job, 3)
        args = trainer_job(
            local_k8s, namespace, node, job, framework, env=DISRUPTED_ENV, node_selector={"trainkit.io/test": label}
        )
        thread, box = start_module(ansible, args)
        checkpoint_reached(local_k8s, namespace, job, 40, thread)
        lost = running_trainers(client, namespace, job)[1]["spec"]["nodeName"]
        client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": lost}})
        thread.join(600)
        result = box["result"]
        assert result.rc == 0 and result["status"] == "succeeded", result.output[-4000:]
        [restart] = result["restarts"]
        assert any("node {0} is gone".format(lost) in c for c in restart["causes"]), restart
        assert all(p["node"] != lost for p in result["pods"])
        assert_resumed_as_if_uninterrupted(models(local_k8s, namespace, job, 3), reference, 1)
    finally:
        for name in names:
            client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
