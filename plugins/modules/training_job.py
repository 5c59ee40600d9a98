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
extends_documentation_fragment:
  - trainkit.aws.k8s
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

from ansible_collections.trainkit.aws.plugins.module_utils import checkpoint
from ansible_collections.trainkit.aws.plugins.module_utils import launcher
from ansible_collections.trainkit.aws.plugins.module_utils import training
from ansible_collections.trainkit.aws.plugins.module_utils._training_job import TrainingJob
from ansible_collections.trainkit.aws.plugins.module_utils._training_job import efa_devices
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_module import K8sModule

# the options that say how the module runs, not what the job is: every other option is part of the job's spec
RUN_OPTIONS = ("state", "efa", "max_restarts", "recreate", "wait", "wait_timeout", "log_lines")


def main():
    module = K8sModule(
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
        ),
        required_if=[["state", "present", ["image"]]],
        supports_check_mode=True,
        needs_yaml=True,
    )
    p = module.params
    spec = dict((k, v) for k, v in p.items() if k not in RUN_OPTIONS + ("kubeconfig", "context"))
    if p["state"] == "absent":
        spec["image"] = spec["image"] or "unused"
        spec["command"] = spec["command"] or ["unused"]
    found = training.problems(spec)
    if p["wait_timeout"] < 1 or p["log_lines"] < 1 or p["launch_timeout"] < 1:
        found.append("wait_timeout, log_lines and launch_timeout must be at least 1")
    efa = str(p["efa"]).strip().lower()
    if efa != "auto" and not efa.isdigit():
        found.append("efa must be auto or a number of EFA devices (0 or more), got {0!r}".format(p["efa"]))
    module.fail_on_problems(found)

    client = module.client
    if p["state"] == "present":
        try:
            spec["efa"], spec["efa_rdma"] = efa_devices(client, spec, efa, p["wait_timeout"])
        except K8sError as exc:
            module.fail_k8s(exc)
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
        module.fail_k8s(exc, **job.result)
    job.exit()


if __name__ == "__main__":
    main()
