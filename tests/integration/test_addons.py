# -*- coding: utf-8 -*-
"""The add-ons role on a local cluster of its own: the NVIDIA device plugin and the GPU smoke test, the real MPI
operator running a 2-worker MPIJob of real MPI ranks, its refusal beside the training-operator's v1 MPIJob CRD, the
CSI drivers with their IRSA roles, the studio runner and its Secret, re-runs that change nothing, and the teardown.

The tests of this file run in order on one control plane (they build on each other) and hold the machine's one
MPI-operator slot (tools/local_runner.py runs the real mpi-operator binary, whose health port is fixed).
"""

import base64
import json
import os
import subprocess
import threading
import time

import pytest

from harness import LocalK8s
from harness import REPO
from harness import eventually
from harness import kwok_node
from harness import mpi_operator_slot
from harness import shared_claim
from harness import unique

# slow: the add-ons playbook a dozen times on a control plane of this file's own, the MPI job training for real (~4 min);
# the tests build on each other, so one worker runs them all, in order
pytestmark = [pytest.mark.k8s, pytest.mark.gpu, pytest.mark.mpi, pytest.mark.slow, pytest.mark.xdist_group("addons")]

GPU = "nvidia.com/gpu"
PLUGIN_LABEL = "name=nvidia-device-plugin-ds"
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
NODEGROUPS = [
    {"name": "cpu", "instance_type": "m5.large", "count": 2},
    {"name": "gpu", "instance_type": "p3.2xlarge", "count": 1, "taints": [TAINT]},
]
OIDC = "https://oidc.eks.us-west-2.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    with mpi_operator_slot():
        plane = LocalK8s(str(tmp_path_factory.mktemp("addons-k8s")))
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
    """Node groups of the inventory's shape: two CPU nodes, one p3.2xlarge GPU node (tainted), GPUs advertised only
    once a device plugin registers them."""
    name = unique("addons")
    args = {"cluster_name": name, "kubeconfig": plane.kubeconfig, "nodegroups": NODEGROUPS}
    created = ansible.module("local_cluster", args)
    assert created.changed, created.output
    return {
        "name": name,
        "kubeconfig": plane.kubeconfig,
        "gpu_node": name + "-gpu-0",
        "cpu_nodes": [name + "-cpu-0", name + "-cpu-1"],
    }


def run(ansible, cluster, tmp_path, check=False, playbook="playbooks/addons.yml", **extra):
    """The add-ons playbook (or another) against this file's cluster; returns (rc, output, recap)."""
    extra_vars = {
        "trainkit_cluster_name": cluster["name"],
        "trainkit_credentials_dir": str(tmp_path),
        "trainkit_nodegroups": NODEGROUPS,
        "trainkit_cluster": {"provider": "local", "kubeconfig": cluster["kubeconfig"], "context": "trainkit-local"},
        "addons_mpi_operator": False,
        "addons_wait_timeout": 120,
    }
    extra_vars.update(extra)
    return ansible.playbook(playbook, extra_vars=extra_vars, check=check)


def node(client, name):
    return client.get({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


def allocatable_gpus(client, name):
    return node(client, name)["status"].get("allocatable", {}).get(GPU)


def pods(client, namespace, selector):
    query = {"labelSelector": selector}
    return client.request("GET", "/api/v1/namespaces/{0}/pods".format(namespace), query=query)[1]["items"]


def test_device_plugin_runs_on_gpu_nodes_only_and_the_smoke_test_proves_a_gpu(ansible, client, cluster, tmp_path):
    # an EC2 GPU node advertises no nvidia.com/gpu before the device plugin registers its GPUs
    assert GPU not in node(client, cluster["gpu_node"])["status"]["capacity"]
    assert node(client, cluster["gpu_node"])["metadata"]["annotations"]["trainkit.io/gpus"] == "1"

    rc, output, recap = run(ansible, cluster, tmp_path)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    plugin_pods = pods(client, "kube-system", PLUGIN_LABEL)
    assert [p["spec"]["nodeName"] for p in plugin_pods] == [cluster["gpu_node"]], "on the GPU node, none on CPU nodes"
    assert allocatable_gpus(client, cluster["gpu_node"]) == "1"
    for cpu in cluster["cpu_nodes"]:
        assert GPU not in node(client, cpu)["status"].get("allocatable", {})
    # the smoke test ran nvidia-smi -L on the GPU node (the local runner's stand-in lists the allocated GPU)
    assert "GPU 0: simulated GPU of p3.2xlarge on node " + cluster["gpu_node"] in output, output[-3000:]
    assert pods(client, "default", "app.kubernetes.io/name=gpu-smoke-test") == [], "the smoke pod is removed"

    rc, output, recap = run(ansible, cluster, tmp_path)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]


def test_a_second_smoke_pod_waits_while_the_gpu_is_taken(ansible, client, cluster, plane):
    holder = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": unique("gpu-holder"), "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "c", "image": "nvidia/cuda", "resources": {"limits": {GPU: "1"}}}],
        },
    }
    client.apply(holder)
    eventually(lambda: (client.get(holder) or {}).get("status", {}).get("phase") == "Running", 60, "the holder runs")
    assert client.get(holder)["spec"]["nodeName"] == cluster["gpu_node"]
    smoke_name = unique("smoke")
    args = {
        "kubeconfig": plane.kubeconfig,
        "instance_types": ["p3.2xlarge"],
        "name": smoke_name,
        "pod_annotations": {"trainkit.io/runner": "local"},
        "wait_timeout": 120,
    }
    command = [os.path.join(os.path.dirname(__import__("sys").executable), "ansible"), "localhost"]
    command += ["-m", "trainkit.aws.gpu_smoke_test", "-a", json.dumps(args)]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ansible.env(), cwd=REPO
    )
    try:
        selector = "batch.kubernetes.io/job-name=" + smoke_name

        def unschedulable():
            for pod in pods(client, "default", selector):
                for cond in pod.get("status", {}).get("conditions") or []:
                    if cond["type"] == "PodScheduled" and cond["status"] == "False":
                        return "Insufficient nvidia.com/gpu" in cond.get("message", "")
            return False

        eventually(unschedulable, 60, "the smoke pod to wait for the GPU")
        time.sleep(3)
        [waiting] = pods(client, "default", selector)
        assert waiting["status"]["phase"] == "Pending" and proc.poll() is None, "still waiting"
        client.delete(holder, propagation="Background")
        output = proc.communicate(timeout=180)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "node: " + cluster["gpu_node"] in output and "changed: false" in output, output
    assert "phase: Succeeded" in output and "GPU 0: simulated GPU of p3.2xlarge" in output, output
    assert pods(client, "default", selector) == []
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": smoke_name, "namespace": "default"}}
    assert client.get(job) is None


def test_mpi_operator_refused_beside_the_training_operators_v1_mpijob(ansible, client, cluster, tmp_path):
    v1 = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "mpijobs.kubeflow.org", "labels": {"app.kubernetes.io/name": "training-operator"}},
        "spec": {
            "group": "kubeflow.org",
            "scope": "Namespaced",
            "names": {"kind": "MPIJob", "plural": "mpijobs", "singular": "mpijob", "listKind": "MPIJobList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    client.apply(v1)
    try:
        rc, output, _recap = run(ansible, cluster, tmp_path, addons_mpi_operator=True)
        assert rc != 0, output[-3000:]
        text = " ".join(output.split())
        assert "serves kubeflow.org/v1: that is the Kubeflow training-operator's MPIJob" in text, text[-3000:]
        assert "Nothing was changed" in text
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mpi-operator"}}
        assert client.get(ns) is None, "refused before any change"
        # the teardown leaves another operator's CRD alone
        rc, output, _recap = run(ansible, cluster, tmp_path, addons_state="absent", addons_mpi_operator=True)
        assert rc == 0 and client.get(v1) is not None, output[-3000:]
        assert "was not installed by trainkit" in " ".join(output.split())
        # (the absent run removed the device plugin: the GPU is no longer allocatable)
        eventually(lambda: allocatable_gpus(client, cluster["gpu_node"]) == "0", 60, "the GPU to be unregistered")
    finally:
        client.delete(v1, propagation="Background")
        eventually(lambda: client.get(v1) is None, 60, "the v1 CRD to go")


def mpi_claim(client):
    """A claim for the data and the outputs (the local runner maps it to a directory shared by every pod)."""
    claim = unique("mpivol")
    shared_claim(client, "default", claim, claim, "/tmp/" + claim, reclaim="Retain")
    return claim


def test_mpi_operator_runs_a_two_worker_mpijob_of_real_mpi_ranks(ansible, client, cluster, plane, tmp_path):
    rc, output, recap = run(ansible, cluster, tmp_path, addons_mpi_operator=True)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    crd = client.get(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "mpijobs.kubeflow.org"},
        }
    )
    assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
    # the real controller (kubeflow/mpi-operator) runs as the Deployment's pod, with its service account's RBAC
    [operator] = pods(client, "mpi-operator", "app.kubernetes.io/name=mpi-operator")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "mpi-operator", "namespace": "mpi-operator"},
    }
    eventually(lambda: (client.get(lease) or {}).get("spec", {}).get("holderIdentity"), 60, "the operator's lease")

    claim = mpi_claim(client)
    job = unique("mpi-fit")
    train = {
        "training_job_framework": "mpi",
        "training_job_name": job,
        "training_job_workers": 2,
        "training_job_data_pvc": claim,
        "training_job_cpu": "500m",
        "training_job_memory": "512Mi",
        "training_job_wait_timeout": 300,
    }
    rc, output, _recap = run(ansible, cluster, tmp_path, playbook="playbooks/train.yml", **train)
    assert rc == 0, output[-4000:]
    mpijob = client.get(
        {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": job, "namespace": "default"}}
    )
    assert any(c["type"] == "Succeeded" and c["status"] == "True" for c in mpijob["status"]["conditions"])
    assert mpijob["spec"]["mpiImplementation"] == "MPICH"
    launcher_job = client.get(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job + "-launcher", "namespace": "default"}}
    )
    assert launcher_job["status"].get("succeeded") == 1

    # two real ranks, one per worker, trained together: the same parameters on both, near y = 3x1 - 2x2 + 0.5x3 + 1
    outputs = os.path.join(plane.workdir, "volumes", "default", claim, job, "output")
    results = []
    for rank in (0, 1):
        with open(os.path.join(outputs, "node_{0}".format(rank), "model.json")) as handle:
            results.append(json.load(handle))
    assert [r["rank"] for r in results] == [0, 1] and all(r["world_size"] == 2 for r in results)
    assert results[0]["parameters"] == results[1]["parameters"]
    weights, bias = results[0]["parameters"]
    assert abs(weights[0] - 3) < 0.3 and abs(weights[1] + 2) < 0.3 and abs(bias[0] - 1) < 0.3, results[0]
    # mpirun reached each worker through its "ssh": the worker pods' ssh records list the MPI proxies they ran
    sessions = [f for f in os.listdir(os.path.join(plane.workdir, "ssh-hosts")) if f.endswith(".sessions")]
    launched = [f for f in sessions if job + "-worker-" in f]
    assert len(launched) == 2, sessions
    for name in launched:
        with open(os.path.join(plane.workdir, "ssh-hosts", name)) as handle:
            assert "hydra_pmi_proxy" in handle.read()

    # re-running the add-ons changes nothing; the job is reported again without a new run
    rc, output, recap = run(ansible, cluster, tmp_path, addons_mpi_operator=True)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]
    rc, output, _recap = run(
        ansible, cluster, tmp_path, playbook="playbooks/train.yml", training_job_state="absent", **train
    )
    assert rc == 0, output[-3000:]
    assert client.get(mpijob) is None
    assert operator["metadata"]["name"] in [
        p["metadata"]["name"] for p in pods(client, "mpi-operator", "app.kubernetes.io/name=mpi-operator")
    ]


MPI_DISRUPTED = {"EPOCHS": "200", "TRAINKIT_STEP_DELAY": "0.05"}  # about 10 s of training, a checkpoint every 20


def mpi_job(ansible, cluster, tmp_path, claim, job, label, **extra):
    """playbooks/train.yml: a 3-worker MPIJob of train_mpi.py on the nodes labelled ``label``, saving a checkpoint
    every 20 steps; returns (rc, output)."""
    train = {
        "training_job_framework": "mpi",
        "training_job_name": job,
        "training_job_workers": 3,
        "training_job_data_pvc": claim,
        "training_job_cpu": "500m",
        "training_job_memory": "512Mi",
        "training_job_wait_timeout": 600,
        "training_job_env": MPI_DISRUPTED,
        "training_job_checkpoint_every": 20,
        "training_job_node_selector": {"trainkit.io/test": label},
    }
    train.update(extra)
    rc, output, _recap = run(ansible, cluster, tmp_path, playbook="playbooks/train.yml", **train)
    return rc, output


def mpi_results(plane, claim, job):
    results = []
    for rank in range(3):
        with open(
            os.path.join(plane.workdir, "volumes", "default", claim, job, "output", "node_" + str(rank), "model.json")
        ) as handle:
            results.append(json.load(handle))
    return results


def disrupted_mpi_job(ansible, cluster, tmp_path, plane, client, claim, label, disrupt):
    """An MPIJob started in a thread, ``disrupt(worker pod)`` once its checkpoint of step 40 is there; returns the
    job's name, the disrupted worker and (rc, output)."""
    job = unique("mpi-cut")
    box = {}
    thread = threading.Thread(
        target=lambda: box.update(done=mpi_job(ansible, cluster, tmp_path, claim, job, label)), daemon=True
    )
    thread.start()
    marker = os.path.join(plane.workdir, "volumes", "default", claim, job, "checkpoints", "step-00000040.ckpt")
    eventually(lambda: os.path.exists(marker) or not thread.is_alive(), 240, "the checkpoint of step 40")
    assert thread.is_alive(), "the job ended before the disruption: " + box["done"][1][-3000:]
    victim = client.get(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": job + "-worker-1", "namespace": "default"}}
    )
    assert victim["status"]["phase"] == "Running", victim["status"]
    disrupt(victim)
    thread.join(900)
    return job, victim, box["done"]


def assert_mpi_resumed_as_if_uninterrupted(results, reference):
    resumed = results[0]["resumed_from"]
    assert 40 <= resumed < 200 and all(
        r["resumed_from"] == resumed and r["restart_count"] == 1 for r in results
    ), results
    for got, want in zip(results, reference):
        # the same steps from the same checkpointed float64 state, the same ranks reducing in the same order
        flat = [v for group in got["parameters"] for v in group]
        expected = [v for group in want["parameters"] for v in group]
        assert all(abs(a - b) <= 1e-9 for a, b in zip(flat, expected)), (flat, expected)


def test_mpi_jobs_restart_from_their_checkpoint_after_an_eviction_or_a_lost_node_and_fail_at_once_on_a_bug(
    ansible, client, cluster, plane, tmp_path
):
    """The issue's three proofs for MPI, on the real MPI operator with real MPICH ranks: a worker evicted, a node
    carrying a worker deleted (a spot reclaim) - each time the ranks on that worker die with it (the runner ends its
    ssh sessions), mpirun fails, and the module restarts the whole MPIJob from its newest checkpoint, ending with the
    parameters of an uninterrupted run - and a script that exits 1, which fails the job with no restart."""
    rc, output, _recap = run(ansible, cluster, tmp_path, addons_mpi_operator=True)  # the operator of the test above
    assert rc == 0, output[-3000:]
    claim = mpi_claim(client)
    label = unique("mpi-spread")
    nodes = [kwok_node(client, "{0}-{1}".format(label, i), label, (100, 199), "16", "64Gi") for i in range(3)]
    try:
        reference_job = unique("mpi-ref")
        rc, output = mpi_job(ansible, cluster, tmp_path, claim, reference_job, label)
        assert rc == 0, output[-4000:]
        reference = mpi_results(plane, claim, reference_job)
        assert all(r["resumed_from"] == 0 and r["world_size"] == 3 for r in reference), reference

        def evict(pod):
            name = pod["metadata"]["name"]
            eviction = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": "default"},
            }
            status, _body = client.request(
                "POST", "/api/v1/namespaces/default/pods/{0}/eviction".format(name), body=eviction
            )
            assert status == 201, status

        job, victim, (rc, output) = disrupted_mpi_job(ansible, cluster, tmp_path, plane, client, claim, label, evict)
        assert rc == 0, output[-4000:]
        # the role prints each restart's causes
        assert "pod {0}: EvictionByEvictionAPI".format(victim["metadata"]["name"]) in output, output[-4000:]
        assert_mpi_resumed_as_if_uninterrupted(mpi_results(plane, claim, job), reference)

        def lose_node(pod):
            client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": pod["spec"]["nodeName"]}})

        job, victim, (rc, output) = disrupted_mpi_job(
            ansible, cluster, tmp_path, plane, client, claim, label, lose_node
        )
        assert rc == 0, output[-4000:]
        assert "node {0} is gone".format(victim["spec"]["nodeName"]) in output, output[-4000:]
        assert_mpi_resumed_as_if_uninterrupted(mpi_results(plane, claim, job), reference)

        # the user's code failing: the job fails with its log tail, no restart and no second launcher
        job = unique("mpi-bug")
        bug = ["python3", "-c", "import sys; print('loss is nan at step 7', flush=True); sys.exit(1)"]
        rc, output = mpi_job(ansible, cluster, tmp_path, claim, job, label, training_job_command=bug)
        assert rc != 0 and "Training job {0} failed".format(job) in output, output[-4000:]
        assert "loss is nan at step 7" in output and "Restarted from its checkpoint" not in output, output[-4000:]
        launchers = pods(
            client, "default", "training.kubeflow.org/job-role=launcher,training.kubeflow.org/job-name=" + job
        )
        assert len(launchers) == 1 and launchers[0]["status"]["phase"] == "Failed", launchers
    finally:
        for name in nodes:
            client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


def test_csi_drivers_with_irsa_roles(ansible, boto, client, cluster, tmp_path):
    csi = {
        "addons_provider": "eksctl",
        "addons_nvidia_device_plugin": False,
        "trainkit_storage_backend": "both",
        "addons_csi_oidc_issuer": OIDC,
        "addons_aws_account_id": "123456789012",
    }
    # check mode: a server-side dry run of every object of both drivers, the IAM roles only looked up
    rc, output, recap = run(ansible, cluster, tmp_path, check=True, **csi)
    assert rc == 0 and recap["changed"] >= 4, output[-3000:]
    driver = {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": "efs.csi.aws.com"}}
    assert client.get(driver) is None
    iam = boto("iam")
    role = cluster["name"] + "-efs-csi-controller"
    assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    rc, output, recap = run(ansible, cluster, tmp_path, **csi)
    assert rc == 0, output[-3000:]
    for name in ("efs.csi.aws.com", "fsx.csi.aws.com"):
        assert client.get(dict(driver, metadata={"name": name})) is not None
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    statement = trust["Statement"][0]
    issuer = OIDC[len("https://") :]
    assert statement["Principal"]["Federated"] == "arn:aws:iam::123456789012:oidc-provider/" + issuer
    assert (
        statement["Condition"]["StringEquals"][issuer + ":sub"]
        == "system:serviceaccount:kube-system:efs-csi-controller-sa"
    )
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"]
    sa = client.get(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "efs-csi-controller-sa", "namespace": "kube-system"},
        }
    )
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == iam.get_role(RoleName=role)["Role"]["Arn"]
    # the drivers' containers as upstream deploys the pinned releases (deploy/kubernetes/base): the FSx driver runs
    # one side per pod (--mode), its provisioner waits for a file system's creation, its resizer grows volumes
    workloads = {}
    for kind, name in (("Deployment", "controller"), ("DaemonSet", "node")):
        for csi_name in ("efs-csi", "fsx-csi"):
            found = client.get(
                {
                    "apiVersion": "apps/v1",
                    "kind": kind,
                    "metadata": {"name": "{0}-{1}".format(csi_name, name), "namespace": "kube-system"},
                }
            )
            workloads[csi_name, name] = dict(
                (c["name"], c["args"]) for c in found["spec"]["template"]["spec"]["containers"]
            )
    assert workloads["fsx-csi", "controller"]["fsx-plugin"][0] == "--mode=controller"
    assert workloads["fsx-csi", "node"]["fsx-plugin"][0] == "--mode=node"
    assert "--timeout=5m" in workloads["fsx-csi", "controller"]["csi-provisioner"]
    assert "--timeout=5m" in workloads["fsx-csi", "controller"]["csi-resizer"]
    assert not [a for a in workloads["efs-csi", "controller"]["efs-plugin"] if a.startswith("--mode")]
    assert "csi-resizer" not in workloads["efs-csi", "controller"]
    resizer_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "fsx-csi-external-resizer-role"},
    }
    rules = client.get(resizer_role)["rules"]
    assert {"apiGroups": [""], "resources": ["persistentvolumeclaims/status"], "verbs": ["update", "patch"]} in rules
    rc, output, recap = run(ansible, cluster, tmp_path, **csi)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]

    rc, output, _recap = run(ansible, cluster, tmp_path, addons_state="absent", **csi)
    assert rc == 0, output[-3000:]
    assert client.get(driver) is None
    assert client.get(resizer_role) is None
    assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]


def test_studio_runner_secret_never_printed_and_its_deployment_on_the_gpu_node(ansible, client, cluster, tmp_path):
    secret_key = "tk" + base64.b32encode(os.urandom(20)).decode().rstrip("=")
    credentials = "[default]\naws_access_key_id = AKIA{0}\naws_secret_access_key = {1}\n".format(
        base64.b32encode(os.urandom(10)).decode()[:16], secret_key
    )
    config = "[default]\nregion = us-west-2\noutput = json\n"
    ecr_key = "tk" + base64.b32encode(os.urandom(20)).decode().rstrip("=")
    ecr_credentials = "[default]\naws_access_key_id = AKIAECRREFRESHER0001\naws_secret_access_key = {0}\n".format(
        ecr_key
    )
    (tmp_path / "credentials").write_text(credentials)
    (tmp_path / "config").write_text(config)
    (tmp_path / "ecr-credentials").write_text(ecr_credentials)
    studio = {
        "addons_studio_runner": True,
        "addons_studio_runner_credentials_file": str(tmp_path / "credentials"),
        "addons_studio_runner_config_file": str(tmp_path / "config"),
        "addons_studio_runner_cpu": "1",
        "addons_studio_runner_memory": "1Gi",
        "addons_studio_runner_pull_secret": "studioml-go-docker-key",
        "addons_studio_runner_ecr_refresher": True,
        "addons_studio_runner_ecr_registry_id": "123456789012",
        "addons_studio_runner_ecr_credentials_file": str(tmp_path / "ecr-credentials"),
    }
    extra = dict(
        trainkit_cluster_name=cluster["name"],
        trainkit_nodegroups=NODEGROUPS,
        trainkit_cluster={"provider": "local", "kubeconfig": cluster["kubeconfig"]},
        addons_mpi_operator=False,
        addons_wait_timeout=120,
        **studio
    )
    log_path = os.path.join(ansible.work_dir, "ansible.log")
    rc, output, recap = ansible.playbook("playbooks/addons.yml", extra_vars=extra, verbosity=3)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    secret = client.get(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "studioml-runner-aws-sqs", "namespace": "default"}}
    )
    assert sorted(secret["data"]) == ["config", "credentials"]
    assert base64.b64decode(secret["data"]["credentials"]).decode() == credentials
    assert base64.b64decode(secret["data"]["config"]).decode() == config
    # never in the output, the log, or the result files, neither plain nor base64
    with open(log_path) as handle:
        logged = handle.read()
    encoded = base64.b64encode(credentials.encode()).decode()
    ecr_encoded = base64.b64encode(ecr_credentials.encode()).decode()
    for text in (output, logged):
        for leak in (secret_key, encoded[:40], ecr_key, ecr_encoded[:40]):
            at = text.find(leak)
            assert at < 0, "leaked: " + text[max(0, at - 3000) : at + 200]
    deployment = client.get(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "studioml-go-runner-deployment", "namespace": "default"},
        }
    )
    assert any(c["type"] == "Available" and c["status"] == "True" for c in deployment["status"]["conditions"])
    [runner] = pods(client, "default", "app=studioml-go-runner")
    assert runner["spec"]["nodeName"] == cluster["gpu_node"]
    volume = [v for v in runner["spec"]["volumes"] if v["name"] == "aws-sqs"][0]
    assert volume["secret"]["secretName"] == "studioml-runner-aws-sqs"

    # the ECR refresher: its own credentials, a CronJob and a first run, a Role that may patch the pull Secret only
    def get(kind, name, api="v1"):
        return client.get({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "default"}})

    refresher = get("Secret", "studioml-ecr-refresher-aws")
    assert base64.b64decode(refresher["data"]["credentials"]).decode() == ecr_credentials
    assert get("CronJob", "studioml-go-runner-ecr-cred", "batch/v1")["spec"]["schedule"] == "0 */6 * * *"
    assert get("Job", "studioml-go-runner-ecr-cred-first", "batch/v1") is not None
    rules = get("Role", "studioml-ecr-refresher", "rbac.authorization.k8s.io/v1")["rules"]
    assert rules[0] == {
        "apiGroups": [""],
        "resources": ["secrets"],
        "resourceNames": ["studioml-go-docker-key"],
        "verbs": ["get", "patch"],
    }
    assert get("ServiceAccount", "studioml-account")["imagePullSecrets"] == [{"name": "studioml-go-docker-key"}]
    # the runner holds the only GPU now: the re-run skips the smoke test and names the pod that holds it
    rc, output, recap = ansible.playbook("playbooks/addons.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]
    assert secret_key not in output
    assert "Every GPU is taken (default/" + runner["metadata"]["name"] + ")" in " ".join(output.split()), output[-3000:]


def test_teardown_removes_every_addon(ansible, client, cluster, tmp_path):
    rc, output, recap = run(ansible, cluster, tmp_path, addons_state="absent", addons_mpi_operator=True)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    gone = [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "mpijobs.kubeflow.org"},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mpi-operator"}},
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "nvidia-device-plugin-daemonset", "namespace": "kube-system"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "studioml-go-runner-deployment", "namespace": "default"},
        },
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "studioml-runner-aws-sqs", "namespace": "default"}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "studioml-ecr-refresher-aws", "namespace": "default"},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "studioml-go-runner-ecr-cred", "namespace": "default"},
        },
    ]
    for obj in gone:
        assert client.get(obj) is None, obj
    eventually(lambda: allocatable_gpus(client, cluster["gpu_node"]) == "0", 60, "the GPU to be unregistered")
    rc, output, recap = run(ansible, cluster, tmp_path, addons_state="absent", addons_mpi_operator=True)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]
