# -*- coding: utf-8 -*-
"""EFA on a local cluster of its own: node groups with ``efa: true`` (their nodes labelled and carrying their
instance type's EFA interfaces), the addons role's AWS EFA device plugin on those nodes only, and a training job
that asks for ``vpc.amazonaws.com/efa`` by itself (training_job's ``efa: auto``) - waiting while the nodes advertise
none, refusing clearly when they never do, and training for real once the plugin has registered them.

The tests run in order on one control plane: the job's wait starts before the plugin is installed.
"""

import json
import os
import threading

import pytest

from harness import LocalK8s
from harness import REPO
from harness import eventually
from harness import shared_claim
from harness import train_python
from harness import unique
from pod_process import free_port

pytestmark = [pytest.mark.k8s, pytest.mark.gpu, pytest.mark.slow, pytest.mark.xdist_group("efa")]

EFA = "vpc.amazonaws.com/efa"
PLUGIN_LABEL = "name=aws-efa-k8s-device-plugin"
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
NODEGROUPS = [
    {"name": "cpu", "instance_type": "m5.large", "count": 1},
    # p4d.24xlarge: 4 EFA interfaces (EC2's MaximumEfaInterfaces); a GPU group, tainted, as EFA groups usually are
    {
        "name": "efa",
        "instance_type": "p4d.24xlarge",
        "count": 2,
        "efa": True,
        "zones": ["us-west-2b"],
        "taints": [TAINT],
    },
]
FILES = os.path.join(REPO, "roles", "training_job", "files")


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    plane = LocalK8s(str(tmp_path_factory.mktemp("efa-k8s")))
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def client(plane):
    c = plane.client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def cluster(ansible, plane, client):
    name = unique("efa")
    created = ansible.module(
        "local_cluster", {"cluster_name": name, "kubeconfig": plane.kubeconfig, "nodegroups": NODEGROUPS}
    )
    assert created.changed, created.output
    return {
        "name": name,
        "kubeconfig": plane.kubeconfig,
        "efa_nodes": [name + "-efa-0", name + "-efa-1"],
        "cpu_node": name + "-cpu-0",
        "nodes": created["nodes"],
    }


@pytest.fixture(scope="module")
def namespace(client):
    """A namespace with a ReadWriteMany claim 'shared' (the local runner maps it to one directory)."""
    ns = unique("efa-train")
    client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    shared_claim(client, ns, "shared", ns + "-pv", "/nonexistent/" + ns)
    return ns


def addons(ansible, cluster, tmp_path, **extra):
    extra_vars = {
        "trainkit_cluster_name": cluster["name"],
        "trainkit_credentials_dir": str(tmp_path),
        "trainkit_nodegroups": NODEGROUPS,
        "trainkit_cluster": {"provider": "local", "kubeconfig": cluster["kubeconfig"], "context": "trainkit-local"},
        "addons_nvidia_device_plugin": False,
        "addons_mpi_operator": False,
        "addons_wait_timeout": 120,
    }
    extra_vars.update(extra)
    return ansible.playbook("playbooks/addons.yml", extra_vars=extra_vars)


def node(client, name):
    return client.get({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


def advertised(client, name):
    return node(client, name)["status"].get("allocatable", {}).get(EFA)


def pods(client, namespace, selector):
    query = {"labelSelector": selector}
    return client.request("GET", "/api/v1/namespaces/{0}/pods".format(namespace), query=query)[1]["items"]


def jobs(client, namespace, job):
    """The training job's workloads (Jobs labelled with its name)."""
    query = {"labelSelector": "trainkit.io/job=" + job}
    return client.request("GET", "/apis/batch/v1/namespaces/{0}/jobs".format(namespace), query=query)[1]["items"]


def job_args(cluster, namespace, name, **extra):
    """A 2-worker PyTorch job (gloo on the CPU) placed on the EFA group, efa left to auto."""
    with open(os.path.join(FILES, "train_pytorch.py")) as handle:
        script = handle.read()
    args = {
        "kubeconfig": cluster["kubeconfig"],
        "namespace": namespace,
        "name": name,
        "framework": "pytorch",
        "image": "local",
        "workers": 2,
        "command": ["/opt/trainkit/train_pytorch.py"],
        "files": {"train_pytorch.py": script},
        "env": {"EPOCHS": "30"},
        "data_pvc": "shared",
        "nic": "lo",
        "peer_discovery": "api",
        "pod_annotations": {"trainkit.io/runner": "local"},
        "node_selector": {"eks.amazonaws.com/nodegroup": "efa"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "ports": {"base": free_port()},
        "efa": "auto",
        "wait": True,
        "wait_timeout": 300,
    }
    args.update(extra)
    return args


def split(ansible, cluster, namespace, job):
    """The data-split job, on the CPU node: one shard per worker."""
    files = {}
    for name in ("split_data.py", "dataset.csv"):
        with open(os.path.join(FILES, name)) as handle:
            files[name] = handle.read()
    args = {
        "kubeconfig": cluster["kubeconfig"],
        "namespace": namespace,
        "name": job + "-split",
        "framework": "data_split",
        "split_for": job,
        "split_count": 2,
        "image": "local",
        "command": ["python3", "/opt/trainkit/split_data.py"],
        "files": files,
        "data_pvc": "shared",
        "pod_annotations": {"trainkit.io/runner": "local"},
        "node_selector": {"eks.amazonaws.com/nodegroup": "cpu"},
        "wait": True,
        "wait_timeout": 300,
    }
    result = ansible.module("training_job", args)
    assert result.get("status") == "succeeded", result.output


def test_efa_groups_nodes_carry_the_label_and_their_interfaces_and_advertise_none_yet(client, cluster):
    for name in cluster["efa_nodes"]:
        meta = node(client, name)["metadata"]
        assert meta["labels"]["vpc.amazonaws.com/efa.present"] == "true"
        assert meta["annotations"]["trainkit.io/efa"] == "4"
        assert advertised(client, name) is None, "an EC2 node advertises no EFA before the device plugin runs"
    assert "vpc.amazonaws.com/efa.present" not in node(client, cluster["cpu_node"])["metadata"]["labels"]
    assert sorted((n["name"], n["efa"]) for n in cluster["nodes"]) == [
        (cluster["cpu_node"], 0),
        (cluster["efa_nodes"][0], 4),
        (cluster["efa_nodes"][1], 4),
    ]


def test_a_type_without_efa_is_refused_before_any_node_is_made(ansible, plane, client):
    name = unique("noefa")
    groups = [{"name": "gpu", "instance_type": "g5.xlarge", "efa": True, "zones": ["us-west-2a"]}]
    result = ansible.module(
        "local_cluster", {"cluster_name": name, "kubeconfig": plane.kubeconfig, "nodegroups": groups}
    )
    assert result.failed and "g5.xlarge has none" in result["msg"], result.output
    listing = client.request("GET", "/api/v1/nodes", query={"labelSelector": "trainkit.io/cluster=" + name})[1]
    assert listing["items"] == []


def test_a_job_for_efa_nodes_that_advertise_none_is_refused_and_nothing_submitted(ansible, client, cluster, namespace):
    job = unique("noplugin")
    result = ansible.module("training_job", job_args(cluster, namespace, job, wait_timeout=3))
    assert result.failed, result.output
    for name in cluster["efa_nodes"]:
        assert name in result["msg"], result["msg"]
    assert "advertise no vpc.amazonaws.com/efa after 3s" in result["msg"]
    assert "EFA device plugin" in result["hint"]
    assert jobs(client, namespace, job) == [], "nothing submitted"


def test_the_plugin_runs_on_efa_nodes_only_and_a_job_waiting_for_it_then_trains_over_them(
    ansible, client, cluster, namespace, plane, tmp_path
):
    train_python()
    job = unique("efa-ddp")
    split(ansible, cluster, namespace, job)
    outcome = {}
    waiting = threading.Thread(
        target=lambda: outcome.update(result=ansible.module("training_job", job_args(cluster, namespace, job)))
    )
    waiting.start()
    try:
        # the job is pending on its nodes' EFA devices: they advertise none, nothing of it is submitted
        assert waiting.is_alive()
        assert all(advertised(client, n) is None for n in cluster["efa_nodes"])
        assert jobs(client, namespace, job) == []

        rc, output, recap = addons(ansible, cluster, tmp_path)
        assert rc == 0 and recap["changed"] > 0, output[-3000:]
    finally:
        waiting.join(timeout=400)
    plugin_pods = pods(client, "kube-system", PLUGIN_LABEL)
    assert sorted(p["spec"]["nodeName"] for p in plugin_pods) == sorted(cluster["efa_nodes"]), "EFA nodes only"
    for name in cluster["efa_nodes"]:
        assert advertised(client, name) == "4"
    assert EFA not in node(client, cluster["cpu_node"])["status"].get("allocatable", {})

    result = outcome["result"]
    assert result.rc == 0 and result["status"] == "succeeded", (result.get("msg"), result.get("failed_pods"))
    assert result["efa"] == 4
    [workload] = [o for o in result["objects"] if o["kind"] == "Job"]
    spec = client.get(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": workload["name"], "namespace": namespace}}
    )["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["resources"]["limits"][EFA] == "4"
    env = dict((e["name"], e.get("value")) for e in container["env"])
    assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1", "p4d: GPUDirect RDMA over EFA"
    # all of a node's EFA devices per worker: one worker on each EFA node
    trainers = pods(client, namespace, "trainkit.io/job=" + job)
    assert sorted(p["spec"]["nodeName"] for p in trainers) == sorted(cluster["efa_nodes"])
    results = []
    for rank in range(2):
        path = os.path.join(plane.workdir, "volumes", namespace, "shared", job, "output", "node_{0}".format(rank))
        with open(os.path.join(path, "model.json")) as handle:
            results.append(json.load(handle))
    assert sorted(r["rank"] for r in results) == [0, 1] and results[0]["parameters"] == results[1]["parameters"]

    rc, output, recap = addons(ansible, cluster, tmp_path)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]


def test_a_cpu_job_beside_efa_gpu_nodes_asks_for_no_efa(ansible, cluster, namespace):
    """auto leaves a CPU job alone when not all of its nodes are EFA nodes (here: no node selector)."""
    args = job_args(cluster, namespace, unique("plain"), node_selector={}, wait=False)
    result = ansible.module("training_job", args, check=True)
    assert not result.failed and result["efa"] == 0, result.output


def test_teardown_removes_the_plugin_and_the_nodes_advertise_no_efa(ansible, client, cluster, tmp_path):
    rc, output, _recap = addons(ansible, cluster, tmp_path, addons_state="absent")
    assert rc == 0, output[-3000:]
    assert pods(client, "kube-system", PLUGIN_LABEL) == []
    for name in cluster["efa_nodes"]:
        eventually(lambda name=name: advertised(client, name) == "0", what="EFA allocatable back to 0")
