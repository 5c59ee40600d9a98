# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The in-pod launcher of trainkit.aws training jobs (standard library only).

``training_job`` ships this file to the pods in a ConfigMap and runs it as the container's entrypoint:

    python3 /opt/trainkit/launcher.py --framework paddle -- python3 train.py ...

It works out which trainer this pod is and who its peers are, exports the framework's variables, and then execs
the user's command. The trainer id comes from ``JOB_COMPLETION_INDEX`` when the Job is Indexed; otherwise it is
found the way the PaddlePaddle-on-Kubernetes tutorial did it: list the job's pods through the API server with the
pod's service account, wait until all are Running (or already finished), sort them by pod IP and take this pod's
position.

Inputs (environment): POD_NAME, POD_NAMESPACE, POD_IP (downward API), TRAINKIT_JOB, TRAINKIT_WORKERS,
TRAINKIT_PSERVERS, TRAINKIT_PORT, TRAINKIT_ROLE (trainer or pserver), TRAINKIT_PEER_DISCOVERY (api or dns),
TRAINKIT_SERVICE, TRAINKIT_NIC, TRAINKIT_MOUNT_PATH, TRAINKIT_DATA_SUBPATH, TRAINKIT_OUTPUT_PATH,
TRAINKIT_CHECKPOINT_PATH, TRAINKIT_RESTART_COUNT,
TRAINKIT_LAUNCH_TIMEOUT, KUBERNETES_SERVICE_HOST/PORT, and the service account files (TRAINKIT_SA_DIR, by default
/var/run/secrets/kubernetes.io/serviceaccount).

Failures (timeout, two pods with one IP, a peer that died, no permission to list pods) end the process with exit
code 2 and one line that starts with ``trainkit-launcher: error:``.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ipaddress
import json
import os
import ssl
import sys
import time

from urllib.parse import quote
from urllib.parse import urlencode

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_LABEL = "trainkit.io/job"
ROLE_LABEL = "trainkit.io/role"
EXIT_LAUNCH_ERROR = 2


class LaunchError(Exception):
    """Why this pod cannot start its part of the job."""


def log(message):
    sys.stderr.write("trainkit-launcher: {0}\n".format(message))
    sys.stderr.flush()


def ip_key(ip):
    return ipaddress.ip_address(ip)


def token_subject(token):
    """The service account a token speaks for (its JWT 'sub' claim, namespace stripped), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims["sub"].rsplit(":", 1)[-1]
    except (IndexError, KeyError, ValueError, TypeError):
        return None


class PodLister:
    """Lists and watches the job's pods with the pod's own service account."""

    def __init__(self, environ):
        sa_dir = environ.get("TRAINKIT_SA_DIR", SA_DIR)
        host = environ.get("KUBERNETES_SERVICE_HOST")
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise LaunchError("KUBERNETES_SERVICE_HOST is not set: the pod cannot reach the API server")
        try:
            with open(os.path.join(sa_dir, "token")) as handle:
                self.token = handle.read().strip()
        except OSError as exc:
            raise LaunchError(
                "no service account token at {0} ({1}); the pod needs automountServiceAccountToken".format(
                    sa_dir, exc.strerror
                )
            )
        self.host, self.port = host, int(port)
        self.context = ssl.create_default_context(cafile=os.path.join(sa_dir, "ca.crt"))
        self.namespace = environ["POD_NAMESPACE"]
        self.service_account = token_subject(self.token) or environ.get("TRAINKIT_SERVICE_ACCOUNT", "default")

    def _open(self, query, timeout):
        """(connection, response) of a GET on the namespace's pods; raises LaunchError for errors."""
        path = "/api/v1/namespaces/{0}/pods?{1}".format(quote(self.namespace), urlencode(query))
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + self.token, "Accept": "application/json"})
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise LaunchError("cannot reach the API server at {0}:{1}: {2}".format(self.host, self.port, exc))
        if response.status in (401, 403):
            conn.close()
            raise LaunchError(
                "forbidden: service account {0!r} may not list pods in namespace {1!r} (HTTP {2}); the job "
                "needs its Role granting get/list/watch on pods and the RoleBinding to that account".format(
                    self.service_account, self.namespace, response.status
                )
            )
        if response.status >= 400:
            body = response.read()[:300]
            conn.close()
            raise LaunchError("listing pods failed with HTTP {0}: {1}".format(response.status, body))
        return conn, response

    def list(self, selector):
        conn, response = self._open({"labelSelector": selector}, 30)
        try:
            doc = json.loads(response.read())
        finally:
            conn.close()
        return doc["items"], doc["metadata"]["resourceVersion"]

    def watch(self, selector, resource_version, timeout):
        query = {
            "labelSelector": selector,
            "watch": "1",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(max(1, int(timeout))),
        }
        conn, response = self._open(query, timeout + 10)
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                event = json.loads(line)
                yield event["type"], event["object"]
        except (OSError, http.client.HTTPException, ValueError):
            return
        finally:
            conn.close()


def pod_summary(pod):
    status = pod.get("status", {})
    exit_code = None
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            exit_code = terminated.get("exitCode")
    return {
        "name": pod["metadata"]["name"],
        "role": pod["metadata"].get("labels", {}).get(ROLE_LABEL, "trainer"),
        "phase": status.get("phase", "Pending"),
        "ip": status.get("podIP"),
        "index": pod["metadata"].get("annotations", {}).get(INDEX_ANNOTATION),
        "exit_code": exit_code,
        "deleting": bool(pod["metadata"].get("deletionTimestamp")),
    }


def assign(pods, expected, me, by_index=False):
    """The job's peers once every expected pod runs: {role: [pod summaries in rank order]}.

    ``pods`` are summaries (pod_summary); ``expected`` maps role -> count. Returns None while peers are still
    starting; raises LaunchError for a state that waiting cannot fix.
    """
    for pod in pods:
        if pod["phase"] == "Failed" and not pod["deleting"]:
            raise LaunchError(
                "peer pod {0} died (phase Failed, exit code {1}) before all {2} pods were running".format(
                    pod["name"], pod["exit_code"], sum(expected.values())
                )
            )
    # a peer that already finished (Succeeded) ran: a parameter-server trainer can do its work and exit before a
    # slower peer's launcher looks, and waiting for it to be Running again would wait for ever
    live = [p for p in pods if p["phase"] in ("Running", "Succeeded") and p["ip"] and not p["deleting"]]
    by_role = {}
    for pod in live:
        by_role.setdefault(pod["role"], []).append(pod)
    for role in by_role:
        if role not in expected:
            raise LaunchError(
                "pod {0} has role {1!r}, which this job does not have".format(by_role[role][0]["name"], role)
            )
    seen = {}
    for pod in live:
        if pod["ip"] in seen:
            raise LaunchError(
                "pods {0} and {1} both report IP {2}: ids sorted by IP would be ambiguous".format(
                    seen[pod["ip"]], pod["name"], pod["ip"]
                )
            )
        seen[pod["ip"]] = pod["name"]
    for role, count in expected.items():
        running = by_role.get(role, [])
        if len(running) > count:
            raise LaunchError(
                "{0} {1} pods are running but the job has {2}: {3}".format(
                    len(running), role, count, ", ".join(sorted(p["name"] for p in running))
                )
            )
        if len(running) < count:
            return None
    ordered = {}
    for role, running in by_role.items():
        if by_index:
            ordered[role] = sorted(running, key=lambda p: int(p["index"] or 0))
        else:
            ordered[role] = sorted(running, key=lambda p: ip_key(p["ip"]))
    if not any(p["name"] == me for p in live):
        raise LaunchError("this pod ({0}) is not among the job's running pods".format(me))
    return ordered


def discover(lister, job, expected, me, timeout, by_index=False):
    """Wait (list, then watch; list again whenever a watch ends) until assign() has an answer or time runs out."""
    selector = "{0}={1}".format(JOB_LABEL, job)
    deadline = time.monotonic() + timeout
    while True:
        items, version = lister.list(selector)
        pods = dict((p["metadata"]["name"], pod_summary(p)) for p in items)
        answer = assign(list(pods.values()), expected, me, by_index)
        if answer is not None:
            return answer
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            running = sum(1 for p in pods.values() if p["phase"] == "Running")
            raise LaunchError(
                "timed out after {0:g}s waiting for the {1} pods of job {2} to run ({3} running)".format(
                    timeout, sum(expected.values()), job, running
                )
            )
        for event_type, obj in lister.watch(selector, version, min(remaining, 60)):
            if event_type == "ERROR":
                break
            if event_type == "DELETED":
                pods.pop(obj["metadata"]["name"], None)
            else:
                pods[obj["metadata"]["name"]] = pod_summary(obj)
            answer = assign(list(pods.values()), expected, me, by_index)
            if answer is not None:
                return answer
            if time.monotonic() >= deadline:
                break


def framework_env(framework, role, rank, peers, port, pod_ip, environ):
    """The variables a framework reads, for this pod's place in the job."""
    trainers = peers.get("trainer", [])
    pservers = peers.get("pserver", [])
    env = {
        "TRAINKIT_RANK": str(rank),
        "TRAINKIT_WORLD_SIZE": str(len(trainers)),
        "TRAINKIT_PEERS": ",".join(p["ip"] for p in trainers),
    }
    if framework == "paddle":
        endpoints = ["{0}:{1}".format(p["ip"], port) for p in trainers]
        ps_endpoints = ["{0}:{1}".format(p["ip"], port) for p in pservers]
        env.update(
            {
                "TRAINING_ROLE": "PSERVER" if role == "pserver" else "TRAINER",
                "PADDLE_TRAINERS_NUM": str(len(trainers)),
                "PADDLE_TRAINER_ENDPOINTS": ",".join(endpoints),
                "PADDLE_PSERVERS_IP_PORT_LIST": ",".join(ps_endpoints),
                "PADDLE_PORT": str(port),
                "POD_IP": pod_ip,
                "PADDLE_CURRENT_ENDPOINT": "{0}:{1}".format(pod_ip, port),
                # for `python -m paddle.distributed.launch`
                "PADDLE_MASTER": endpoints[0] if endpoints else "",
                "PADDLE_NNODES": str(len(trainers)),
            }
        )
        if role == "pserver":
            env["PADDLE_PSERVER_ID"] = str(rank)
        else:
            env["PADDLE_TRAINER_ID"] = str(rank)
            env["PADDLE_RANK"] = str(rank)
    elif framework == "pytorch":
        master = environ.get("MASTER_ADDR") or (trainers[0]["ip"] if trainers else pod_ip)
        env.update(
            {
                "RANK": str(rank),
                "GROUP_RANK": str(rank),
                "WORLD_SIZE": str(len(trainers)),
                "MASTER_ADDR": master,
                "MASTER_PORT": str(port),
            }
        )
    return env


def output_env(environ, rank):
    """TRAINKIT_DATA_DIR, TRAINKIT_OUTPUT_DIR and TRAINKIT_CHECKPOINT_DIR from the job's path patterns (the output
    and checkpoint directories created), and TRAINKIT_RESTART_COUNT (0 unless the job says otherwise)."""
    env = {"TRAINKIT_RESTART_COUNT": str(int(environ.get("TRAINKIT_RESTART_COUNT") or 0))}
    mount = environ.get("TRAINKIT_MOUNT_PATH")
    if not mount:
        return env
    fields = {"job": environ.get("TRAINKIT_JOB", ""), "rank": rank}
    if environ.get("TRAINKIT_CHECKPOINT_PATH"):
        # one directory for the whole job: every rank resumes from the same checkpoint
        folder = os.path.join(mount, environ["TRAINKIT_CHECKPOINT_PATH"].format(**fields))
        os.makedirs(folder, exist_ok=True)
        env["TRAINKIT_CHECKPOINT_DIR"] = folder
    if environ.get("TRAINKIT_DATA_SUBPATH"):
        env["TRAINKIT_DATA_DIR"] = os.path.join(mount, environ["TRAINKIT_DATA_SUBPATH"].format(**fields))
    if environ.get("TRAINKIT_OUTPUT_PATH"):
        pattern = environ["TRAINKIT_OUTPUT_PATH"]
        if environ.get("TRAINKIT_ROLE") == "pserver":
            pattern = pattern.replace("node_{rank}", "pserver_{rank}")
        out = os.path.join(mount, pattern.format(**fields))
        os.makedirs(out, exist_ok=True)
        env["TRAINKIT_OUTPUT_DIR"] = out
    return env


def resolve(environ, framework, lister_factory=PodLister):
    """The environment to exec the user's command with (everything but the command itself)."""
    for name in ("POD_NAME", "POD_NAMESPACE", "TRAINKIT_JOB"):
        if not environ.get(name):
            raise LaunchError("{0} is not set; the pod spec must provide it".format(name))
    me, job = environ["POD_NAME"], environ["TRAINKIT_JOB"]
    role = environ.get("TRAINKIT_ROLE", "trainer")
    workers = int(environ.get("TRAINKIT_WORKERS", "1"))
    pservers = int(environ.get("TRAINKIT_PSERVERS", "0"))
    port = int(environ.get("TRAINKIT_PORT", "7164"))
    timeout = float(environ.get("TRAINKIT_LAUNCH_TIMEOUT", "600"))
    index = environ.get("JOB_COMPLETION_INDEX")
    discovery = environ.get("TRAINKIT_PEER_DISCOVERY", "dns" if index is not None else "api")
    expected = {"trainer": workers}
    if pservers:
        expected["pserver"] = pservers
    pod_ip = environ.get("POD_IP", "")

    if index is not None and discovery == "dns":
        # Indexed Job behind a headless Service: ranks from the index, peers by their stable DNS names.
        service = environ.get("TRAINKIT_SERVICE", job)
        rank = int(index)
        peers = {
            "trainer": [
                {"name": "{0}-{1}".format(job, i), "ip": "{0}-{1}.{2}".format(job, i, service)} for i in range(workers)
            ]
        }
        log(
            "pod {0}: rank {1} of {2} (completion index; peers by DNS via service {3})".format(
                me, rank, workers, service
            )
        )
    else:
        lister = lister_factory(environ)
        peers = discover(lister, job, expected, me, timeout, by_index=index is not None)
        mine = peers[role]
        rank = [p["name"] for p in mine].index(me)
        if index is not None:
            rank = int(index)
        log(
            "pod {0} ({1}): {2} {3} of {4}; trainers {5}{6}".format(
                me,
                pod_ip,
                role,
                rank,
                len(mine),
                ",".join(p["ip"] for p in peers["trainer"]),
                "; pservers " + ",".join(p["ip"] for p in peers["pserver"]) if "pserver" in peers else "",
            )
        )
        if not pod_ip:
            pod_ip = [p["ip"] for p in mine if p["name"] == me][0]
        if framework == "pytorch" and peers["trainer"]:
            environ = dict(environ, MASTER_ADDR=peers["trainer"][0]["ip"])
    env = {}
    if environ.get("TRAINKIT_NIC"):
        env["GLOO_SOCKET_IFNAME"] = environ["TRAINKIT_NIC"]
        env["CONF_PADDLE_NIC"] = environ["TRAINKIT_NIC"]
    env.update(framework_env(framework, role, rank, peers, port, pod_ip, environ))
    env.update(output_env(environ, rank))
    return env


def torchrun_command(env, nproc_per_node, command):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes={0}".format(env["WORLD_SIZE"]),
        "--node-rank={0}".format(env["RANK"]),
        "--nproc-per-node={0}".format(nproc_per_node),
        "--master-addr={0}".format(env["MASTER_ADDR"]),
        "--master-port={0}".format(env["MASTER_PORT"]),
    ] + command


def main(argv=None):
    parser = argparse.ArgumentParser(prog="launcher.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--framework", choices=["paddle", "pytorch", "none"], default="none")
    parser.add_argument("--torchrun", action="store_true", help="run the command under torch.distributed.run")
    parser.add_argument("--nproc-per-node", type=int, default=1)
    parser.add_argument("--print-env", action="store_true", help="print the resolved variables as JSON and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and not args.print_env:
        parser.error("a command to run is required after --")
    try:
        env = resolve(dict(os.environ), args.framework)
    except LaunchError as exc:
        log("error: {0}".format(exc))
        return EXIT_LAUNCH_ERROR
    if args.print_env:
        sys.stdout.write(json.dumps(env, sort_keys=True) + "\n")
        return 0
    if args.torchrun:
        command = torchrun_command(env, args.nproc_per_node, command)
    merged = dict(os.environ)
    merged.update(env)
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, merged)
    except OSError as exc:
        log("error: cannot run {0}: {1}".format(command[0], exc.strerror))
        return 127


if __name__ == "__main__":
    raise SystemExit(main())
