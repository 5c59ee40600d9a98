# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A training job's run, as the training_job module makes it: its EFA devices resolved, its objects submitted
(recreated when asked), followed until it ends - restarted from its checkpoint after disruptions -, reported.
The objects themselves come from training.py (pure rendering)."""

from __future__ import annotations

import posixpath
import time

from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils import launcher
from ansible_collections.trainkit.aws.plugins.module_utils import training
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import NOT_SERVED
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import describe
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import stripped


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
