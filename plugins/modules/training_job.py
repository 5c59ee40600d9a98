#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: training_job
short_description: Submit a distributed training job (PaddlePaddle, PyTorch, MPI) or a data-split job and report it
version_added: 0.1.0
description:
  - Renders the Kubernetes objects of a distributed training job from a short spec, applies them with server-side
    apply (field manager C(trainkit)), optionally waits until the job succeeds or fails, and reports each pod's
    phase, exit code, node and IP, where the outputs are, and the log tail of failed pods.
  - C(paddle) follows the PaddlePaddle-on-Kubernetes tutorial layout, a Job with parallelism = completions =
    O(workers), the C(JOB_NAME), C(JOB_PATH), C(JOB_NAMESPACE), C(TRAIN_CONFIG_DIR), C(CONF_PADDLE_*) and
    C(TRAINER_COUNT) variables and container ports O(ports.base) .. O(ports.base) + O(ports.num) +
    O(ports.num_sparse) - 1. With O(pservers) > 0 a second Job C(<name>-pserver) runs the parameter servers.
  - C(pytorch) renders an Indexed Job and a headless Service; each pod runs C(torchrun) with its node rank from the
    completion index and the master C(<name>-0.<name>).
  - C(mpi) renders a C(kubeflow.org/v2beta1) MPIJob; the MPI operator (and its CRD) must be installed.
  - C(data_split) renders a one-pod Job that runs O(command) with C(OUT_DIR=<mount_path>/<split_for>/data) and
    C(SPLIT_COUNT), the tutorial's way of splitting a data set into one shard per trainer.
  - For C(paddle) and C(pytorch) the container runs the collection's launcher (a standard-library Python script,
    mounted from the ConfigMap C(<name>-launcher) at C(/opt/trainkit/launcher.py)) in front of O(command). It
    finds the trainer id and the peers, from C(JOB_COMPLETION_INDEX) or by listing the job's pods with the pod's
    service account (the module then creates a ServiceAccount, a Role allowing get/list/watch on pods in the
    namespace only, and a RoleBinding), exports C(PADDLE_TRAINER_ID), C(PADDLE_TRAINERS_NUM),
    C(PADDLE_TRAINER_ENDPOINTS), C(PADDLE_CURRENT_ENDPOINT), C(PADDLE_PSERVERS_IP_PORT_LIST), C(TRAINING_ROLE), or
    C(RANK), C(WORLD_SIZE), C(MASTER_ADDR), C(MASTER_PORT), and execs the command.
  - A job that has finished (succeeded or failed) is left alone and reported with changed=false, unless
    O(recreate=true).
author:
  - trainkit.aws contributors (@trainkit)
attributes:
  check_mode:
    support: full
    description: A server-side dry run of every object; nothing is created or deleted.
  diff_mode:
    support: full
    description: Before and after of every object.
  platform:
    platforms: kubernetes
    support: full
    description: Talks to the Kubernetes API server of O(kubeconfig).
options:
  name:
    description:
      - The job's name, a DNS label of at most 52 characters. Objects are named after it and labelled
        C(trainkit.io/job=<name>).
    type: str
    required: true
  namespace:
    description: The namespace of the job's objects.
    type: str
    default: default
  state:
    description: C(present) submits the job; C(absent) deletes every object of it (and, through them, its pods).
    type: str
    default: present
    choices: [present, absent]
  framework:
    description: What to render.
    type: str
    choices: [paddle, pytorch, mpi, data_split]
    default: paddle
  image:
    description: The container image. Required with O(state=present).
    type: str
  image_pull_policy:
    description: The containers' image pull policy (left to the cluster's default when unset).
    type: str
    choices: [Always, IfNotPresent, Never]
  command:
    description:
      - The training command. For C(paddle) it runs after the launcher; for C(pytorch) it is what C(torchrun) runs
        (a script and its arguments, or C(-m module)) when O(torchrun=true). For C(mpi) it is what C(mpirun) runs.
    type: list
    elements: str
  args:
    description: Arguments added after O(command) (the container's C(args)).
    type: list
    elements: str
  workers:
    description: Number of trainer pods (MPI workers; ignored by C(data_split) unless O(split_count) is unset).
    type: int
    default: 1
  pservers:
    description: Number of PaddlePaddle parameter servers; more than 0 selects parameter-server mode.
    type: int
    default: 0
  cpu:
    description: CPU request and limit of each trainer, as a Kubernetes quantity (C(2), C(500m)).
    type: str
  memory:
    description: Memory request and limit of each trainer (C(4Gi)).
    type: str
  gpus:
    description:
      - C(nvidia.com/gpu) limit of each trainer. With 0, PaddlePaddle is told to use gloo on CPU.
      - C(pytorch) runs one C(torchrun) process per GPU, each on C(cuda:LOCAL_RANK) (the shipped C(train_pytorch.py));
        C(paddle) takes at most 1 (one trainer process per pod; add O(workers) for more GPUs).
      - GPU pods get a memory-backed C(/dev/shm) (O(shm_size)).
    type: int
    default: 0
  checkpoint_path:
    description:
      - Where the job's checkpoints live, relative to O(mount_path); the field C({job}) is the job's name. The
        launcher exports it as C(TRAINKIT_CHECKPOINT_DIR) (created), one directory for the whole job, and the shipped
        scripts save there and resume from the newest complete checkpoint (docs/training.md, "Checkpoints"). Empty -
        no checkpoints. Needs O(data_pvc).
    type: str
    default: "{job}/checkpoints"
  checkpoint_every:
    description: Steps between checkpoints (C(TRAINKIT_CHECKPOINT_EVERY)); C(0) - none.
    type: int
    default: 50
  shm_size:
    description:
      - Size limit of the memory-backed C(emptyDir) mounted at C(/dev/shm) in pods with O(gpus) > 0. Container
        runtimes give 64 MiB, which NCCL's shared-memory transport outgrows once a pod runs several processes.
      - What is written there counts against the container's memory limit (O(memory)). C(0) mounts none.
    type: str
    default: 1Gi
  node_selector:
    description: Node labels the pods must match, e.g. C(node.kubernetes.io/instance-type).
    type: dict
  efa:
    description:
      - Elastic Fabric Adapter devices each worker requests (C(vpc.amazonaws.com/efa), which the AWS EFA device
        plugin advertises on EFA nodes - trainkit.aws.eksctl_cluster's O(trainkit.aws.eksctl_cluster#module:nodegroups[].efa),
        role C(trainkit.aws.addons)). Pods holding EFA devices get C(FI_PROVIDER=efa), and on p4d/p5 nodes
        C(FI_EFA_USE_DEVICE_RDMA=1) (aws-ofi-nccl's doc/efa-env-var.md); O(env) overrides them.
      - A number (C(0) - none), or V(auto) - for a job of several workers (not C(data_split)), when the nodes matching
        O(node_selector) include EFA nodes (label C(vpc.amazonaws.com/efa.present=true)) and either the job has GPUs
        or every matching node is an EFA node, the fewest devices those EFA nodes advertise (all of a node's devices, so one
        worker per EFA node), after waiting up to O(wait_timeout) for each to advertise some; otherwise 0. A CPU
        job beside EFA GPU nodes is left alone.
    type: str
    default: "0"
  tolerations:
    description: Tolerations of the pods (C(key), C(operator), C(value), C(effect), C(tolerationSeconds)).
    type: list
    elements: dict
  data_pvc:
    description: A PersistentVolumeClaim (EFS or FSx) mounted at O(mount_path) in every pod.
    type: str
  mount_path:
    description: Where O(data_pvc) is mounted; C(JOB_PATH) in the tutorial's terms.
    type: str
    default: /mnt/data
  data_subpath:
    description:
      - Each trainer's data directory under O(mount_path); C({job}) and C({rank}) are replaced. The launcher
        exports it as C(TRAINKIT_DATA_DIR).
    type: str
    default: "{job}/data/{rank}"
  output_path:
    description:
      - Each trainer's output directory under O(mount_path); C({job}) and C({rank}) are replaced. The launcher
        creates it and exports it as C(TRAINKIT_OUTPUT_DIR).
    type: str
    default: "{job}/output/node_{rank}"
  env:
    description: Extra environment variables of the containers; they win over the rendered ones.
    type: dict
  ports:
    description: The framework's ports (the tutorial's C(CONF_PADDLE_PORT), C(PORTS_NUM), C(PORTS_NUM_SPARSE)).
    type: dict
    suboptions:
      base:
        description: The first port; also C(MASTER_PORT) for PyTorch and the endpoint port of PaddlePaddle.
        type: int
        default: 7164
      num:
        description: Number of dense ports.
        type: int
        default: 1
      num_sparse:
        description: Number of sparse ports.
        type: int
        default: 0
      host_port:
        description: Also expose each port as a C(hostPort) (as the tutorial did).
        type: bool
        default: false
  nic:
    description:
      - The network interface the frameworks use (C(CONF_PADDLE_NIC), and C(GLOO_SOCKET_IFNAME) through the
        launcher). Unset leaves the choice to the framework (C(CONF_PADDLE_NIC) then says C(eth0)).
    type: str
  restart_limit:
    description:
      - The Job's C(backoffLimit). Its C(podFailurePolicy) already fails the job at the first non-zero exit of the
        training container (the code failed - no blind retries) and ignores pods lost to a disruption
        (C(DisruptionTarget)), so this counts only failures neither rule matches.
    type: int
    default: 0
  max_restarts:
    description:
      - With O(wait=true), how many times the module restarts the whole job from its checkpoint after a
        disruption - a pod evicted, preempted or deleted, or its node gone (a spot reclaim). The job is deleted and
        submitted again with the next C(TRAINKIT_RESTART_COUNT), and its scripts resume from their newest
        checkpoint (O(checkpoint_path)). One more disruption fails the module. C(0) - none.
      - Collective jobs restart as a group - PyTorch, Paddle and MPI alike - since a lost rank stops every other rank
        (docs/training.md, "Failures and restarts", says why not torchrun's elastic restarts).
    type: int
    default: 3
  active_deadline_seconds:
    description: The Job's C(activeDeadlineSeconds).
    type: int
  peer_discovery:
    description:
      - How PyTorch pods find their master. C(dns) uses the headless Service name C(<name>-0.<name>); C(api)
        waits for all pods through the API server and uses pod IPs (for clusters without cluster DNS, such as the
        local one). PaddlePaddle pods always list the job's pods, as in the tutorial.
    type: str
    choices: [dns, api]
    default: dns
  torchrun:
    description: Run O(command) under C(torchrun) (C(python -m torch.distributed.run)) for C(pytorch).
    type: bool
    default: true
  nproc_per_node:
    description:
      - C(torchrun) processes per pod; defaults to O(gpus), at least 1. With O(gpus) > 0 it must equal O(gpus)
        (one process per GPU).
    type: int
  slots_per_worker:
    description: MPI slots per worker; defaults to O(gpus), at least 1.
    type: int
  mpi_implementation:
    description:
      - The MPI the images carry, as the MPI operator names it; it sets the launcher's hostfile and launch variables
        for that implementation (C(OMPI_MCA_*), C(HYDRA_*), C(I_MPI_*)).
    type: str
    choices: [OpenMPI, MPICH, Intel]
    default: OpenMPI
  worker_command:
    description:
      - What the MPI workers run - an SSH server, which the launcher's C(mpirun) logs into. Default
        C(/usr/sbin/sshd -De), as the MPI operator's images run it; an empty list runs the image's own command.
    type: list
    elements: str
  split_count:
    description: Number of shards a C(data_split) job writes (C(SPLIT_COUNT)); defaults to O(workers).
    type: int
  split_for:
    description: The training job whose C(<job>/data) directory a C(data_split) job fills; defaults to O(name).
    type: str
  files:
    description:
      - Extra files (name to content) for the ConfigMap mounted at C(/opt/trainkit), e.g. a training script.
    type: dict
  labels:
    description: Extra labels of every object and pod.
    type: dict
  pod_annotations:
    description: Annotations of the pods.
    type: dict
  launch_timeout:
    description: Seconds the launcher waits for all of the job's pods to be running before it gives up.
    type: int
    default: 600
  recreate:
    description: Delete an existing job (finished or not) and submit it again.
    type: bool
    default: false
  wait:
    description: Wait until the job succeeds or fails. A failed job fails the task, with the failed pods' log tails.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait=true), or for deletion with O(state=absent).
    type: int
    default: 900
  log_lines:
    description: Lines of log returned for each failed pod.
    type: int
    default: 40
  kubeconfig:
    description: Path of the kubeconfig (the C(K8S_AUTH_KUBECONFIG) environment variable, then C(KUBECONFIG)).
    type: path
  context:
    description: The kubeconfig context (C(K8S_AUTH_CONTEXT)); its current context when unset.
    type: str
notes:
  - Pod log tails come from the API server's C(pods/log) and, where the kubelet cannot be reached, from the
    container's termination message (the containers use C(terminationMessagePolicy=FallbackToLogsOnError)).
seealso:
  - module: trainkit.aws.k8s_apply
"""

EXAMPLES = r"""
- name: Three PaddlePaddle trainers over the EFS claim, waiting for the result
  trainkit.aws.training_job:
    name: fit-a-line
    framework: paddle
    image: paddlepaddle/paddle:3.3.1
    command: [python3, /opt/trainkit/train.py]
    workers: 3
    cpu: "2"
    memory: 4Gi
    data_pvc: efsvol
    wait: true
  register: job

- name: PyTorch DDP on two 8-GPU nodes
  trainkit.aws.training_job:
    name: resnet
    framework: pytorch
    image: pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime
    command: [/workspace/train.py, --epochs, "10"]
    workers: 2
    gpus: 8  # one torchrun process per GPU, each on cuda:LOCAL_RANK
    memory: 64Gi
    shm_size: 16Gi
    node_selector:
      node.kubernetes.io/instance-type: p5.48xlarge
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}

- name: Split the data set into one shard per trainer
  trainkit.aws.training_job:
    name: fit-a-line-split
    framework: data_split
    split_for: fit-a-line
    split_count: 3
    image: python:3.12-slim
    command: [python3, /opt/trainkit/split_data.py]
    data_pvc: efsvol
    wait: true

- name: Remove the job's objects
  trainkit.aws.training_job:
    name: fit-a-line
    state: absent
"""

RETURN = r"""
status:
  description: C(succeeded), C(failed), C(running), C(pending), or C(absent) (after O(state=absent)).
  returned: always
  type: str
  sample: succeeded
job:
  description: The job as submitted.
  returned: always
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    namespace:
      description: Its namespace.
      type: str
    framework:
      description: Its framework.
      type: str
    workers:
      description: Trainer pods.
      type: int
    pservers:
      description: Parameter-server pods.
      type: int
pods:
  description: The job's pods, sorted by role and name.
  returned: when state is present
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
    role:
      description: C(trainer), C(pserver), C(launcher), C(worker) or C(split).
      type: str
    phase:
      description: Pod phase.
      type: str
    exit_code:
      description: Exit code of the finished container (null while it runs).
      type: int
    node:
      description: The node it runs on.
      type: str
    ip:
      description: Pod IP.
      type: str
    message:
      description:
        - The finished container's termination message (what it wrote to C(/dev/termination-log), or for a failure
          the log's tail) - the fabric check's result travels there. Null while it runs.
      type: str
failed_pods:
  description: Pods that failed, with the tail of their logs.
  returned: when state is present
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
    exit_code:
      description: Exit code.
      type: int
    reason:
      description: Why the container ended (C(Error), C(OOMKilled)).
      type: str
    log_tail:
      description: The last O(log_lines) lines of its log.
      type: str
    finished_at:
      description: When its container ended (failed pods are sorted by it, the first failure first).
      type: str
restarts:
  description:
    - The whole-job restarts after disruptions (O(max_restarts)), in order; the last one has C(restart) null when
      max_restarts was spent and the module failed. Each attempt's scripts report the step they resumed from
      (C(resumed_from) in their C(model.json), and C(resumed from step N) in their logs).
  returned: when state is present
  type: list
  elements: dict
  contains:
    restart:
      description: Its number (1 for the first), the job's next C(TRAINKIT_RESTART_COUNT).
      type: int
    causes:
      description: What disrupted the attempt - C(pod <name> - EvictionByEvictionAPI ...), C(node <n> is gone ...).
      type: list
      elements: str
    at:
      description: When the module restarted the job (UTC).
      type: str
output_path:
  description: Where the trainers write, on the volume O(data_pvc) (C(<mount_path>/<name>/output) by default).
  returned: when O(data_pvc) is set
  type: str
  sample: /mnt/data/fit-a-line/output
efa:
  description: The EFA devices each worker requests (O(efa) resolved; 0 - none).
  returned: when state is present
  type: int
objects:
  description: The objects of the job (kind, name), in apply order.
  returned: always
  type: list
  elements: dict
"""

import inspect
import posixpath
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.basic import env_fallback

from ansible_collections.trainkit.aws.plugins.module_utils import checkpoint
from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils import launcher
from ansible_collections.trainkit.aws.plugins.module_utils import training
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import HAS_KUBERNETES
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import HAS_YAML
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import MISSING_LIBRARY
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import NOT_SERVED
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import describe
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import stripped

SPEC_KEYS = (
    "name",
    "namespace",
    "framework",
    "image",
    "image_pull_policy",
    "command",
    "args",
    "workers",
    "pservers",
    "cpu",
    "memory",
    "gpus",
    "shm_size",
    "checkpoint_path",
    "checkpoint_every",
    "node_selector",
    "tolerations",
    "data_pvc",
    "mount_path",
    "data_subpath",
    "output_path",
    "env",
    "ports",
    "nic",
    "restart_limit",
    "active_deadline_seconds",
    "peer_discovery",
    "torchrun",
    "nproc_per_node",
    "slots_per_worker",
    "mpi_implementation",
    "worker_command",
    "split_count",
    "split_for",
    "files",
    "labels",
    "pod_annotations",
    "launch_timeout",
)


def efa_devices(client, spec, wanted, timeout):
    """(EFA devices per worker, whether its nodes do GPUDirect RDMA over EFA) for O(efa): a number as given; auto as
    the option's description says, waiting for the EFA nodes to advertise their devices (the device plugin may have
    only just started: its pod runs before the kubelet has its devices)."""
    if wanted != "auto":
        return int(wanted), False
    if spec["framework"] not in ("paddle", "pytorch", "mpi") or spec["workers"] < 2:
        return 0, False
    selector = ",".join("{0}={1}".format(k, v) for k, v in sorted((spec.get("node_selector") or {}).items()))
    nodes = client.request("GET", "/api/v1/nodes", query={"labelSelector": selector} if selector else None)[1]
    matching = nodes.get("items", [])
    names = set(n["metadata"]["name"] for n in matching if node_labels(n).get(instance_types.EFA_LABEL) == "true")
    if not names or (not spec.get("gpus") and len(names) < len(matching)):
        return 0, False

    def advertised(node):
        return int(node.get("status", {}).get("allocatable", {}).get(instance_types.EFA_RESOURCE, 0) or 0)

    def ready(items):
        return all(advertised(items[name]) > 0 for name in names if name in items)

    try:
        items = client.wait_list(
            "/api/v1/nodes",
            {"labelSelector": instance_types.EFA_LABEL + "=true"},
            ready,
            timeout,
            "the EFA nodes' devices",
        )
    except K8sError:
        listing = client.request("GET", "/api/v1/nodes", query={"labelSelector": instance_types.EFA_LABEL + "=true"})[1]
        waiting = sorted(
            n["metadata"]["name"]
            for n in listing.get("items", [])
            if n["metadata"]["name"] in names and not advertised(n)
        )
        raise K8sError(
            "EFA nodes {0} advertise no {1} after {2}s, so the job would train over TCP sockets instead of EFA; "
            "nothing was submitted.".format(", ".join(waiting), instance_types.EFA_RESOURCE, timeout),
            hint="is the EFA device plugin running on them (role trainkit.aws.addons, addons_efa_device_plugin)? "
            "Set efa: 0 to train without EFA",
        )
    found = [items[name] for name in sorted(names) if name in items]
    rdma = all(
        node_labels(n).get("node.kubernetes.io/instance-type", "").split(".")[0] in training.EFA_RDMA_FAMILIES
        for n in found
    )
    return min(advertised(n) for n in found), rdma


def node_labels(node):
    return node.get("metadata", {}).get("labels") or {}


def pod_report(pod):
    status = pod.get("status", {})
    exit_code, reason, message, finished = None, None, None, ""
    for cs in status.get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated:
            exit_code, reason, message = terminated.get("exitCode"), terminated.get("reason"), terminated.get("message")
            finished = terminated.get("finishedAt") or ""
    return (
        {
            "name": pod["metadata"]["name"],
            "role": pod["metadata"].get("labels", {}).get(training.ROLE_LABEL, ""),
            "phase": status.get("phase", "Pending"),
            "exit_code": exit_code,
            "node": pod.get("spec", {}).get("nodeName"),
            "ip": status.get("podIP"),
            "message": message,
        },
        reason,
        message,
        finished,
    )


def report(client, spec, lines):
    _status, listing = client.request(
        "GET",
        "/api/v1/namespaces/{0}/pods".format(spec["namespace"]),
        query={"labelSelector": "{0}={1}".format(training.JOB_LABEL, spec["name"])},
    )
    pods, failed = [], []
    for pod in (listing or {}).get("items", []):
        entry, reason, message, finished = pod_report(pod)
        pods.append(entry)
        if entry["phase"] == "Failed":
            failed.append(
                {
                    "name": entry["name"],
                    "exit_code": entry["exit_code"],
                    "reason": reason,
                    "log_tail": client.log_tail(spec["namespace"], entry["name"], lines, message),
                    "finished_at": finished,
                }
            )
    pods.sort(key=lambda p: (p["role"], p["name"]))
    # the first to fail is usually the cause; launcher errors (exit 2, "peer died") are consequences
    failed.sort(key=lambda p: (p["finished_at"], p["exit_code"] == launcher.EXIT_LAUNCH_ERROR, p["name"]))
    return pods, failed


def wait_gone(client, objects, namespace, timeout):
    deadline = time.monotonic() + timeout
    for obj in objects:
        remaining = max(1, deadline - time.monotonic())
        client.wait(obj, namespace, lambda current: current is None, remaining, describe(obj) + " to be deleted")


def existing(client, obj, namespace):
    """The object, or None when it is not there - also when the server does not serve its kind (no CRD)."""
    try:
        return client.get(obj, namespace)
    except K8sError as exc:
        if exc.reason == NOT_SERVED:
            return None
        raise


def terminal(obj):
    return training.outcome(obj) in ("succeeded", "failed")


def condition(obj, kind):
    """The object's status condition of that type, when it is True; else None."""
    for found in (obj or {}).get("status", {}).get("conditions") or []:
        if found.get("type") == kind and found.get("status") == "True":
            return found
    return None


def disruption_of(pod):
    """Why Kubernetes took the pod away (its DisruptionTarget condition: eviction, preemption, taint, pod GC), or
    None."""
    found = condition(pod, "DisruptionTarget")
    if found is None:
        return None
    return "pod {0}: {1}{2}".format(
        pod["metadata"]["name"],
        found.get("reason") or "DisruptionTarget",
        " - " + found["message"] if found.get("message") else "",
    )


def deleted_while_running(pod):
    """The cause for a pod gone while it was pending or running (its last known state), else None."""
    phase = pod.get("status", {}).get("phase", "Pending")
    if phase not in ("Pending", "Running"):
        return None
    return "pod {0} was deleted while {1}".format(pod["metadata"]["name"], phase.lower())


class TrainingJob:
    """One run of the module, in its steps: remove, submit (recreating when asked), wait (restarting the job from
    its checkpoint after a disruption), report, exit."""

    def __init__(self, module, spec, objects, render=None):
        self.module = module
        self.params = module.params
        self.spec = spec
        self.namespace = spec["namespace"]
        self.objects = objects
        self.work = training.workloads(objects)
        self.render = render
        self.restarts = []
        self.diffs = []
        self.result = dict(
            changed=False,
            job=dict((k, spec[k]) for k in ("name", "namespace", "framework", "workers", "pservers")),
            objects=[{"kind": o["kind"], "name": o["metadata"]["name"]} for o in objects],
        )
        if spec["data_pvc"]:
            root = posixpath.join(spec["mount_path"], spec["output_path"].split("{rank}")[0].format(job=spec["name"]))
            self.result["output_path"] = (
                posixpath.dirname(root.rstrip("/")) if "{rank}" in spec["output_path"] else root
            )

    def remove(self, client):
        """state=absent: every object deleted (workloads first), then followed until gone."""
        present = [(o, existing(client, o, self.namespace)) for o in reversed(self.objects)]
        present = [(o, before) for o, before in present if before is not None]
        for obj, before in present:
            client.delete(obj, self.namespace, dry_run=self.module.check_mode, propagation="Foreground")
            self.diffs.append({"before": stripped(before), "after": {}, "before_header": describe(obj)})
        if present and not self.module.check_mode:
            wait_gone(client, [o for o, _b in present], self.namespace, self.params["wait_timeout"])
        self.result.update(changed=bool(present), status="absent")

    def submit(self, client):
        """Apply every object; a finished job is reported, not started again, unless recreate is set."""
        current = [client.get(o, self.namespace) for o in self.work]
        if all(c is not None for c in current) and not self.params["recreate"] and all(terminal(c) for c in current):
            return
        known = dict((id(o), c) for o, c in zip(self.work, current))
        if self.params["recreate"] and any(c is not None for c in current):
            self.recreate(client, [o for o, c in zip(self.work, current) if c is not None])
        for obj in self.objects:
            before = known[id(obj)] if id(obj) in known else client.get(obj, self.namespace)
            if self.params["recreate"] and id(obj) in known:
                if self.module.check_mode and before is not None:
                    continue  # the dry-run delete left it in place: a dry-run apply could not replace it
                before = None
            self.apply(client, obj, before)

    def recreate(self, client, stale):
        for obj in stale:
            client.delete(obj, self.namespace, dry_run=self.module.check_mode, propagation="Foreground")
        if not self.module.check_mode:
            wait_gone(client, stale, self.namespace, self.params["wait_timeout"])
        self.result["changed"] = True

    def apply(self, client, obj, before):
        try:
            after = client.apply(obj, self.namespace, dry_run=self.module.check_mode)
        except K8sError as exc:
            if exc.status == 422 and obj["kind"] == "Job" and before is not None:
                raise K8sError(
                    "{0} exists with a different pod template, which Kubernetes does not allow to "
                    "change: {1}".format(describe(obj), exc.msg),
                    status=exc.status,
                    hint="set recreate: true to delete the job and submit it again",
                )
            if self.module.check_mode and exc.status == 404 and before is None:
                after = obj  # its namespace does not exist yet: the dry run cannot see it
            else:
                raise
        if stripped(before) != stripped(after):
            self.result["changed"] = True
            self.diffs.append(
                {
                    "before": stripped(before) or {},
                    "after": stripped(after) or {},
                    "before_header": describe(obj),
                    "after_header": describe(obj),
                }
            )

    def pods_path(self):
        return "/api/v1/namespaces/{0}/pods".format(self.namespace)

    def selector(self):
        return "{0}={1}".format(training.JOB_LABEL, self.spec["name"])

    def pods(self, client):
        """The job's pods now, {uid: pod}, and the list's resourceVersion (to watch from)."""
        _status, listing = client.request("GET", self.pods_path(), query={"labelSelector": self.selector()})
        listing = listing or {}
        pods = dict((p["metadata"]["uid"], p) for p in listing.get("items", []))
        return pods, listing.get("metadata", {}).get("resourceVersion")

    def follow(self, client, pods, version, noted, vanished):
        """Waits for the next change to the job's pods - a watch from ``version``, 5 seconds at most, never a sleep -
        and notes it: a DisruptionTarget condition (an eviction's, which the pod shows only until it is gone), a pod
        deleted while it was pending or running. Returns the version to go on from, None to list again (410 Gone)."""
        remaining = max(1, min(5, int(self.deadline - time.monotonic())))
        query = {"labelSelector": self.selector(), "resourceVersion": version, "timeoutSeconds": str(remaining)}
        for event_type, obj in client.stream(self.pods_path(), query, remaining):
            if event_type == "ERROR":
                return None
            version = obj["metadata"].get("resourceVersion", version)
            if event_type == "BOOKMARK":
                continue
            cause = disruption_of(obj)
            if cause and cause not in noted:
                noted.append(cause)
            uid = obj["metadata"]["uid"]
            if event_type == "DELETED":
                cause = deleted_while_running(pods.pop(uid, obj))
                if cause:
                    vanished.append(cause)
            else:
                pods[uid] = obj
            return version
        return version

    def lost_nodes(self, client, pods):
        """Causes for pods whose node no longer exists (a spot instance reclaimed, a node removed)."""
        causes = []
        for node in sorted(set(p.get("spec", {}).get("nodeName") for p in pods if p.get("spec", {}).get("nodeName"))):
            if client.get({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}) is None:
                on = sorted(p["metadata"]["name"] for p in pods if p.get("spec", {}).get("nodeName") == node)
                causes.append("node {0} is gone (pods {1})".format(node, ", ".join(on)))
        return causes

    def disruptions(self, client, pods, noted, vanished, failing):
        """Why this attempt was disrupted: pods Kubernetes took away (DisruptionTarget, seen now or in an event),
        pods deleted while they ran (unless the job is failing: then its controller removes its running pods), pods
        whose node is gone (looked for when the job is failing, and every 10 seconds)."""
        causes = list(noted)
        causes += [c for c in (disruption_of(p) for p in pods) if c and c not in causes]
        if not failing:
            causes += [c for c in vanished if c not in causes]
        if failing or time.monotonic() - self.nodes_checked >= 10:
            self.nodes_checked = time.monotonic()
            causes += self.lost_nodes(client, [p for p in pods if p.get("status", {}).get("phase") != "Succeeded"])
        return causes

    def restart(self, client, causes, pods):
        """Delete the attempt (its workloads, and at once the pods of lost nodes, which no kubelet will confirm)
        and submit the job again with the next TRAINKIT_RESTART_COUNT; it resumes from its newest checkpoint."""
        for pod in pods:
            if any(
                pod.get("spec", {}).get("nodeName") and "node {0} ".format(pod["spec"]["nodeName"]) in c for c in causes
            ):
                client.request(
                    "DELETE",
                    "/api/v1/namespaces/{0}/pods/{1}".format(self.namespace, pod["metadata"]["name"]),
                    body={"gracePeriodSeconds": 0},
                )
        for obj in self.work:
            client.delete(obj, self.namespace, propagation="Foreground")
        wait_gone(client, self.work, self.namespace, max(1, self.deadline - time.monotonic()))
        self.restarts.append(
            {
                "restart": len(self.restarts) + 1,
                "causes": causes,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        self.objects = self.render(len(self.restarts))
        self.work = training.workloads(self.objects)
        for obj in self.objects:
            client.apply(obj, self.namespace)

    def wait(self, client):
        """Follow the job until it finished: the workloads read again whenever one of its pods changes (a watch on
        them). A disruption - a pod evicted, preempted or deleted, its node gone - restarts the whole job from its
        checkpoint, up to max_restarts times; the training code failing fails the module with the pods' report, at
        once."""
        self.deadline = time.monotonic() + self.params["wait_timeout"]
        self.nodes_checked = time.monotonic()
        noted, vanished, version = [], [], None
        pods = {}
        while True:
            if version is None:  # (again) from a list: pods gone meanwhile while they ran count as deleted
                listed, version = self.pods(client)
                vanished += [c for c in (deleted_while_running(p) for u, p in pods.items() if u not in listed) if c]
                pods = listed
            current = [existing(client, o, self.namespace) for o in self.work]
            outcome = training.combined([training.outcome(c) for c in current])
            if outcome == "succeeded":
                return
            failing = outcome == "failed" or any(condition(c, "FailureTarget") for c in current)
            causes = self.disruptions(client, list(pods.values()), noted, vanished, failing)
            if causes:
                # read again: a job that finished meanwhile has its pods cleaned up (the MPI operator deletes the
                # workers of a finished MPIJob), which is no disruption
                current = [existing(client, o, self.namespace) for o in self.work]
                outcome = training.combined([training.outcome(c) for c in current])
                if outcome == "succeeded":
                    return
            if causes and len(self.restarts) < self.params["max_restarts"]:
                self.restart(client, causes, list(pods.values()))
                noted, vanished, version, pods = [], [], None, {}
                continue
            if causes:
                self.restarts.append(
                    {"restart": None, "causes": causes, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                )
                self.fail_waiting(
                    client,
                    "Training job {0} was disrupted after {1} restart(s), its max_restarts: {2}".format(
                        self.spec["name"], self.params["max_restarts"], "; ".join(causes)
                    ),
                )
            if outcome == "failed":
                return  # the code failed: report() and exit() tell which pod and why
            if time.monotonic() >= self.deadline:
                self.fail_waiting(
                    client,
                    "Timed out after {0}s waiting for training job {1} to finish (status {2}). Hint: raise "
                    "wait_timeout, or look at the pods below.".format(
                        self.params["wait_timeout"], self.spec["name"], outcome
                    ),
                )
            version = self.follow(client, pods, version, noted, vanished)

    def fail_waiting(self, client, message):
        pods, failed = report(client, self.spec, self.params["log_lines"])
        now = [training.outcome(existing(client, o, self.namespace)) for o in self.work]
        self.module.fail_json(
            msg=message,
            status=training.combined(now),
            pods=pods,
            failed_pods=failed,
            restarts=self.restarts,
            **dict((k, v) for k, v in self.result.items() if k not in ("status", "restarts")),
        )

    def report(self, client):
        self.result["restarts"] = self.restarts
        current = [client.get(o, self.namespace) for o in self.work]
        self.result["status"] = training.combined([training.outcome(c) for c in current])
        if self.module.check_mode and self.result["status"] == "absent":
            self.result["status"] = "pending"
        self.result["pods"], self.result["failed_pods"] = report(client, self.spec, self.params["log_lines"])

    def exit(self):
        result = self.result
        if self.module._diff:
            result["diff"] = self.diffs
        if self.params["wait"] and result.get("status") == "failed":
            first = result["failed_pods"][0] if result["failed_pods"] else None
            detail = ""
            if first:
                # the last line that says something (tracebacks end in rules of '=' or '-')
                last = [line for line in (first["log_tail"] or "").split("\n") if any(c.isalpha() for c in line)]
                detail = ": pod {0} exited {1}{2}".format(
                    first["name"], first["exit_code"], " (" + last[-1].strip() + ")" if last else ""
                )
            self.module.fail_json(msg="Training job {0} failed{1}".format(self.spec["name"], detail), **result)
        self.module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            framework=dict(type="str", default="paddle", choices=list(training.FRAMEWORKS)),
            image=dict(type="str"),
            image_pull_policy=dict(type="str", choices=["Always", "IfNotPresent", "Never"]),
            command=dict(type="list", elements="str"),
            args=dict(type="list", elements="str"),
            workers=dict(type="int", default=1),
            pservers=dict(type="int", default=0),
            cpu=dict(type="str"),
            memory=dict(type="str"),
            gpus=dict(type="int", default=0),
            shm_size=dict(type="str", default="1Gi"),
            checkpoint_path=dict(type="str", default="{job}/checkpoints"),
            checkpoint_every=dict(type="int", default=50),
            node_selector=dict(type="dict"),
            efa=dict(type="str", default="0"),
            tolerations=dict(type="list", elements="dict"),
            data_pvc=dict(type="str"),
            mount_path=dict(type="str", default="/mnt/data"),
            data_subpath=dict(type="str", default="{job}/data/{rank}"),
            output_path=dict(type="str", default="{job}/output/node_{rank}"),
            env=dict(type="dict"),
            ports=dict(
                type="dict",
                options=dict(
                    base=dict(type="int", default=7164),
                    num=dict(type="int", default=1),
                    num_sparse=dict(type="int", default=0),
                    host_port=dict(type="bool", default=False),
                ),
            ),
            nic=dict(type="str"),
            restart_limit=dict(type="int", default=0),
            max_restarts=dict(type="int", default=3),
            active_deadline_seconds=dict(type="int"),
            peer_discovery=dict(type="str", default="dns", choices=["dns", "api"]),
            torchrun=dict(type="bool", default=True),
            nproc_per_node=dict(type="int"),
            slots_per_worker=dict(type="int"),
            mpi_implementation=dict(type="str", default="OpenMPI", choices=["OpenMPI", "MPICH", "Intel"]),
            worker_command=dict(type="list", elements="str"),
            split_count=dict(type="int"),
            split_for=dict(type="str"),
            files=dict(type="dict"),
            labels=dict(type="dict"),
            pod_annotations=dict(type="dict"),
            launch_timeout=dict(type="int", default=600),
            recreate=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=900),
            log_lines=dict(type="int", default=40),
            kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
            context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
        ),
        required_if=[["state", "present", ["image"]]],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg="PyYAML is required (it comes with ansible-core)")
    if not HAS_KUBERNETES:
        module.fail_json(msg=MISSING_LIBRARY)
    p = module.params
    spec = dict((k, p[k]) for k in SPEC_KEYS)
    if p["state"] == "absent":
        spec["image"] = spec["image"] or "unused"
        spec["command"] = spec["command"] or ["unused"]
    found = training.problems(spec)
    if p["wait_timeout"] < 1 or p["log_lines"] < 1 or p["launch_timeout"] < 1:
        found.append("wait_timeout, log_lines and launch_timeout must be at least 1")
    efa = str(p["efa"]).strip().lower()
    if efa != "auto" and not efa.isdigit():
        found.append("efa must be auto or a number of EFA devices (0 or more), got {0!r}".format(p["efa"]))
    if found:
        module.fail_json(msg="Invalid input, nothing was changed: " + "; ".join(found), problems=found)

    client = None
    try:
        client = Client(p["kubeconfig"], p["context"])
    except K8sError as exc:
        module.fail_json(msg=exc.msg + (" Hint: " + exc.hint if exc.hint else ""), hint=exc.hint)
    if p["state"] == "present":
        try:
            spec["efa"], spec["efa_rdma"] = efa_devices(client, spec, efa, p["wait_timeout"])
        except K8sError as exc:
            client.close()
            module.fail_json(msg=exc.msg + (" Hint: " + exc.hint if exc.hint else ""), hint=exc.hint)
    sources = (inspect.getsource(launcher), inspect.getsource(checkpoint))
    objects = training.render(spec, *sources)
    job = TrainingJob(
        module, spec, objects, lambda restarts: training.render(dict(spec, restart_count=restarts), *sources)
    )
    if p["state"] == "present":
        job.result["efa"] = spec["efa"]
    try:
        if p["state"] == "absent":
            job.remove(client)
        else:
            job.submit(client)
            if p["wait"] and not module.check_mode:
                job.wait(client)
            job.report(client)
    except K8sError as exc:
        text = exc.msg + (" Hint: " + exc.hint if exc.hint else "")
        module.fail_json(msg=text, hint=exc.hint, **job.result)
    finally:
        if client is not None:
            client.close()
    job.exit()


if __name__ == "__main__":
    main()
