# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The waits: a watch (``?watch=1``) on the one object, never a sleep loop, and the readiness rules per kind."""

from __future__ import annotations

import json
import time

from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import K8sError

try:
    import urllib3
except ImportError:  # pragma: no cover - comes with the kubernetes client
    pass


class Waits:
    """Mixed into k8s.Client: needs open_stream() and path() of k8s_client.Transport and get() of the verbs."""

    def stream(self, path, query, timeout):
        """Events (type, object) of a watch on a collection path (``?watch=1`` added), until the server ends it.

        The server ends the stream after ``timeoutSeconds`` (pass it in query); a dropped connection ends it too.
        ERROR events (e.g. 410 Gone) are yielded for the caller to act on.
        """
        response = self.open_stream(path, dict(query, watch="1"), timeout)
        pending = b""
        try:
            for chunk in response.stream(amt=None):  # one event a chunk, as the server sends them
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        yield event["type"], event["object"]
        except (OSError, ValueError, urllib3.exceptions.HTTPError):
            return
        finally:
            response.release_conn()

    def watch(self, obj, namespace, resource_version, timeout):
        """Events (type, object) for one object from resource_version on, until timeout seconds pass."""
        query = {
            "fieldSelector": "metadata.name=" + obj["metadata"]["name"],
            "allowWatchBookmarks": "false",
            "timeoutSeconds": str(max(1, int(timeout))),
        }
        if resource_version:
            query["resourceVersion"] = resource_version
        return self.stream(self.path(obj, namespace, name=False), query, timeout)

    def wait(self, obj, namespace, predicate, timeout, what):
        """Follow the object until predicate(obj_or_None) returns True (or raises K8sError), or time runs out."""
        deadline = time.monotonic() + timeout
        current = self.get(obj, namespace)
        while True:
            if predicate(current):
                return current
            remaining = time_left(deadline, timeout, what, "the object's")
            version = current["metadata"]["resourceVersion"] if current else None
            for event_type, event_obj in self.watch(obj, namespace, version, remaining):
                if event_type == "ERROR":  # e.g. 410 Gone: start again from a fresh get
                    break
                current = None if event_type == "DELETED" else event_obj
                if predicate(current):
                    return current
                if time.monotonic() >= deadline:
                    break
            current = self.get(obj, namespace)

    def wait_list(self, path, query, predicate, timeout, what):
        """Follow a collection (list, then watch) until predicate(items) returns True; returns the items.

        ``items`` is the collection as a dict name -> object (``namespace/name`` for namespaced objects)."""
        deadline = time.monotonic() + timeout
        while True:
            listing = self.request("GET", path, query=query)[1]
            items = dict((key_of(o), o) for o in listing.get("items", []))
            if predicate(items):
                return items
            remaining = time_left(deadline, timeout, what, "the objects'")
            watch = dict(query or {}, resourceVersion=listing["metadata"]["resourceVersion"])
            watch["timeoutSeconds"] = str(max(1, int(remaining)))
            for event_type, event_obj in self.stream(path, watch, remaining):
                if event_type == "ERROR":  # e.g. 410 Gone: list afresh
                    break
                if event_type == "DELETED":
                    items.pop(key_of(event_obj), None)
                else:
                    items[key_of(event_obj)] = event_obj
                if predicate(items):
                    return items
                if time.monotonic() >= deadline:
                    break


def time_left(deadline, timeout, what, whose):
    """Seconds to the deadline; a K8sError naming what was waited for once there are none."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise K8sError(
            "Timed out after {0:.0f}s waiting for {1}.".format(timeout, what),
            hint="raise wait_timeout, or look at {0} status and events".format(whose),
        )
    return remaining


def key_of(obj):
    meta = obj.get("metadata", {})
    return meta["namespace"] + "/" + meta["name"] if meta.get("namespace") else meta.get("name")


def condition(obj, type_):
    for cond in (obj or {}).get("status", {}).get("conditions", []) or []:
        if cond.get("type") == type_:
            return cond
    return None


def ready(obj):
    """Built-in readiness; raises K8sError for a state that will not become ready (a failed Job or Pod)."""
    if obj is None:
        return False
    kind, status = obj.get("kind"), obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation", 0)
    # no observedGeneration yet: the controller has not looked at this generation, its counts mean nothing
    observed = status.get("observedGeneration", -1)
    if kind == "Deployment":
        replicas = obj.get("spec", {}).get("replicas", 1)
        return (
            observed >= generation
            and status.get("updatedReplicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
        )
    if kind == "DaemonSet":
        desired = status.get("desiredNumberScheduled", 0)
        return (
            observed >= generation
            and status.get("numberReady", 0) == desired
            and status.get("updatedNumberScheduled", 0) == desired
        )
    if kind == "StatefulSet":
        replicas = obj.get("spec", {}).get("replicas", 1)
        return (
            observed >= generation
            and status.get("readyReplicas", 0) == replicas
            and status.get("updatedReplicas", 0) == replicas
        )
    if kind == "Job":
        failed = condition(obj, "Failed")
        if failed and failed.get("status") == "True":
            raise K8sError(
                "Job {0} failed: {1} {2}".format(
                    obj["metadata"]["name"], failed.get("reason", ""), failed.get("message", "")
                ),
                hint="look at the logs of its pods",
            )
        complete = condition(obj, "Complete")
        return bool(complete and complete.get("status") == "True")
    if kind == "Pod":
        if status.get("phase") == "Failed":
            raise K8sError("Pod {0} failed.".format(obj["metadata"]["name"]), hint="look at its logs and events")
        if status.get("phase") == "Succeeded":
            return True
        cond = condition(obj, "Ready")
        return bool(cond and cond.get("status") == "True")
    if kind == "PersistentVolumeClaim":
        return status.get("phase") == "Bound"
    if kind == "CustomResourceDefinition":
        cond = condition(obj, "Established")
        return bool(cond and cond.get("status") == "True")
    return True


def matches_condition(obj, wanted):
    """kubernetes.core-style wait_condition {type, status, reason}."""
    cond = condition(obj, wanted["type"])
    if not cond:
        return False
    if cond.get("status") != str(wanted.get("status", "True")):
        return False
    return not wanted.get("reason") or cond.get("reason") == wanted["reason"]
