# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Distributed training jobs as Kubernetes objects: validation and rendering (pure functions, no API calls).

``render(spec, launcher_source, checkpoint_source)`` turns a training_job spec into the objects to apply, in order:
ServiceAccount/Role/RoleBinding for the launcher (only where it lists pods), the ConfigMap with the launcher and
extra files, a headless Service (pytorch), and the Job(s) or MPIJob.
"""

from __future__ import annotations

import re

FRAMEWORKS = ("paddle", "pytorch", "mpi", "data_split")
LAUNCHER_DIR = "/opt/trainkit"
JOB_LABEL = "trainkit.io/job"
ROLE_LABEL = "trainkit.io/role"
FRAMEWORK_LABEL = "trainkit.io/framework"
MANAGED_BY = {"app.kubernetes.io/managed-by": "trainkit"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
TOLERATION_KEYS = ("key", "operator", "value", "effect", "tolerationSeconds")
RESERVED_FILES = ("launcher.py", "checkpoint.py")
MPI_IMPLEMENTATIONS = ("OpenMPI", "MPICH", "Intel")
SSHD_COMMAND = ("/usr/sbin/sshd", "-De")  # what the MPI operator's images run on workers
SHM_VOLUME = "dshm"
DEFAULT_SHM_SIZE = "1Gi"
# EFA: what libfabric and aws-ofi-nccl are told in pods that hold EFA devices (EFA_RESOURCE, which the AWS EFA
# device plugin advertises) (aws-ofi-nccl's doc/efa-env-var.md): FI_PROVIDER=efa, which plugin versions up to 1.5
# need and later ones set themselves; FI_EFA_USE_DEVICE_RDMA=1 on the GPUDirect RDMA types (p4d/p4de/p5), which
# 1.6 needs and later ones do not mind. NCCL_PROTO=simple, which up to 1.5 wanted, slows later ones: not set (put
# it in env for an image with such an old plugin).
# (this file is loaded alone - tests/harness/pod_process.py, the GPU lane - so it imports nothing of the collection:
# the resource's name is instance_types.EFA_RESOURCE's, which a unit test holds them to)
EFA_RESOURCE = "vpc.amazonaws.com/efa"
EFA_ENV = {"FI_PROVIDER": "efa"}
EFA_RDMA_FAMILIES = ("p4d", "p4de", "p5", "p5e", "p5en")
MAX_NAME = 52  # Job names above 52 characters leave no room for the pod name suffix (63)


def problems(spec):
    """Every problem with a spec, as messages; empty when the spec can be rendered."""
    out = []
    name = spec.get("name") or ""
    if not DNS_LABEL.match(name) or len(name) > MAX_NAME:
        out.append(
            "name {0!r} must be a DNS label (lower-case letters, digits and '-', starting and ending with a letter "
            "or digit) of at most {1} characters".format(name, MAX_NAME)
        )
    namespace = spec.get("namespace") or ""
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        out.append("namespace {0!r} must be a DNS label of at most 63 characters".format(namespace))
    framework = spec.get("framework")
    if framework not in FRAMEWORKS:
        out.append("framework must be one of {0}, got {1!r}".format(", ".join(FRAMEWORKS), framework))
    if not spec.get("image"):
        out.append("image is required")
    if spec.get("workers", 1) < 1:
        out.append("workers must be at least 1, got {0}".format(spec.get("workers")))
    if spec.get("workers", 1) > 10000:
        out.append("workers must be at most 10000, got {0}".format(spec.get("workers")))
    pservers = spec.get("pservers") or 0
    if pservers < 0:
        out.append("pservers must be 0 or more, got {0}".format(pservers))
    if pservers and framework != "paddle":
        out.append("pservers (parameter-server mode) is for framework paddle only")
    gpus = spec.get("gpus") or 0
    if gpus < 0:
        out.append("gpus must be 0 or more, got {0}".format(gpus))
    if framework == "paddle" and gpus > 1:
        out.append(
            "gpus {0}: a paddle trainer is one process on one GPU; for more GPUs add workers (one GPU each)".format(
                gpus
            )
        )
    nproc = spec.get("nproc_per_node")
    if framework == "pytorch" and gpus > 0 and nproc and nproc != gpus:
        out.append(
            "nproc_per_node {0} with gpus {1}: torchrun runs one process per GPU, so leave nproc_per_node unset "
            "or make it {1}".format(nproc, gpus)
        )
    shm = spec.get("shm_size")
    if shm is not None and str(shm) != "0" and not QUANTITY.match(str(shm)):
        out.append("shm_size {0!r} is not a Kubernetes quantity (e.g. 1Gi), or 0 for none".format(shm))
    if (spec.get("restart_limit") or 0) < 0:
        out.append("restart_limit must be 0 or more, got {0}".format(spec.get("restart_limit")))
    for key in ("cpu", "memory"):
        value = spec.get(key)
        if value is not None and not QUANTITY.match(str(value)):
            out.append("{0} {1!r} is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)".format(key, value))
    if framework in FRAMEWORKS and not spec.get("command"):
        out.append("command is required for framework {0}".format(framework))
    base, num, sparse, _host = ports_of(spec)
    count = num + sparse
    if num < 1 or sparse < 0:
        out.append("ports.num must be at least 1 and ports.num_sparse 0 or more")
    elif not 1024 <= base or base + count - 1 > 65535:
        out.append("ports {0}..{1} must lie within 1024..65535".format(base, base + count - 1))
    for key in spec.get("env") or {}:
        if not ENV_NAME.match(str(key)):
            out.append("env name {0!r} is not a valid variable name".format(key))
    for key in spec.get("files") or {}:
        if not FILE_NAME.match(str(key)) or key in RESERVED_FILES:
            out.append(
                "files key {0!r} must be a plain file name other than {1}".format(key, ", ".join(RESERVED_FILES))
            )
    for toleration in spec.get("tolerations") or []:
        if not isinstance(toleration, dict) or set(toleration) - set(TOLERATION_KEYS):
            out.append("tolerations entries take only {0}; got {1!r}".format(", ".join(TOLERATION_KEYS), toleration))
    mount = spec.get("mount_path") or ""
    if spec.get("data_pvc"):
        if not DNS_SUBDOMAIN.match(spec["data_pvc"]):
            out.append("data_pvc {0!r} is not a valid claim name".format(spec["data_pvc"]))
        if not mount.startswith("/") or mount.rstrip("/") in ("", LAUNCHER_DIR):
            out.append("mount_path must be an absolute path other than / and {0}".format(LAUNCHER_DIR))
    if (spec.get("checkpoint_every") or 0) < 0:
        out.append("checkpoint_every must be 0 or more, got {0}".format(spec.get("checkpoint_every")))
    if "{rank}" in (spec.get("checkpoint_path") or ""):
        out.append("checkpoint_path is one directory for the whole job: it may use {job} but not {rank}")
    for key in ("data_subpath", "output_path", "checkpoint_path"):
        pattern = spec.get(key) or ""
        try:
            pattern.format(job="j", rank=0)
        except (KeyError, IndexError, ValueError):
            out.append("{0} {1!r} may only use the fields {{job}} and {{rank}}".format(key, pattern))
        if pattern.startswith("/") or ".." in pattern.split("/"):
            out.append("{0} {1!r} must be relative to mount_path, without '..'".format(key, pattern))
    if framework == "data_split" and (spec.get("split_count") or spec.get("workers", 1)) < 1:
        out.append("split_count must be at least 1")
    if spec.get("mpi_implementation") not in (None,) + MPI_IMPLEMENTATIONS:
        out.append("mpi_implementation must be one of {0}".format(", ".join(MPI_IMPLEMENTATIONS)))
    if spec.get("peer_discovery") not in (None, "api", "dns"):
        out.append("peer_discovery must be api or dns")
    return out


def labels(spec, role=None):
    out = dict(MANAGED_BY)
    out.update(spec.get("labels") or {})
    out[JOB_LABEL] = spec["name"]
    out[FRAMEWORK_LABEL] = spec["framework"]
    if role:
        out[ROLE_LABEL] = role
    return out


def meta(spec, name, role=None):
    return {"name": name, "namespace": spec["namespace"], "labels": labels(spec, role)}


def launcher_name(spec):
    return spec["name"] + "-launcher"


def uses_api_discovery(spec):
    """Whether the launcher lists the job's pods (and so needs its Role)."""
    if spec["framework"] == "paddle":
        return True
    return spec["framework"] == "pytorch" and spec.get("peer_discovery") == "api"


def field_env(name, path):
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def ports_of(spec):
    ports = spec.get("ports") or {}
    base = ports.get("base", 7164)
    num, sparse = ports.get("num", 1), ports.get("num_sparse", 0)
    return base, num, sparse, bool(ports.get("host_port"))


def trainer_count(spec):
    """TRAINER_COUNT as the tutorial used it: threads (CPU) or GPUs per trainer."""
    if spec.get("gpus"):
        return spec["gpus"]
    cpu = str(spec.get("cpu") or "1")
    return max(1, int(float(cpu[:-1]) / 1000) if cpu.endswith("m") else int(float(cpu)))


def shm_size(spec):
    """The size of the memory-backed /dev/shm of GPU pods, or None for none.

    Container runtimes give a container 64 MiB of /dev/shm; NCCL keeps its intra-node buffers there (and PyTorch's
    DataLoader workers their batches), which several processes per pod outgrow. Memory-backed, so what is written
    counts against the container's memory limit (Kubernetes: volumes, emptyDir medium Memory).
    """
    size = str(spec.get("shm_size") if spec.get("shm_size") is not None else DEFAULT_SHM_SIZE)
    if not spec.get("gpus") or size in ("", "0"):
        return None
    return size


def container_env(spec, role):
    base, num, sparse, _host = ports_of(spec)
    mount = (spec.get("mount_path") or "").rstrip("/")
    env = [
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("POD_IP", "status.podIP"),
        {"name": "JOB_NAME", "value": spec["name"]},
        field_env("JOB_NAMESPACE", "metadata.namespace"),
    ]
    plain = {}
    if spec["framework"] == "mpi" and spec.get("data_pvc"):
        plain["TRAINKIT_MOUNT_PATH"] = mount
        plain["TRAINKIT_DATA_SUBPATH"] = spec.get("data_subpath") or ""
        plain["TRAINKIT_OUTPUT_PATH"] = spec.get("output_path") or ""
    if spec["framework"] in ("paddle", "pytorch", "mpi"):
        plain["TRAINKIT_RESTART_COUNT"] = str(spec.get("restart_count") or 0)
        if spec.get("data_pvc") and spec.get("checkpoint_path"):
            plain["TRAINKIT_CHECKPOINT_PATH"] = spec["checkpoint_path"]
            plain["TRAINKIT_CHECKPOINT_EVERY"] = str(spec.get("checkpoint_every", 50))
    if spec["framework"] in ("paddle", "pytorch"):
        plain.update(
            {
                "TRAINKIT_JOB": spec["name"],
                "TRAINKIT_ROLE": role,
                "TRAINKIT_WORKERS": str(spec["workers"]),
                "TRAINKIT_PSERVERS": str(spec.get("pservers") or 0),
                "TRAINKIT_PORT": str(base),
                "TRAINKIT_SERVICE_ACCOUNT": launcher_name(spec) if uses_api_discovery(spec) else "default",
                "TRAINKIT_LAUNCH_TIMEOUT": str(spec.get("launch_timeout") or 600),
            }
        )
        if spec.get("nic"):
            plain["TRAINKIT_NIC"] = spec["nic"]
        if spec.get("data_pvc"):
            plain["TRAINKIT_MOUNT_PATH"] = mount
            plain["TRAINKIT_DATA_SUBPATH"] = spec.get("data_subpath") or ""
            plain["TRAINKIT_OUTPUT_PATH"] = spec.get("output_path") or ""
    if spec["framework"] == "paddle":
        plain.update(
            {
                "JOB_PATH": mount,
                "TRAIN_CONFIG_DIR": spec["name"],
                "CONF_PADDLE_NIC": spec.get("nic") or "eth0",
                "CONF_PADDLE_PORT": str(base),
                "CONF_PADDLE_PORTS_NUM": str(num),
                "CONF_PADDLE_PORTS_NUM_SPARSE": str(sparse),
                "CONF_PADDLE_GRADIENT_NUM": str(spec["workers"]),
                "TRAINER_COUNT": str(trainer_count(spec)),
            }
        )
        if not spec.get("gpus"):
            plain["PADDLE_DISTRI_BACKEND"] = "gloo"
        if spec.get("pservers"):
            plain["FLAGS_enable_pir_api"] = "0"  # Paddle's parameter-server code runs on the old IR only
    elif spec["framework"] == "pytorch":
        plain.update(
            {
                "TRAINKIT_PEER_DISCOVERY": spec.get("peer_discovery") or "dns",
                "TRAINKIT_SERVICE": spec["name"],
                "MASTER_ADDR": "{0}-0.{0}".format(spec["name"]),
                "MASTER_PORT": str(base),
            }
        )
    elif spec["framework"] == "data_split":
        target = spec.get("split_for") or spec["name"]
        plain.update(
            {
                "JOB_PATH": mount,
                "OUT_DIR": "{0}/{1}/data".format(mount, target),
                "SPLIT_COUNT": str(spec.get("split_count") or spec["workers"]),
            }
        )
    if spec.get("efa") and spec["framework"] in ("paddle", "pytorch", "mpi"):
        plain.update(EFA_ENV)
        if spec.get("efa_rdma"):
            plain["FI_EFA_USE_DEVICE_RDMA"] = "1"
    plain.update(dict((k, str(v)) for k, v in (spec.get("env") or {}).items()))
    env.extend({"name": k, "value": v} for k, v in sorted(plain.items()))
    return env


def resources(spec):
    requests, limits = {}, {}
    if spec.get("cpu"):
        requests["cpu"] = limits["cpu"] = str(spec["cpu"])
    if spec.get("memory"):
        requests["memory"] = limits["memory"] = str(spec["memory"])
    if spec.get("gpus"):
        limits["nvidia.com/gpu"] = str(spec["gpus"])
    if spec.get("efa"):
        limits[EFA_RESOURCE] = str(spec["efa"])  # an extended resource: the request follows the limit
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def container(spec, role, name="trainer"):
    command = list(spec.get("command") or [])
    if spec["framework"] in ("paddle", "pytorch"):
        prefix = ["python3", LAUNCHER_DIR + "/launcher.py", "--framework", spec["framework"]]
        if spec["framework"] == "pytorch" and spec.get("torchrun", True):
            prefix += [
                "--torchrun",
                "--nproc-per-node",
                str(spec.get("nproc_per_node") or max(1, spec.get("gpus") or 0)),
            ]
        command = prefix + ["--"] + command
    out = {
        "name": name,
        "image": spec["image"],
        "env": container_env(spec, role),
        "volumeMounts": [{"name": "trainkit", "mountPath": LAUNCHER_DIR, "readOnly": True}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if command:
        out["command"] = command
    if spec.get("args"):
        out["args"] = list(spec["args"])
    if spec.get("image_pull_policy"):
        out["imagePullPolicy"] = spec["image_pull_policy"]
    if spec["framework"] in ("paddle", "pytorch"):
        base, num, sparse, host = ports_of(spec)
        ports = []
        for i, port in enumerate(range(base, base + num + sparse)):
            entry = {"name": "p{0}".format(i), "containerPort": port, "protocol": "TCP"}
            if host:
                entry["hostPort"] = port
            ports.append(entry)
        out["ports"] = ports
    if spec.get("data_pvc"):
        out["volumeMounts"].append({"name": "data", "mountPath": spec["mount_path"].rstrip("/")})
    if shm_size(spec):
        out["volumeMounts"].append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    res = resources(spec)
    if res:
        out["resources"] = res
    return out


def pod_template(spec, role, restart_policy="Never", name="trainer"):
    annotations = dict(spec.get("pod_annotations") or {})
    pod = {
        "restartPolicy": restart_policy,
        "containers": [container(spec, role, name)],
        "volumes": [
            {"name": "trainkit", "configMap": {"name": launcher_name(spec), "defaultMode": 0o755}},
        ],
    }
    if uses_api_discovery(spec):
        pod["serviceAccountName"] = launcher_name(spec)
        pod["automountServiceAccountToken"] = True
    if spec.get("data_pvc"):
        pod["volumes"].append({"name": "data", "persistentVolumeClaim": {"claimName": spec["data_pvc"]}})
    if shm_size(spec):
        pod["volumes"].append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": shm_size(spec)}})
    if spec.get("node_selector"):
        pod["nodeSelector"] = dict((k, str(v)) for k, v in spec["node_selector"].items())
    if spec.get("tolerations"):
        pod["tolerations"] = [dict(t) for t in spec["tolerations"]]
    if spec["framework"] == "pytorch":
        pod["subdomain"] = spec["name"]
    template = {"metadata": {"labels": labels(spec, role)}, "spec": pod}
    if annotations:
        template["metadata"]["annotations"] = dict((k, str(v)) for k, v in annotations.items())
    return template


def failure_policy(container_name):
    """The Job's podFailurePolicy (Kubernetes 1.31+, GA): a pod lost to a disruption - evicted, preempted, its node
    gone (condition DisruptionTarget) - does not count against the job's failures; the training code failing (a
    non-zero exit of the container) fails the job at once, with no blind retries. Restarting a collective job from
    its checkpoint after a disruption is the module's (training_job's wait)."""
    return {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": container_name, "operator": "NotIn", "values": [0]}},
        ]
    }


def job(spec, name, role, count, indexed=False):
    body = {
        "parallelism": count,
        "completions": count,
        "backoffLimit": spec.get("restart_limit") or 0,
        "podFailurePolicy": failure_policy("trainer"),
        "template": pod_template(spec, role),
    }
    if indexed:
        body["completionMode"] = "Indexed"
    if spec.get("active_deadline_seconds"):
        body["activeDeadlineSeconds"] = spec["active_deadline_seconds"]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(spec, name, role), "spec": body}


def rbac(spec):
    name = launcher_name(spec)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(spec, name)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(spec, name),
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(spec, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": spec["namespace"]}],
        },
    ]


def config_map(spec, launcher_source, checkpoint_source=None):
    data = dict((k, str(v)) for k, v in (spec.get("files") or {}).items())
    data["launcher.py"] = launcher_source
    if checkpoint_source is not None:
        data["checkpoint.py"] = checkpoint_source
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(spec, launcher_name(spec)), "data": data}


def mpi_job(spec):
    slots = spec.get("slots_per_worker") or max(1, spec.get("gpus") or 0)
    launcher = pod_template(spec, "launcher", name="launcher")
    launcher["spec"].pop("restartPolicy")  # the operator sets it from the replica's restartPolicy
    launcher_container = launcher["spec"]["containers"][0]
    launcher_container.pop("resources", None)
    # the launcher only runs mpirun: no GPU, so no /dev/shm volume either
    launcher["spec"]["volumes"] = [v for v in launcher["spec"]["volumes"] if v["name"] != SHM_VOLUME]
    launcher_container["volumeMounts"] = [m for m in launcher_container["volumeMounts"] if m["name"] != SHM_VOLUME]
    launcher_container["command"] = ["mpirun", "-np", str(spec["workers"] * slots)] + list(spec.get("command") or [])
    worker = pod_template(spec, "worker", name="worker")
    worker["spec"].pop("restartPolicy")
    worker_container = worker["spec"]["containers"][0]
    worker_container.pop("args", None)
    worker_command = spec.get("worker_command")
    if worker_command is None:
        worker_command = list(SSHD_COMMAND)
    if worker_command:
        worker_container["command"] = list(worker_command)
    else:
        worker_container.pop("command", None)
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": meta(spec, spec["name"]),
        "spec": {
            "slotsPerWorker": slots,
            "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": spec.get("restart_limit") or 0},
            "mpiImplementation": spec.get("mpi_implementation") or "OpenMPI",
            # the launcher's mpirun logs into the workers at once: they must be up first
            "launcherCreationPolicy": "WaitForWorkersReady",
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "Never", "template": launcher},
                "Worker": {"replicas": spec["workers"], "restartPolicy": "Never", "template": worker},
            },
        },
    }


def render(spec, launcher_source, checkpoint_source=None):
    """The objects for a spec, in the order to apply them (the ConfigMap carries the launcher's and the checkpoint
    contract's sources, module_utils/launcher.py and checkpoint.py, beside the spec's files)."""
    objects = []
    if uses_api_discovery(spec):
        objects.extend(rbac(spec))
    objects.append(config_map(spec, launcher_source, checkpoint_source))
    framework = spec["framework"]
    if framework == "paddle":
        if spec.get("pservers"):
            objects.append(job(spec, spec["name"] + "-pserver", "pserver", spec["pservers"]))
        objects.append(job(spec, spec["name"], "trainer", spec["workers"]))
    elif framework == "pytorch":
        base = ports_of(spec)[0]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta(spec, spec["name"]),
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": True,
                    "selector": {JOB_LABEL: spec["name"]},
                    "ports": [{"name": "master", "port": base, "targetPort": base, "protocol": "TCP"}],
                },
            }
        )
        objects.append(job(spec, spec["name"], "trainer", spec["workers"], indexed=True))
    elif framework == "mpi":
        objects.append(mpi_job(spec))
    else:
        objects.append(job(spec, spec["name"], "split", 1))
    return objects


def workloads(objects):
    """The objects whose completion is the job's: Jobs and MPIJobs."""
    return [o for o in objects if o["kind"] in ("Job", "MPIJob")]


def outcome(obj):
    """'succeeded', 'failed', 'running' or 'pending' for a Job or MPIJob as the server has it (None: absent)."""
    if obj is None:
        return None
    conditions = dict((c.get("type"), c.get("status")) for c in obj.get("status", {}).get("conditions") or [])
    if conditions.get("Complete") == "True" or conditions.get("Succeeded") == "True":
        return "succeeded"
    if conditions.get("Failed") == "True":
        return "failed"
    status = obj.get("status", {})
    # a Job counts pods still waiting for a node as active too: only ready pods make it running
    if status.get("ready") or conditions.get("Running") == "True":
        return "running"
    return "pending"


def combined(outcomes):
    """One status for a job made of several workloads (pservers + trainers)."""
    if any(o is None for o in outcomes):
        return "absent"
    for state in ("failed", "running", "pending"):
        if state in outcomes:
            return state
    return "succeeded"
