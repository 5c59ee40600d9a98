#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: gpu_smoke_test
short_description: Wait until a cluster's GPU nodes advertise their GPUs, then prove one with a smoke-test pod
version_added: 0.1.0
description:
  - Waits, on a watch of the nodes, until at least O(min_nodes) GPU nodes exist and every one of them has
    C(nvidia.com/gpu) in its allocatable resources - what the NVIDIA device plugin's registration gives a node.
  - Then runs a smoke-test pod (a one-pod Job) that asks for O(gpus) C(nvidia.com/gpu), may only land on those nodes
    (a required node affinity) and tolerates the GPU taint; waits until it succeeds or fails, returns its output
    (C(nvidia-smi) by default), and deletes the Job and its pod. A pod that cannot be scheduled (every GPU taken)
    waits, up to O(wait_timeout).
  - GPU nodes are the nodes whose C(node.kubernetes.io/instance-type) is one of O(instance_types) and whose labels
    match O(node_selector).
  - The smoke test leaves nothing behind, so the task reports C(changed=false). A Job of the same name left by an
    interrupted run is deleted first.
author:
  - trainkit.aws contributors (@trainkit)
options:
  instance_types:
    description: The GPU instance types; nodes of these types are the GPU nodes.
    type: list
    elements: str
    default: []
  node_selector:
    description: Labels the GPU nodes carry (all of them), besides or instead of O(instance_types).
    type: dict
    default: {}
  min_nodes:
    description: How many GPU nodes must exist before the wait can end.
    type: int
    default: 1
  run:
    description: Run the smoke-test pod; V(false) only waits for the GPUs.
    type: bool
    default: true
  if_busy:
    description:
      - What to do when every GPU of the GPU nodes is already taken by other pods (a re-run on a busy cluster).
      - V(wait) - run the pod anyway; it waits, unscheduled, until a GPU is free or O(wait_timeout) runs out.
      - V(skip) - do not run it, and say which pods hold the GPUs.
    type: str
    choices: [wait, skip]
    default: wait
  name:
    description: The smoke-test Job's name (its pod's name starts with it).
    type: str
    default: trainkit-gpu-smoke-test
  namespace:
    description: The smoke-test Job's namespace.
    type: str
    default: default
  image:
    description: The smoke-test image; it needs C(nvidia-smi), which the NVIDIA container toolkit mounts in.
    type: str
    default: nvcr.io/nvidia/cuda:12.9.1-base-ubuntu24.04
  command:
    description:
      - The smoke-test command. The default lists the GPUs with C(nvidia-smi -L) and also writes the list to the
        termination-message file, so the output is there even where the kubelet's log endpoint is out of reach.
    type: list
    elements: str
    default:
      - sh
      - -c
      - 'out=$(nvidia-smi -L 2>&1); rc=$?; printf "%s\n" "$out" | tee "$1"; exit $rc'
      - smoke-test
      - /dev/termination-log
  gpus:
    description: GPUs the smoke-test pod asks for.
    type: int
    default: 1
  tolerations:
    description: The smoke-test pod's tolerations.
    type: list
    elements: dict
    default: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  pod_annotations:
    description: Annotations of the smoke-test pod (the local cluster runs pods annotated C(trainkit.io/runner=local)).
    type: dict
    default: {}
  wait_timeout:
    description: Seconds to wait for the GPUs, and again for the smoke-test pod to finish.
    type: int
    default: 300
extends_documentation_fragment:
  - trainkit.aws.k8s
attributes:
  check_mode:
    description: Waits for the GPUs only if they are there already; never runs the pod.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - On the local cluster there is no GPU - the device plugin and C(nvidia-smi) are stand-ins of the local runner, and
    only the scheduling, the allocation and the pod's life are real (see the collection's C(docs/addons.md)).
"""

EXAMPLES = r"""
- name: Addons | GPU smoke test
  trainkit.aws.gpu_smoke_test:
    kubeconfig: "{{ trainkit_cluster.kubeconfig }}"
    instance_types: [g5.xlarge, p3.2xlarge]
    min_nodes: 2
  register: smoke

- name: Addons | What the GPU said
  ansible.builtin.debug:
    var: smoke.output_lines
"""

RETURN = r"""
nodes:
  description: The GPU nodes and the GPUs each advertises as allocatable.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    instance_type:
      description: Its instance type.
      type: str
    gpus_allocatable:
      description: Its allocatable C(nvidia.com/gpu).
      type: int
pod:
  description: The smoke-test pod as it ended (it is deleted afterwards).
  returned: when the pod ran
  type: dict
  contains:
    name:
      description: Pod name.
      type: str
    node:
      description: The node it ran on.
      type: str
    phase:
      description: V(Succeeded) or V(Failed).
      type: str
    exit_code:
      description: The container's exit code.
      type: int
output:
  description: What the smoke test printed.
  returned: when the pod ran
  type: str
output_lines:
  description: The same, line by line.
  returned: when the pod ran
  type: list
  elements: str
busy:
  description: The pods holding every GPU, when O(if_busy=skip) kept the smoke test from running.
  returned: when the smoke test was skipped because every GPU is taken
  type: list
  elements: str
"""

from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import condition
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_module import K8sModule

GPU = "nvidia.com/gpu"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
OUTPUT_LINES = 200


def is_gpu_node(node, params):
    labels = node["metadata"].get("labels") or {}
    if params["instance_types"] and labels.get(INSTANCE_TYPE) not in params["instance_types"]:
        return False
    return all(labels.get(k) == str(v) for k, v in params["node_selector"].items())


def allocatable(node):
    return int(node.get("status", {}).get("allocatable", {}).get(GPU, 0) or 0)


def node_summary(node):
    return {
        "name": node["metadata"]["name"],
        "instance_type": (node["metadata"].get("labels") or {}).get(INSTANCE_TYPE),
        "gpus_allocatable": allocatable(node),
    }


def affinity(params):
    expressions = []
    if params["instance_types"]:
        expressions.append({"key": INSTANCE_TYPE, "operator": "In", "values": list(params["instance_types"])})
    expressions += [
        {"key": k, "operator": "In", "values": [str(v)]} for k, v in sorted(params["node_selector"].items())
    ]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}
        }
    }


def smoke_job(params):
    """A one-pod Job (a Job rather than a bare pod: it completes the same way on every cluster, simulated ones too)."""
    labels = {"app.kubernetes.io/name": "gpu-smoke-test", "app.kubernetes.io/managed-by": "trainkit"}
    template = {"metadata": {"labels": dict(labels)}, "spec": {}}
    if params["pod_annotations"]:
        template["metadata"]["annotations"] = dict((k, str(v)) for k, v in params["pod_annotations"].items())
    template["spec"] = {
        "restartPolicy": "Never",
        "affinity": affinity(params),
        "tolerations": [dict(t) for t in params["tolerations"]],
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "smoke-test",
                "image": params["image"],
                "command": list(params["command"]),
                "resources": {"limits": {GPU: str(params["gpus"])}},
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": params["name"], "namespace": params["namespace"], "labels": labels},
        "spec": {"backoffLimit": 0, "template": template},
    }


def wait_for_gpus(module, client):
    p = module.params

    def ready(items):
        gpu_nodes = [n for n in items.values() if is_gpu_node(n, p)]
        return len(gpu_nodes) >= p["min_nodes"] and all(allocatable(n) > 0 for n in gpu_nodes)

    try:
        items = client.wait_list("/api/v1/nodes", None, ready, p["wait_timeout"], "the GPU nodes' nvidia.com/gpu")
    except K8sError:
        listing = client.request("GET", "/api/v1/nodes")[1]
        gpu_nodes = [node_summary(n) for n in listing.get("items", []) if is_gpu_node(n, p)]
        waiting = [n["name"] for n in gpu_nodes if not n["gpus_allocatable"]]
        module.fail_json(
            msg="Timed out after {0}s waiting for {1} GPU node(s) advertising nvidia.com/gpu: {2} found{3}.".format(
                p["wait_timeout"],
                p["min_nodes"],
                len(gpu_nodes),
                ", without GPUs allocatable: " + ", ".join(waiting) if waiting else "",
            ),
            hint="is the NVIDIA device plugin's pod running on each of them (and the driver installed)?",
            nodes=gpu_nodes,
        )
    return sorted((node_summary(n) for n in items.values() if is_gpu_node(n, p)), key=lambda n: n["name"])


def gpu_holders(client, nodes):
    """(free GPUs per node, the pods holding GPUs) - requests of the pods on the GPU nodes that have not ended."""
    free, holders = {}, []
    for entry in nodes:
        query = {"fieldSelector": "spec.nodeName={0}".format(entry["name"])}
        listing = client.request("GET", "/api/v1/pods", query=query)[1] or {}
        used = 0
        for pod in listing.get("items", []):
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                continue
            wanted = sum(
                int(((c.get("resources") or {}).get("limits") or {}).get(GPU, 0) or 0)
                for c in pod["spec"].get("containers", [])
            )
            if wanted:
                used += wanted
                holders.append("{0}/{1}".format(pod["metadata"]["namespace"], pod["metadata"]["name"]))
        free[entry["name"]] = entry["gpus_allocatable"] - used
    return free, holders


def gone(current):
    return current is None


def finished(pod):
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def run_pod(module, client):
    p = module.params
    job = smoke_job(p)
    if client.get(job, p["namespace"]) is not None:  # left by an interrupted run
        client.delete(job, p["namespace"], propagation="Foreground")
        client.wait(job, p["namespace"], gone, p["wait_timeout"], "the old smoke-test Job to be deleted")
    client.request("POST", "/apis/batch/v1/namespaces/{0}/jobs".format(p["namespace"]), body=job)
    pods_path = "/api/v1/namespaces/{0}/pods".format(p["namespace"])
    query = {"labelSelector": "batch.kubernetes.io/job-name=" + p["name"]}
    try:
        try:
            items = client.wait_list(
                pods_path,
                query,
                lambda items: any(finished(pod) for pod in items.values()),
                p["wait_timeout"],
                "the GPU smoke-test pod to finish",
            )
        except K8sError as exc:
            current = (client.request("GET", pods_path, query=query)[1] or {}).get("items") or [{}]
            scheduled = condition(current[0], "PodScheduled") or {}
            why = (
                scheduled.get("message")
                if scheduled.get("status") == "False"
                else current[0].get("status", {}).get("phase")
            )
            raise K8sError("{0} The pod is {1}.".format(exc.msg, why or "not created"), hint=exc.hint)
        done = [pod for pod in items.values() if finished(pod)][0]
        terminated, exit_code = {}, None
        for status in done.get("status", {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated") or {}
            exit_code = terminated.get("exitCode")
        name = done["metadata"]["name"]
        output = client.log_tail(p["namespace"], name, OUTPUT_LINES, terminated.get("message"))
        result = {
            "name": name,
            "node": done["spec"].get("nodeName"),
            "phase": done["status"]["phase"],
            "exit_code": exit_code,
        }
        return result, output
    finally:
        client.delete(job, p["namespace"], propagation="Foreground")
        client.wait(job, p["namespace"], gone, p["wait_timeout"], "the smoke-test Job to be deleted")


def main():
    module = K8sModule(
        argument_spec=dict(
            instance_types=dict(type="list", elements="str", default=[]),
            node_selector=dict(type="dict", default={}),
            min_nodes=dict(type="int", default=1),
            run=dict(type="bool", default=True),
            name=dict(type="str", default="trainkit-gpu-smoke-test"),
            namespace=dict(type="str", default="default"),
            image=dict(type="str", default="nvcr.io/nvidia/cuda:12.9.1-base-ubuntu24.04"),
            command=dict(
                type="list",
                elements="str",
                default=[
                    "sh",
                    "-c",
                    'out=$(nvidia-smi -L 2>&1); rc=$?; printf "%s\\n" "$out" | tee "$1"; exit $rc',
                    "smoke-test",
                    "/dev/termination-log",
                ],
            ),
            gpus=dict(type="int", default=1),
            if_busy=dict(type="str", default="wait", choices=["wait", "skip"]),
            tolerations=dict(
                type="list",
                elements="dict",
                default=[{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}],
            ),
            pod_annotations=dict(type="dict", default={}),
            wait_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problems = []
    if not p["instance_types"] and not p["node_selector"]:
        problems.append("instance_types or node_selector must say which nodes are the GPU nodes")
    if p["min_nodes"] < 1 or p["gpus"] < 1 or p["wait_timeout"] < 1:
        problems.append("min_nodes, gpus and wait_timeout must be at least 1")
    if not p["command"]:
        problems.append("command must not be empty")
    module.fail_on_problems(problems)

    client = module.client
    try:
        if module.check_mode:
            listing = client.request("GET", "/api/v1/nodes")[1]
            nodes = [node_summary(n) for n in listing.get("items", []) if is_gpu_node(n, p)]
            module.exit_json(changed=False, nodes=nodes, msg="check mode: the smoke-test pod was not run")
        nodes = wait_for_gpus(module, client)
        if not p["run"]:
            module.exit_json(changed=False, nodes=nodes)
        if p["if_busy"] == "skip":
            free, holders = gpu_holders(client, nodes)
            if max(free.values()) < p["gpus"]:
                module.exit_json(
                    changed=False,
                    nodes=nodes,
                    busy=holders,
                    msg="Every GPU is taken ({0}): the smoke test did not run.".format(", ".join(holders)),
                )
        pod, output = run_pod(module, client)
    except K8sError as exc:
        module.fail_k8s(exc)
    result = dict(changed=False, nodes=nodes, pod=pod, output=output, output_lines=output.splitlines())
    if pod["phase"] != "Succeeded":
        module.fail_json(
            msg="The GPU smoke test failed on node {0} with exit code {1}: {2}".format(
                pod["node"], pod["exit_code"], (output.strip().splitlines() or ["no output"])[-1]
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
