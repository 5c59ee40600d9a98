# -*- coding: utf-8 -*-
"""The local Kubernetes (real control plane + KWOK), local_cluster node groups and k8s_apply, end to end."""

import ipaddress
import json
import os
import subprocess
import sys

import pytest

from harness import REPO
from harness import LocalK8s
from harness import load_tool
from harness import unique

pytestmark = pytest.mark.k8s

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def node_obj(name):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def nodes_of(client, cluster):
    _status, listing = client.request("GET", "/api/v1/nodes", query={"labelSelector": "trainkit.io/cluster=" + cluster})
    return dict((n["metadata"]["name"], n) for n in listing["items"])


def test_control_plane_is_real_and_reused(local_k8s):
    again = local_k8s.tool("start")
    assert again.returncode == 0 and "reusing" in again.stderr
    assert again.stdout.strip().splitlines()[-1] == local_k8s.kubeconfig
    client = local_k8s.client()
    try:
        assert client.request("GET", "/version")[1]["gitVersion"] == "v1.34.4"
        assert client.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200
        assert client.host == "127.0.0.1"
        # schema validation is the real API server's
        bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}
        try:
            client.apply(bad)
            raise AssertionError("the API server accepted an invalid name")
        except Exception as exc:  # noqa: BLE001 - K8sError from another import path
            assert "422" in str(exc)
    finally:
        client.close()


def test_stop_ends_every_process_it_started(tmp_path):
    plane = LocalK8s(str(tmp_path / "k8s"))
    plane.start()
    pids = plane.pids()
    assert set(pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "pod-runner",
        "token-webhook",
    }
    assert plane.tool("status").returncode == 0
    stopped = plane.stop()
    assert stopped.returncode == 0
    for name, pid in pids.items():
        assert (
            not os.path.exists("/proc/{0}".format(pid)) or name not in open("/proc/{0}/cmdline".format(pid)).read()
        ), name
    assert plane.tool("status").returncode == 1


def test_stop_returns_once_a_killed_process_is_gone():
    """A process that ignores SIGTERM is killed after the grace time, and stop returns only once it is gone (here one
    with 1 GiB of memory, which the kernel takes a moment to tear down): the caller reuses its ports at once."""
    tool = load_tool("local_k8s_tool", os.path.join(REPO, "tools", "local_k8s.py"))
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "memory = bytearray(b'x') * (1 << 30)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline() == "ready\n"
            record = {"pid": proc.pid, "binary": sys.executable, "script": "-c"}
            assert tool.process_is(proc.pid, sys.executable, "-c")
            assert tool.stop_processes({"stubborn": record}, grace=0.5) == ["stubborn"]
            assert not tool.process_is(proc.pid, sys.executable, "-c")  # a zombie at most, waiting for us
        finally:
            proc.kill()


def test_local_cluster_node_groups(ansible, local_k8s):
    cluster = unique("ng")
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    groups = [
        {"name": "cpu", "instance_type": "m5.large", "count": 2, "labels": {"role": "data"}},
        {"name": "gpu", "instance_type": "p3.2xlarge", "count": 1, "zones": ["us-west-2b"], "taints": [taint]},
    ]
    # GPUs advertised from the start, as if a device plugin always ran (test_addons.py covers device_plugin: true)
    args = {"cluster_name": cluster, "kubeconfig": local_k8s.kubeconfig, "nodegroups": groups, "device_plugin": False}
    client = local_k8s.client()
    try:
        checked = ansible.module("local_cluster", args, check=True)
        assert checked.changed and nodes_of(client, cluster) == {}

        created = ansible.module("local_cluster", args)
        assert created.changed, created.output
        nodes = nodes_of(client, cluster)
        assert sorted(nodes) == sorted(cluster + s for s in ("-cpu-0", "-cpu-1", "-gpu-0"))
        gpu = nodes[cluster + "-gpu-0"]
        assert gpu["status"]["allocatable"]["nvidia.com/gpu"] == "1" and gpu["status"]["capacity"]["cpu"] == "8"
        assert gpu["metadata"]["annotations"]["trainkit.io/gpus"] == "1"
        labels = gpu["metadata"]["labels"]
        assert labels["node.kubernetes.io/instance-type"] == "p3.2xlarge"
        assert labels["eks.amazonaws.com/nodegroup"] == "gpu" and labels["topology.kubernetes.io/zone"] == "us-west-2b"
        assert taint in gpu["spec"]["taints"]
        assert "nvidia.com/gpu" not in nodes[cluster + "-cpu-0"]["status"]["capacity"]
        assert nodes[cluster + "-cpu-0"]["metadata"]["labels"]["topology.kubernetes.io/zone"] == "us-west-2a"
        assert nodes[cluster + "-cpu-1"]["metadata"]["labels"]["role"] == "data"
        cidrs = set()
        for node in nodes.values():
            cidr = ipaddress.ip_network(node["spec"]["podCIDR"])
            assert cidr.subnet_of(LOOPBACK)
            cidrs.add(cidr)
        assert len(cidrs) == 3

        # the nodes become Ready through KWOK; a 1-GPU pod lands on the GPU node, a second one stays Pending
        for name in nodes:
            client.wait(node_obj(name), None, node_ready, 60, name + " Ready")
        first, second = gpu_pod(cluster, cluster + "-gpu-a"), gpu_pod(cluster, cluster + "-gpu-b")
        kc = local_k8s.kubeconfig
        placed = ansible.module("k8s_apply", {"kubeconfig": kc, "definition": first, "wait": True, "wait_timeout": 60})
        assert not placed.failed, placed.output
        assert placed["result"]["spec"]["nodeName"] == cluster + "-gpu-0"
        pod_ip = ipaddress.ip_address(placed["result"]["status"]["podIP"])
        assert pod_ip in ipaddress.ip_network(gpu["spec"]["podCIDR"])
        unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        pending = ansible.module(
            "k8s_apply",
            {"kubeconfig": kc, "definition": second, "wait": True, "wait_timeout": 60, "wait_condition": unschedulable},
        )
        assert not pending.failed, pending.output
        assert not pending["result"]["spec"].get("nodeName") and pending["result"]["status"]["phase"] == "Pending"
        ansible.module("k8s_apply", {"kubeconfig": kc, "definition": [first, second], "state": "absent", "wait": True})

        assert not ansible.module("local_cluster", args).changed
        scaled = [dict(groups[0], count=3), groups[1], {"name": "g5", "instance_type": "g5.xlarge", "gpus": 4}]
        grown = ansible.module("local_cluster", dict(args, nodegroups=scaled), diff=True)
        assert grown.changed and len(nodes_of(client, cluster)) == 5
        added = set(grown["diff"]["after"]["nodes"]) - set(grown["diff"]["before"]["nodes"])
        assert added == {cluster + "-cpu-2", cluster + "-g5-0"}
        assert nodes_of(client, cluster)[cluster + "-g5-0"]["status"]["capacity"]["nvidia.com/gpu"] == "4"
        shrunk = ansible.module("local_cluster", dict(args, nodegroups=scaled[:1]))
        assert shrunk.changed and sorted(nodes_of(client, cluster)) == [cluster + "-cpu-" + str(i) for i in range(3)]

        bad = ansible.module("local_cluster", dict(args, nodegroups=[{"name": "x", "instance_type": "z9.huge"}]))
        assert bad.failed and "is not known" in bad["msg"] and len(nodes_of(client, cluster)) == 3

        absent = {"cluster_name": cluster, "kubeconfig": kc, "state": "absent"}
        assert ansible.module("local_cluster", absent).changed
        assert nodes_of(client, cluster) == {}
        assert not ansible.module("local_cluster", absent).changed
    finally:
        client.close()


def node_ready(node):
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in (node or {}).get("status", {}).get("conditions", [])
    )


def gpu_pod(cluster, name):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"trainkit.io/cluster": cluster},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "c", "image": "nvidia/cuda", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        },
    }


def test_k8s_apply_lifecycle(ansible, local_k8s):
    ns = unique("apply")
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns},
            "data": {"epochs": "10"},
        },
    ]
    base = {"kubeconfig": local_k8s.kubeconfig, "definition": objs}
    client = local_k8s.client()
    cm = objs[1]
    try:
        checked = ansible.module("k8s_apply", base, check=True, diff=True)
        assert checked.changed and client.get(objs[0]) is None
        assert checked["diff"][1]["before"] == {} and checked["diff"][1]["after"]["data"] == {"epochs": "10"}
        created = ansible.module("k8s_apply", base)
        assert created.changed and client.get(cm)["data"] == {"epochs": "10"}
        managers = [m["manager"] for m in client.get(cm)["metadata"]["managedFields"]]
        assert managers == ["trainkit"]
        assert not ansible.module("k8s_apply", base).changed

        yaml_text = (
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: %s}\ndata: {epochs: '20'}\n"
            % ns
        )
        dry = ansible.module("k8s_apply", dict(base, definition=yaml_text), check=True, diff=True)
        assert (
            dry.changed
            and dry["diff"]["after"]["data"] == {"epochs": "20"}
            and dry["diff"]["before"]["data"] == {"epochs": "10"}
        )
        assert client.get(cm)["data"] == {"epochs": "10"}, "check mode is a dry run"
        assert ansible.module("k8s_apply", dict(base, definition=yaml_text)).changed
        assert client.get(cm)["data"] == {"epochs": "20"}

        # another field manager takes the field: a plain apply conflicts, force_conflicts takes it back
        client.request(
            "PATCH",
            client.path(cm),
            body=dict(cm, data={"epochs": "30"}),
            query={"fieldManager": "someone-else", "force": "true"},
            content_type="application/apply-patch+yaml",
        )
        conflict = ansible.module("k8s_apply", dict(base, definition=yaml_text.replace("'20'", "'40'")))
        assert conflict.failed and "force_conflicts" in conflict["msg"]
        forced = ansible.module(
            "k8s_apply", dict(base, definition=yaml_text.replace("'20'", "'40'"), force_conflicts=True)
        )
        assert forced.changed and client.get(cm)["data"] == {"epochs": "40"}

        invalid = ansible.module(
            "k8s_apply",
            dict(
                base,
                definition={
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "x", "namespace": ns},
                    "data": "no",
                },
            ),
        )
        assert invalid.failed and "expected map" in invalid["msg"], "the server checks the schema"
        unknown = ansible.module(
            "k8s_apply",
            dict(base, definition={"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "x"}}),
        )
        assert unknown.failed and "does not serve" in unknown["msg"]

        gone = ansible.module("k8s_apply", dict(base, state="absent", wait=True, wait_timeout=60))
        assert gone.changed, gone.output
        assert client.get(cm) is None and client.get(objs[0]) is None
        assert not ansible.module("k8s_apply", dict(base, state="absent")).changed
    finally:
        client.close()


def test_k8s_apply_waits_for_readiness(ansible, local_k8s, tmp_path):
    cluster, ns = unique("wait"), unique("wait")
    kc = local_k8s.kubeconfig
    assert ansible.module(
        "local_cluster",
        {
            "cluster_name": cluster,
            "kubeconfig": kc,
            "nodegroups": [{"name": "w", "instance_type": "m5.xlarge", "count": 2}],
        },
    ).changed
    select = {"trainkit.io/cluster": cluster}
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"nodeSelector": select, "containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": ns},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"nodeSelector": select, "containers": [{"name": "c", "image": "agent"}]},
                },
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "split", "namespace": ns},
            "spec": {
                "completions": 3,
                "parallelism": 3,
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "nodeSelector": select,
                        "containers": [{"name": "c", "image": "busybox"}],
                    }
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": ns + "-pv"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "mountOptions": ["nfsvers=4.1", "rsize=1048576", "wsize=1048576", "hard", "timeo=600", "retrans=2"],
                "nfs": {"server": "fs-12345678.efs.us-west-2.amazonaws.com", "path": "/"},
                "claimRef": {"namespace": ns, "name": "data"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": ns},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": ns + "-pv",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "trainings.{0}.example.com".format(ns)},
            "spec": {
                "group": ns + ".example.com",
                "scope": "Namespaced",
                "names": {"plural": "trainings", "singular": "training", "kind": "Training"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }
                ],
            },
        },
    ]
    result = ansible.module("k8s_apply", {"kubeconfig": kc, "definition": objs, "wait": True, "wait_timeout": 90})
    assert not result.failed, result.output
    by_kind = dict((r["kind"], r["result"]) for r in result["results"])
    assert by_kind["Deployment"]["status"]["availableReplicas"] == 2
    assert any(
        c["type"] == "Available" and c["status"] == "True" for c in by_kind["Deployment"]["status"]["conditions"]
    )
    daemons = by_kind["DaemonSet"]["status"]
    assert daemons["numberReady"] == daemons["desiredNumberScheduled"] == 2, "one per node of the cluster"
    assert by_kind["Job"]["status"]["succeeded"] == 3
    assert by_kind["PersistentVolumeClaim"]["status"]["phase"] == "Bound"
    assert any(
        c["type"] == "Established" and c["status"] == "True"
        for c in by_kind["CustomResourceDefinition"]["status"]["conditions"]
    )
    client = local_k8s.client()
    try:
        _s, pods = client.request("GET", "/api/v1/namespaces/{0}/pods".format(ns))
        job_pods = [p for p in pods["items"] if p["metadata"].get("labels", {}).get("job-name") == "split"]
        assert len(job_pods) == 3 and all(p["status"]["phase"] == "Succeeded" for p in job_pods)
        assert all(p["spec"]["nodeName"].startswith(cluster + "-w-") for p in job_pods)
        job_ips = set(p["status"]["podIP"] for p in job_pods)
        assert len(job_ips) == 3, "distinct pod IPs"
        ips = [p["status"]["podIP"] for p in pods["items"] if p["status"].get("podIP")]
        assert len(ips) >= 7 and all(ipaddress.ip_address(ip) in LOOPBACK for ip in ips)
    finally:
        client.close()

    # a custom resource of the CRD just established, from a template rendered on the controller
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "training.yaml.j2").write_text(
        "apiVersion: {{ group }}/v1\nkind: Training\nmetadata:\n  name: run-{{ workers }}\n  namespace: {{ ns }}\n"
        "spec:\n  workers: {{ workers }}\n"
    )
    playbook = tmp_path / "templated.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {
                        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                        "group": ns + ".example.com",
                        "workers": 4,
                        "ns": ns,
                    },
                    "tasks": [
                        {
                            "name": "Templated object",
                            "trainkit.aws.k8s_apply": {"kubeconfig": kc, "template": "training.yaml.j2"},
                        }
                    ],
                }
            ]
        )
    )
    rc, output, recap = ansible.playbook(str(playbook), inventory="localhost,")
    assert rc == 0 and recap["changed"] == 1, output[-3000:]
    client = local_k8s.client()
    try:
        made = client.get(
            {"apiVersion": ns + ".example.com/v1", "kind": "Training", "metadata": {"name": "run-4", "namespace": ns}}
        )
        assert made["spec"] == {"workers": 4}
    finally:
        client.close()

    stuck = dict(objs[1], metadata={"name": "stuck", "namespace": ns})
    stuck["spec"] = dict(
        stuck["spec"],
        template={
            "metadata": {"labels": {"app": "web"}},
            "spec": {"nodeSelector": {"no": "such-node"}, "containers": [{"name": "c", "image": "x"}]},
        },
    )
    timed_out = ansible.module("k8s_apply", {"kubeconfig": kc, "definition": stuck, "wait": True, "wait_timeout": 3})
    assert timed_out.failed and "Timed out after 3s" in timed_out["msg"]

    assert ansible.module(
        "k8s_apply",
        {"kubeconfig": kc, "definition": objs + [stuck], "state": "absent", "wait": True, "wait_timeout": 90},
    ).changed
    assert ansible.module("local_cluster", {"cluster_name": cluster, "kubeconfig": kc, "state": "absent"}).changed


def test_cluster_playbook_publishes_the_fact(ansible, local_k8s):
    cluster = unique("cl")
    extra = {"trainkit_cluster_name": cluster, "cluster_local_workdir": local_k8s.workdir}
    rc, first, recap = ansible.playbook("playbooks/cluster.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 1, first[-3000:]
    rc, second, recap = ansible.playbook("playbooks/cluster.yml", "playbooks/summary.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, second[-3000:]
    assert "kubeconfig: " + local_k8s.kubeconfig in second
    assert cluster + "-gpu-1" in second
    client = local_k8s.client()
    try:
        nodes = nodes_of(client, cluster)
        assert sorted(nodes) == sorted(cluster + s for s in ("-cpu-0", "-cpu-1", "-gpu-0", "-gpu-1"))
    finally:
        client.close()
    assert ansible.module(
        "local_cluster", {"cluster_name": cluster, "kubeconfig": local_k8s.kubeconfig, "state": "absent"}
    ).changed


def test_local_spot_node_groups_are_marked_spot_and_take_their_types_in_turn(ansible, local_k8s):
    """A spot group of several instance types: its nodes carry EKS's eks.amazonaws.com/capacityType=SPOT (the others
    ON_DEMAND), take the types in turn, and a pod can be placed by the capacity type; a mix of GPU counts is refused."""
    cluster = unique("spot")
    groups = [
        {"name": "od", "instance_type": "m5.large", "count": 1},
        {"name": "spot", "instance_types": ["g5.xlarge", "g6.xlarge"], "spot": True, "count": 3},
    ]
    args = {"cluster_name": cluster, "kubeconfig": local_k8s.kubeconfig, "nodegroups": groups, "device_plugin": False}
    client = local_k8s.client()
    try:
        created = ansible.module("local_cluster", args)
        assert created.changed, created.output
        types = dict((n["name"], (n["instance_type"], n["capacity_type"])) for n in created["nodes"])
        assert types == {
            cluster + "-od-0": ("m5.large", "ON_DEMAND"),
            cluster + "-spot-0": ("g5.xlarge", "SPOT"),
            cluster + "-spot-1": ("g6.xlarge", "SPOT"),
            cluster + "-spot-2": ("g5.xlarge", "SPOT"),
        }
        nodes = nodes_of(client, cluster)
        assert nodes[cluster + "-spot-1"]["metadata"]["labels"]["eks.amazonaws.com/capacityType"] == "SPOT"
        assert not ansible.module("local_cluster", args).changed

        for name in nodes:
            client.wait(node_obj(name), None, node_ready, 60, name + " Ready")
        pod = gpu_pod(cluster, cluster + "-on-spot")
        pod["spec"]["containers"][0].pop("resources")  # no GPU asked for: only the capacity type places it
        pod["spec"]["nodeSelector"]["eks.amazonaws.com/capacityType"] = "SPOT"
        kc = local_k8s.kubeconfig
        placed = ansible.module("k8s_apply", {"kubeconfig": kc, "definition": pod, "wait": True, "wait_timeout": 60})
        assert not placed.failed and placed["result"]["spec"]["nodeName"].startswith(cluster + "-spot-"), placed.output
        ansible.module("k8s_apply", {"kubeconfig": kc, "definition": pod, "state": "absent", "wait": True})

        mixed = [{"name": "bad", "instance_types": ["g5.xlarge", "g5.12xlarge"], "spot": True}]
        bad = ansible.module("local_cluster", dict(args, nodegroups=mixed))
        assert bad.failed and "must have one GPU count" in bad["msg"] and len(nodes_of(client, cluster)) == 4
        both = [{"name": "bad", "instance_type": "g5.xlarge", "instance_types": ["g6.xlarge"]}]
        bad = ansible.module("local_cluster", dict(args, nodegroups=both))
        assert bad.failed and "give instance_type or instance_types, one of them" in bad["msg"]
    finally:
        ansible.module(
            "local_cluster", {"cluster_name": cluster, "kubeconfig": local_k8s.kubeconfig, "state": "absent"}
        )
        client.close()
