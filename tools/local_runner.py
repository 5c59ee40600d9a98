"""The local cluster's stand-in for a kubelet's container runtime: pods become real local processes.

KWOK gives every pod of the local cluster a lifecycle and a loopback IP (127.P.N.x, the plane's own pod network),
but runs nothing. This runner watches
the API server for pods annotated ``trainkit.io/runner: local`` and, once KWOK has given one its IP (still Pending,
tools/kwok-stages/pod-sandbox.yaml), starts the pod's first container as a local process and reports the pod
Running, as a kubelet would - so that Running means the process is there:

- the command and args of the container spec, with ``python3``/``python`` resolved to the training interpreter
  (``--python``) and the paths of volume mounts mapped onto local directories: ConfigMap volumes are written out,
  a PersistentVolumeClaim is ``<workdir>/volumes/<namespace>/<claim>`` (shared by every pod, as EFS would be),
  an emptyDir is private to the pod;
- its environment: plain values, downward-API fields (pod name, namespace, IP, node, labels, annotations — so
  ``JOB_COMPLETION_INDEX`` arrives as on a real node), ``KUBERNETES_SERVICE_HOST``/``PORT`` of the API server,
  and a service-account token from the TokenRequest API, bound to the pod, in ``TRAINKIT_SA_DIR``; the path of
  the container's termination message (its ``terminationMessagePath`` in a real pod) in ``TRAINKIT_TERMINATION_LOG``;
- its output goes to ``<workdir>/pods/<namespace>_<pod>/log``. When it exits, the runner writes the container's
  terminated state into the pod status (phase Succeeded or Failed, exit code, and, for a failure, the last 80
  lines of the log as the termination message, as ``FallbackToLogsOnError`` does); the Job controller does the
  rest. A pod deleted while its process runs has the process group terminated.

The MPI operator's image runs the real mpi-operator binary, in a network namespace of its own where this user
can make one (tools/local_netns.py): its health check holds port 8080 of every interface, which would allow one
operator per machine on the host.

Started and stopped by tools/local-k8s with the control plane; it talks only to the API server on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from local_k8s import MPI_OPERATOR_VERSION  # noqa: E402
from local_k8s import cache_root  # noqa: E402  (the cache directory tools/local-k8s uses)
from local_k8s import mpi_operator_binary  # noqa: E402
from local_netns import available as netns_available  # noqa: E402
from proctree import kill_tree  # noqa: E402
from proctree import start_time  # noqa: E402


def collection_path():
    """A directory where this checkout imports as ansible_collections.trainkit.aws (a symlink in the cache)."""
    root = os.path.join(
        cache_root(),
        "collections",
        hashlib.sha256(os.path.realpath(os.path.join(HERE, "..")).encode()).hexdigest()[:12],
    )
    link = os.path.join(root, "ansible_collections", "trainkit", "aws")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(os.path.realpath(os.path.join(HERE, "..")), link)
        except FileExistsError:  # another runner made it meanwhile
            pass
    return root


sys.path.insert(0, collection_path())

# the collection's own client (the official kubernetes client underneath)
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client  # noqa: E402
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError  # noqa: E402

ANNOTATION = "trainkit.io/runner"
GPU_RESOURCE = "nvidia.com/gpu"
GPUS_ANNOTATION = "trainkit.io/gpus"  # the GPUs a simulated node has (plugins/module_utils/instance_types.py)
TERMINATION_LOG = "/dev/termination-log"
TERMINATION_BYTES = 4096
# Commands a node's image would have, run by the stand-ins of tools/local_standins.py
STANDINS = ("ssh", "sshd", "nvidia-smi", "nvidia-device-plugin", "efa-device-plugin")
COMMANDS = {"/usr/sbin/sshd": "sshd", "sshd": "sshd", "nvidia-smi": "nvidia-smi", "/usr/bin/nvidia-smi": "nvidia-smi"}
# Images run without a command: what the runner runs for their entrypoint
MPI_OPERATOR_IMAGE = "mpioperator/mpi-operator"
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin"
# the AWS EFA device plugin, from EKS's ECR of any region (roles/addons/defaults/main.yml)
EFA_PLUGIN_IMAGE = re.compile(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/eks/aws-efa-k8s-device-plugin$")
EFA_RESOURCE = "vpc.amazonaws.com/efa"
EFA_ANNOTATION = "trainkit.io/efa"  # the EFA interfaces a simulated node has (plugins/module_utils/instance_types.py)
# what each device plugin registers with the kubelet: its resource, from the node's annotation
PLUGGED = {"gpu": (GPU_RESOURCE, GPUS_ANNOTATION), "efa": (EFA_RESOURCE, EFA_ANNOTATION)}
FIELD = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
TAIL_LINES, TAIL_BYTES = 80, 2048


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(message):
    sys.stderr.write("{0} local-runner: {1}\n".format(now(), message))
    sys.stderr.flush()


def image_repository(image):
    """(repository, tag) of an image reference, without docker.io/ and library/ (``nginx:1`` -> ``nginx``)."""
    name = image.split("@", 1)[0]
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    for prefix in ("docker.io/", "index.docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name, tag


def gpu_limit(container):
    resources = container.get("resources") or {}
    value = (resources.get("limits") or {}).get(GPU_RESOURCE) or (resources.get("requests") or {}).get(GPU_RESOURCE)
    return int(value or 0)


def tail(path):
    """The end of a log the way FallbackToLogsOnError keeps it: at most 80 lines and 2048 bytes."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode(errors="replace").splitlines()[-TAIL_LINES:]
    text = "\n".join(lines)
    return text[-TAIL_BYTES:]


class Runner:
    def __init__(self, kubeconfig, workdir, python):
        self.client = Client(kubeconfig)
        self.workdir = os.path.abspath(workdir)
        self.python = python
        self.running = {}  # uid -> (Popen, pod dir)
        self.lock = threading.Lock()
        self.stopping = False
        self.bin_dir = os.path.join(self.workdir, "runner-bin")
        os.makedirs(self.bin_dir, exist_ok=True)
        wrappers = dict((name, '"{0}"'.format(python)) for name in ("python3", "python"))
        standins = os.path.join(HERE, "local_standins.py")
        wrappers.update((name, '"{0}" "{1}" {2}'.format(sys.executable, standins, name)) for name in STANDINS)
        for name, command in wrappers.items():
            # a wrapper, not a symlink: a virtualenv's interpreter finds its site-packages only when run by its path
            wrapper = os.path.join(self.bin_dir, name)
            with open(wrapper + ".tmp", "w") as handle:
                handle.write('#!/bin/sh\nexec {0} "$@"\n'.format(command))
            os.chmod(wrapper + ".tmp", 0o755)
            os.replace(wrapper + ".tmp", wrapper)  # never write through whatever is there now
        self.hosts_dir = os.path.join(self.workdir, "ssh-hosts")
        os.makedirs(self.hosts_dir, exist_ok=True)
        self.gpus_in_use = {}  # node -> {pod uid: [device index, ...]}
        with open(self.client.ca_file, "rb") as handle:
            self.ca_pem = handle.read()  # the cluster CA, given to each pod as its ca.crt
        self.seen = set()  # pods started once: a pod is never run twice, even after its process ended
        self.isolated = None  # whether the MPI operator gets a network namespace (tried when first needed)

    # -- API helpers -----------------------------------------------------------------------------------
    def token(self, pod):
        sa = pod["spec"].get("serviceAccountName") or "default"
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 3600,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": pod["metadata"]["uid"]},
            },
        }
        _s, doc = self.client.request("POST", "/api/v1/namespaces/{0}/serviceaccounts/{1}/token".format(ns, sa), body)
        return doc["status"]["token"]

    def config_map(self, ns, name):
        status, doc = self.client.request("GET", "/api/v1/namespaces/{0}/configmaps/{1}".format(ns, name))
        if status == 404:
            raise RuntimeError("configmap {0} not found".format(name))
        return doc.get("data") or {}

    def secret(self, ns, name):
        status, doc = self.client.request("GET", "/api/v1/namespaces/{0}/secrets/{1}".format(ns, name))
        if status == 404:
            raise RuntimeError("secret {0} not found".format(name))
        return doc.get("data") or {}

    def set_running(self, pod):
        """The pod's status once its container's process has started: phase Running, the container running and
        ready. KWOK gave the pod its IP and left it Pending (tools/kwok-stages/pod-sandbox.yaml)."""
        stamp = now()
        started = pod["spec"]["containers"][0]["name"]
        body = {
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": kind, "status": "True", "lastTransitionTime": stamp}
                    for kind in ("PodReadyToStartContainers", "Initialized", "PodScheduled", "ContainersReady", "Ready")
                ],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c.get("image", ""),
                        "imageID": "",
                        "ready": c["name"] == started,
                        "started": c["name"] == started,
                        "restartCount": 0,
                        # only the first container runs here; any other waits, as one whose image never came
                        "state": (
                            {"running": {"startedAt": stamp}}
                            if c["name"] == started
                            else {"waiting": {"reason": "ContainerCreating"}}
                        ),
                    }
                    for c in pod["spec"]["containers"]
                ],
            }
        }
        self.patch_status(pod, body, "as running")

    def set_terminated(self, pod, exit_code, message):
        stamp = now()
        container = pod["spec"]["containers"][0]
        terminated = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": pod.get("status", {}).get("startTime") or stamp,
            "finishedAt": stamp,
        }
        if message:
            terminated["message"] = message
        statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"terminated": terminated if c["name"] == container["name"] else dict(terminated, exitCode=0)},
            }
            for c in pod["spec"]["containers"]
        ]
        reason = "PodCompleted" if exit_code == 0 else "PodFailed"
        body = {
            "status": {
                "phase": "Succeeded" if exit_code == 0 else "Failed",
                "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": stamp},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                    {"type": "ContainersReady", "status": "False", "reason": reason, "lastTransitionTime": stamp},
                    {"type": "Ready", "status": "False", "reason": reason, "lastTransitionTime": stamp},
                ],
                "containerStatuses": statuses,
            }
        }
        self.patch_status(pod, body, "as exited {0}".format(exit_code))

    def patch_status(self, pod, body, what):
        """Merge ``body`` into the pod's status, as the kubelet reports; a failure is logged (the pod may be gone)."""
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        try:
            self.client.request(
                "PATCH",
                "/api/v1/namespaces/{0}/pods/{1}/status".format(ns, name),
                body,
                content_type="application/merge-patch+json",
            )
        except K8sError as exc:
            log("cannot report {0}/{1} {2}: {3}".format(ns, name, what, exc.msg))

    # -- starting a pod ----------------------------------------------------------------------------------
    def field(self, pod, path):
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
        simple = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
            "spec.nodeName": spec.get("nodeName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
            "status.podIP": status.get("podIP", ""),
            "status.hostIP": status.get("hostIP", ""),
        }
        if path in simple:
            return simple[path]
        match = FIELD.match(path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        raise RuntimeError("unsupported fieldRef {0}".format(path))

    def prepare(self, pod, pod_dir):
        """(argv, env, cwd) of the pod's first container on this machine."""
        ns = pod["metadata"]["namespace"]
        container = pod["spec"]["containers"][0]
        volumes = dict((v["name"], v) for v in pod["spec"].get("volumes") or [])
        mounts = {}
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"], {})
            if "configMap" in volume:
                local = os.path.join(pod_dir, "volumes", mount["name"])
                os.makedirs(local, exist_ok=True)
                mode = volume["configMap"].get("defaultMode", 0o644)
                for key, value in self.config_map(ns, volume["configMap"]["name"]).items():
                    path = os.path.join(local, key)
                    with open(path, "w") as handle:
                        handle.write(value)
                    os.chmod(path, mode)
            elif "secret" in volume:
                local = os.path.join(pod_dir, "volumes", mount["name"])
                os.makedirs(local, mode=0o700, exist_ok=True)
                mode = volume["secret"].get("defaultMode", 0o644)
                for key, value in self.secret(ns, volume["secret"]["secretName"]).items():
                    path = os.path.join(local, key)
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
                        handle.write(base64.b64decode(value))
                    os.chmod(path, mode)
            elif "persistentVolumeClaim" in volume:
                local = os.path.join(self.workdir, "volumes", ns, volume["persistentVolumeClaim"]["claimName"])
                os.makedirs(local, exist_ok=True)
            elif "emptyDir" in volume:
                local = os.path.join(pod_dir, "volumes", mount["name"])
                os.makedirs(local, exist_ok=True)
            else:
                continue  # service account projections are handled below; others are not simulated
            if mount.get("subPath"):
                local = os.path.join(local, mount["subPath"])
            mounts[mount["mountPath"].rstrip("/")] = local
        # the kubelet's termination-message file: what the container writes there becomes its status' message
        termination = os.path.join(pod_dir, "termination-log")
        if os.path.exists(termination):
            os.unlink(termination)
        mounts[container.get("terminationMessagePath") or TERMINATION_LOG] = termination
        prefixes = sorted(mounts, key=len, reverse=True)

        def local_path(value):
            for prefix in prefixes:
                if value == prefix or value.startswith(prefix + "/"):
                    return mounts[prefix] + value[len(prefix) :]
            return value

        sa_dir = os.path.join(pod_dir, "serviceaccount")
        os.makedirs(sa_dir, exist_ok=True)
        if pod["spec"].get("automountServiceAccountToken", True):
            with open(os.path.join(sa_dir, "token"), "w") as handle:
                handle.write(self.token(pod))
        with open(os.path.join(sa_dir, "ca.crt"), "wb") as handle:
            handle.write(self.ca_pem)
        with open(os.path.join(sa_dir, "namespace"), "w") as handle:
            handle.write(ns)

        node = self.node(pod["spec"].get("nodeName"))
        env = {
            # the stand-ins, then the training environment's own commands (mpirun, torchrun, ...)
            "PATH": os.pathsep.join(
                [self.bin_dir, os.path.dirname(self.python), os.environ.get("PATH", "/usr/bin:/bin")]
            ),
            "TRAINKIT_RUNNER_DIR": self.workdir,
            "TRAINKIT_NODE_NAME": pod["spec"].get("nodeName", ""),
            "TRAINKIT_NODE_INSTANCE_TYPE": node["labels"].get("node.kubernetes.io/instance-type", ""),
            "HOME": pod_dir,
            "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"],
            "KUBERNETES_SERVICE_HOST": self.client.host,
            "KUBERNETES_SERVICE_PORT": str(self.client.port),
            "TRAINKIT_SA_DIR": sa_dir,
            # where the container's termination message goes here (its terminationMessagePath in a real pod)
            "TRAINKIT_TERMINATION_LOG": termination,
            "PYTHONUNBUFFERED": "1",
        }
        for item in container.get("env") or []:
            if "valueFrom" not in item:  # a value, or none (an empty variable)
                value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item.get("value", ""))
            elif "fieldRef" in (item.get("valueFrom") or {}):
                value = self.field(pod, item["valueFrom"]["fieldRef"]["fieldPath"])
            else:
                raise RuntimeError("env {0}: only values and fieldRefs are simulated".format(item["name"]))
            env[item["name"]] = local_path(value)
        argv = [local_path(a) for a in (container.get("command") or []) + (container.get("args") or [])]
        if not container.get("command"):
            argv = self.entrypoint(pod, container, node, sa_dir, env) + argv
        elif argv[0] in COMMANDS:
            argv[0] = os.path.join(self.bin_dir, COMMANDS[argv[0]])
        gpus = gpu_limit(container)
        if gpus:
            env["NVIDIA_VISIBLE_DEVICES"] = ",".join(self.allocate_gpus(pod, node, gpus))
        if os.path.basename(argv[0]) == "sshd":
            env["TRAINKIT_SSH_RECORD"] = self.ssh_record(pod, env, pod_dir)
        cwd = local_path(container["workingDir"]) if container.get("workingDir") else pod_dir
        return argv, env, cwd

    # -- what the images and the node would bring ----------------------------------------------------------
    def node(self, name):
        """The labels and annotations of the pod's node ({} each when it is gone)."""
        status, doc = self.client.request("GET", "/api/v1/nodes/{0}".format(name)) if name else (404, {})
        meta = doc.get("metadata", {}) if status == 200 else {}
        return {"name": name, "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}}

    def entrypoint(self, pod, container, node, sa_dir, env):
        """The command an image without a command in the pod spec would run, for the images the runner knows."""
        repository, tag = image_repository(container.get("image", ""))
        if repository == MPI_OPERATOR_IMAGE:
            if tag.lstrip("v") != MPI_OPERATOR_VERSION:
                raise RuntimeError(
                    "image {0}: the local runner runs mpi-operator {1} only (tools/local-k8s build)".format(
                        container["image"], MPI_OPERATOR_VERSION
                    )
                )
            if not os.access(mpi_operator_binary(), os.X_OK):
                raise RuntimeError("{0} is not built: run tools/local-k8s build".format(mpi_operator_binary()))
            # the controller's in-cluster configuration: its service account's token, through a kubeconfig
            env["KUBECONFIG"] = self.service_account_kubeconfig(sa_dir)
            if self.isolated is None:
                self.isolated = netns_available()
                log(
                    "the MPI operator runs " + ("in a network namespace of its own" if self.isolated else "on the host")
                )
            if self.isolated:
                reach = "{0}:{1}".format(self.client.host, self.client.port)
                netns = os.path.join(HERE, "local_netns.py")
                return [sys.executable, netns, "--reach", reach, "--", mpi_operator_binary()]
            return [mpi_operator_binary()]
        if repository == DEVICE_PLUGIN_IMAGE:
            env["TRAINKIT_NODE_GPUS"] = node["annotations"].get(GPUS_ANNOTATION, "0")
            return [os.path.join(self.bin_dir, "nvidia-device-plugin")]
        if EFA_PLUGIN_IMAGE.match(repository):
            env["TRAINKIT_NODE_EFA"] = node["annotations"].get(EFA_ANNOTATION, "0")
            return [os.path.join(self.bin_dir, "efa-device-plugin")]
        raise RuntimeError(
            "container {0} has no command and the local runner cannot run image {1} (it runs {2} and {3})".format(
                container["name"], container.get("image"), MPI_OPERATOR_IMAGE, DEVICE_PLUGIN_IMAGE + ", the EFA plugin"
            )
        )

    def service_account_kubeconfig(self, sa_dir):
        path = os.path.join(sa_dir, "kubeconfig")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "in-cluster",
                    "cluster": {
                        "server": "https://{0}:{1}".format(self.client.host, self.client.port),
                        "certificate-authority": os.path.join(sa_dir, "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "service-account", "user": {"tokenFile": os.path.join(sa_dir, "token")}}],
            "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account"}}],
            "current-context": "in-cluster",
        }
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            json.dump(config, handle)
        return path

    def allocate_gpus(self, pod, node, count):
        """Device ids for a container asking for ``count`` GPUs, as the device plugin's Allocate answers."""
        total = int(node["annotations"].get(GPUS_ANNOTATION) or 0)
        with self.lock:
            in_use = self.gpus_in_use.setdefault(node["name"], {})
            taken = set(i for devices in in_use.values() for i in devices)
            free = [i for i in range(total) if i not in taken]
            if len(free) < count:
                raise RuntimeError(
                    "node {0} has {1} free of {2} GPUs, the container asks for {3}".format(
                        node["name"], len(free), total, count
                    )
                )
            in_use[pod["metadata"]["uid"]] = free[:count]
        digest = hashlib.sha256(node["name"].encode()).hexdigest()
        return [
            "GPU-{0}-{1}-{2}-{3}-{4:012x}".format(digest[:8], digest[8:12], digest[12:16], digest[16:20], i)
            for i in free[:count]
        ]

    def release_gpus(self, pod):
        with self.lock:
            for in_use in self.gpus_in_use.values():
                in_use.pop(pod["metadata"]["uid"], None)

    def ssh_record_path(self, pod):
        return os.path.join(
            self.hosts_dir, "{0}_{1}.json".format(pod["metadata"]["namespace"], pod["metadata"]["name"])
        )

    def ssh_record(self, pod, env, pod_dir):
        """Where the ssh stand-in finds this pod: its names, environment and working directory."""
        meta, spec = pod["metadata"], pod["spec"]
        hostname = spec.get("hostname") or meta["name"]
        names = [hostname, meta["name"], pod.get("status", {}).get("podIP", "")]
        if spec.get("subdomain"):
            fqdn = "{0}.{1}.{2}.svc".format(hostname, spec["subdomain"], meta["namespace"])
            names += ["{0}.{1}".format(hostname, spec["subdomain"]), fqdn, fqdn + ".cluster.local"]
        path = self.ssh_record_path(pod)
        with open(path + ".tmp", "w") as handle:
            json.dump(
                {
                    "names": [n for n in names if n],
                    "env": env,
                    "cwd": pod_dir,
                    "uid": meta["uid"],
                    "sessions": os.path.join(pod_dir, "ssh-sessions"),  # the ssh stand-in's session pids
                },
                handle,
            )
        os.replace(path + ".tmp", path)
        return path

    @staticmethod
    def plugin_of(container):
        """Which device plugin a container (run without a command) is: gpu, efa or None."""
        if container.get("command"):
            return None
        repository = image_repository(container.get("image", ""))[0]
        if repository == DEVICE_PLUGIN_IMAGE:
            return "gpu"
        return "efa" if EFA_PLUGIN_IMAGE.match(repository) else None

    def register(self, pod, plugin, registered):
        """The kubelet's part when a device plugin (un)registers: the node's capacity and allocatable of its
        resource (nvidia.com/gpu, vpc.amazonaws.com/efa) follow it - allocatable drops to 0 when the plugin goes;
        capacity stays, as on a real node."""
        resource, annotation = PLUGGED[plugin]
        name = pod["spec"].get("nodeName")
        node = self.node(name)
        count = node["annotations"].get(annotation, "0")
        status = {"allocatable": {resource: count if registered else "0"}}
        if registered:
            status["capacity"] = {resource: count}
        try:
            self.client.request(
                "PATCH",
                "/api/v1/nodes/{0}/status".format(name),
                {"status": status},
                content_type="application/merge-patch+json",
            )
            log("node {0}: {1} allocatable {2}".format(name, resource, status["allocatable"][resource]))
        except K8sError as exc:
            log("cannot update node {0}'s {1}: {2}".format(name, resource, exc.msg))

    def pod_dir(self, pod):
        meta = pod["metadata"]
        return os.path.join(
            self.workdir, "pods", "{0}_{1}_{2}".format(meta["namespace"], meta["name"], meta["uid"][:8])
        )

    def start(self, pod):
        ns, name, uid = pod["metadata"]["namespace"], pod["metadata"]["name"], pod["metadata"]["uid"]
        pod_dir = self.pod_dir(pod)
        os.makedirs(pod_dir, exist_ok=True)
        log_path = os.path.join(pod_dir, "log")
        try:
            argv, env, cwd = self.prepare(pod, pod_dir)
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    argv,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=cwd,
                    start_new_session=True,
                )
        except (OSError, RuntimeError, K8sError) as exc:
            message = "local runner could not start the container: {0}".format(getattr(exc, "msg", exc))
            with open(log_path, "a") as out:
                out.write(message + "\n")
            log("{0}/{1}: {2}".format(ns, name, message))
            self.ended(pod)
            self.set_terminated(pod, 128, message)
            return
        log(
            "{0}/{1} ({2}): started pid {3}: {4}".format(
                ns, name, pod["status"].get("podIP"), proc.pid, " ".join(argv)[:300]
            )
        )
        with self.lock:
            self.running[uid] = (proc, pod)
        # Running once the process is there, as a kubelet reports it; before reap() may report its end
        self.set_running(pod)
        if env.get("TRAINKIT_NODE_GPUS", "0") != "0":
            self.register(pod, "gpu", True)
        if env.get("TRAINKIT_NODE_EFA", "0") != "0":
            self.register(pod, "efa", True)
        threading.Thread(target=self.reap, args=(uid, proc, pod, pod_dir), daemon=True).start()

    def ended(self, pod):
        """What the kubelet undoes when a container ends: its GPUs, a device plugin's registration, its sshd."""
        self.release_gpus(pod)
        container = pod["spec"]["containers"][0]
        plugin = self.plugin_of(container)
        if plugin:
            self.register(pod, plugin, False)
        record = self.ssh_record_path(pod)
        try:
            with open(record) as handle:
                if json.load(handle)["uid"] == pod["metadata"]["uid"]:
                    os.unlink(record)
        except (OSError, ValueError, KeyError):
            pass
        self.end_sessions(pod)

    def end_sessions(self, pod):
        """The sessions the ssh stand-in ran "on" this pod end with it (every process of a container dies when it
        ends), each checked by its start time so that a reused pid is left alone."""
        path = os.path.join(self.pod_dir(pod), "ssh-sessions")
        try:
            with open(path) as handle:
                sessions = [line.split() for line in handle if line.strip()]
            os.unlink(path)
        except OSError:
            return
        killed = []
        for pid, started in sessions:
            if str(start_time(int(pid))) == started:
                killed += kill_tree(int(pid))
        if killed:
            log(
                "{0}/{1}: its ssh sessions end with it, pid(s) {2} killed".format(
                    pod["metadata"]["namespace"], pod["metadata"]["name"], " ".join(str(p) for p in killed)
                )
            )

    def reap(self, uid, proc, pod, pod_dir):
        code = proc.wait()
        with self.lock:
            known = self.running.pop(uid, None)
        if known is None or self.stopping:
            return  # the pod was deleted (or the runner stops): nothing to report
        self.ended(pod)
        code = code if code >= 0 else 128 - code
        log("{0}/{1}: exited {2}".format(pod["metadata"]["namespace"], pod["metadata"]["name"], code))
        # the kubelet's message: what the container wrote to its termination-message file, else (on failure) its
        # log's tail
        try:
            with open(os.path.join(pod_dir, "termination-log"), "rb") as handle:
                message = handle.read(TERMINATION_BYTES).decode(errors="replace")
        except OSError:
            message = ""
        if not message and code != 0:
            message = tail(os.path.join(pod_dir, "log"))
        self.set_terminated(pod, code, message)

    def kill(self, uid, why, vanish=False):
        """The pod's container ends: SIGTERM to its process group, as the kubelet stops a deleted pod - or, with
        ``vanish``, its machine is gone (its node deleted, as a spot reclaim removes it): every process of the pod
        dies at once (SIGKILL, the whole tree) and, since a kubelet that no longer exists cannot report anything,
        the pod object stays as it was until Kubernetes' pod garbage collector deletes it (DisruptionTarget,
        DeletionByPodGC). Nothing is reported either way: reap() finds the pod gone from ``running``."""
        with self.lock:
            known = self.running.pop(uid, None)
        if known is None:
            return
        proc, pod = known
        self.ended(pod)
        if vanish:
            pids = kill_tree(proc.pid)
        else:
            pids = [proc.pid]
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
        log(
            "{0}/{1}: {2}, {3} pid(s) {4}".format(
                pod["metadata"]["namespace"],
                pod["metadata"]["name"],
                why,
                "killed" if vanish else "terminating",
                " ".join(str(p) for p in pids),
            )
        )

    def watch_nodes(self, period=1.0):
        """Pods whose node was deleted lose their processes (kill with vanish), within ``period`` seconds."""
        while not self.stopping:
            time.sleep(period)
            try:
                _s, listing = self.client.request("GET", "/api/v1/nodes")
            except K8sError:
                continue
            nodes = set(n["metadata"]["name"] for n in listing.get("items", []))
            with self.lock:
                lost = [
                    (uid, pod["spec"].get("nodeName"))
                    for uid, (_proc, pod) in self.running.items()
                    if pod["spec"].get("nodeName") and pod["spec"]["nodeName"] not in nodes
                ]
            for uid, node in lost:
                self.kill(uid, "node {0} is gone".format(node), vanish=True)

    # -- the watch loop ----------------------------------------------------------------------------------
    def consider(self, event_type, pod):
        if (pod["metadata"].get("annotations") or {}).get(ANNOTATION) != "local":
            return
        uid = pod["metadata"]["uid"]
        if event_type == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            self.kill(uid, "pod deleted")
            return
        status = pod.get("status") or {}
        with self.lock:
            started = uid in self.running or uid in self.seen
        # KWOK made the sandbox (an IP, phase Pending); the runner starts the container and reports Running
        if started or status.get("phase") != "Pending" or not status.get("podIP"):
            return
        self.seen.add(uid)
        self.start(pod)

    def refresh_tokens(self, period=600):
        """As the kubelet rotates projected tokens: a fresh one for every running pod well before the last expires
        (each lasts an hour), so that long-running controllers (the MPI operator) keep their API access."""
        while not self.stopping:
            time.sleep(period)
            with self.lock:
                pods = [pod for _proc, pod in self.running.values()]
            for pod in pods:
                if not pod["spec"].get("automountServiceAccountToken", True):
                    continue
                sa_dir = os.path.join(self.pod_dir(pod), "serviceaccount")
                try:
                    token = self.token(pod)
                except K8sError as exc:
                    log("cannot refresh the token of {0}: {1}".format(pod["metadata"]["name"], exc.msg))
                    continue
                with open(os.path.join(sa_dir, "token.tmp"), "w") as handle:
                    handle.write(token)
                os.replace(os.path.join(sa_dir, "token.tmp"), os.path.join(sa_dir, "token"))

    def run(self):
        threading.Thread(target=self.refresh_tokens, daemon=True).start()
        threading.Thread(target=self.watch_nodes, daemon=True).start()
        while not self.stopping:
            try:
                _s, listing = self.client.request("GET", "/api/v1/pods")
            except K8sError as exc:
                log("cannot list pods: {0}".format(exc.msg))
                time.sleep(2)
                continue
            present = set()
            for pod in listing.get("items", []):
                present.add(pod["metadata"]["uid"])
                self.consider("ADDED", pod)
            with self.lock:
                gone = [uid for uid in self.running if uid not in present]
            for uid in gone:
                self.kill(uid, "pod gone")
            query = {"resourceVersion": listing["metadata"]["resourceVersion"], "timeoutSeconds": "300"}
            try:
                for event_type, pod in self.client.stream("/api/v1/pods", query, 300):
                    if event_type == "ERROR" or self.stopping:
                        break  # e.g. 410 Gone: list afresh
                    self.consider(event_type, pod)
            except K8sError as exc:
                log("cannot watch pods: {0}".format(exc.msg))
                time.sleep(2)

    def shutdown(self, *_args):
        self.stopping = True
        with self.lock:
            procs = list(self.running.values())
            self.running.clear()
        for proc, _pod in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
        sys.exit(0)


def main():
    parser = argparse.ArgumentParser(prog="local_runner.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--python", default=sys.executable, help="the interpreter pods get as python3")
    args = parser.parse_args()
    runner = Runner(args.kubeconfig, args.workdir, args.python)
    signal.signal(signal.SIGTERM, runner.shutdown)
    signal.signal(signal.SIGINT, runner.shutdown)
    log("watching pods annotated {0}=local; python3 is {1}".format(ANNOTATION, args.python))
    runner.run()


if __name__ == "__main__":
    main()
