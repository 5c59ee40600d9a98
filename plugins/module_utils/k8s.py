# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Kubernetes API client for the modules: kubeconfig, discovery, server-side apply, delete, watch-based waits.

Standard library only (plus PyYAML, which Ansible brings), so the collection needs no Kubernetes SDK. Applies use
server-side apply with the field manager ``trainkit``; check mode is a server-side dry run; waits follow a watch
(``?watch=1``) on the one object, never a sleep loop.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import os
import ssl
import tempfile
import time

from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlparse

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

FIELD_MANAGER = "trainkit"
NOT_SERVED = "NotServed"  # K8sError.reason when discovery does not know an apiVersion/kind (e.g. no CRD)
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


class K8sError(Exception):
    """An API error: HTTP status, the API's reason and message, and a hint for the user."""

    def __init__(self, msg, status=None, reason=None, hint=None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.reason = reason
        self.hint = hint


def load_definitions(definition=None, src=None):
    """Objects from a dict, a list, a multi-document YAML string, or a YAML file; empty documents are skipped."""
    if src is not None:
        with open(src) as handle:
            definition = handle.read()
    if isinstance(definition, str):
        docs = list(yaml.safe_load_all(definition))
    elif isinstance(definition, dict):
        docs = [definition]
    else:
        docs = list(definition or [])
    objects = []
    for doc in docs:
        if not doc:
            continue
        if doc.get("kind", "").endswith("List") and "items" in doc:
            objects.extend(doc["items"])
        else:
            objects.append(doc)
    return objects


class Client:
    """One API server, as a kubeconfig (and context) describes it."""

    def __init__(self, kubeconfig=None, context=None, timeout=30):
        path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle)
        except OSError as exc:
            raise K8sError(
                "Cannot read kubeconfig {0}: {1}".format(path, exc.strerror),
                hint="set kubeconfig to the file tools/local-k8s start printed, or the cluster's",
            )
        name = context or config.get("current-context")
        contexts = dict((c["name"], c["context"]) for c in config.get("contexts", []))
        if name not in contexts:
            raise K8sError(
                "Context {0!r} is not in kubeconfig {1}.".format(name, path),
                hint="use one of: " + ", ".join(sorted(contexts)),
            )
        ctx = contexts[name]
        cluster = dict((c["name"], c["cluster"]) for c in config.get("clusters", []))[ctx["cluster"]]
        user = dict((u["name"], u["user"]) for u in config.get("users", [])).get(ctx.get("user"), {})
        self.namespace = ctx.get("namespace", "default")
        self.timeout = timeout
        url = urlparse(cluster["server"])
        self.host, self.port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.base_path = url.path.rstrip("/")
        self.scheme = url.scheme
        self._files = []
        self.headers = {"Accept": "application/json"}
        if user.get("token"):
            self.headers["Authorization"] = "Bearer " + user["token"]
        self.context = None
        self.ca_file = None
        if url.scheme == "https":
            self.ca_file = self._file(cluster, "certificate-authority")
            self.context = ssl.create_default_context(cafile=self.ca_file)
            if cluster.get("insecure-skip-tls-verify"):
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
            cert, key = self._file(user, "client-certificate"), self._file(user, "client-key")
            if cert and key:
                self.context.load_cert_chain(cert, key)
        self._discovery = {}

    def _file(self, section, key):
        """A path for section[key], writing section[key-data] to a private temporary file when needed."""
        if section.get(key):
            return os.path.expanduser(section[key])
        data = section.get(key + "-data")
        if not data:
            return None
        handle, path = tempfile.mkstemp(prefix="trainkit-k8s-")
        with os.fdopen(handle, "wb") as out:
            out.write(base64.b64decode(data))
        self._files.append(path)
        return path

    def close(self):
        for path in self._files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._files = []

    # -- HTTP --------------------------------------------------------------------------------
    def _connection(self, timeout):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, query=None, content_type="application/json"):
        """(status, decoded JSON) for one call; raises K8sError for errors other than 404."""
        url = self.base_path + path + ("?" + urlencode(query) if query else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        conn = self._connection(self.timeout)
        try:
            conn.request(method, url, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise K8sError(
                "Cannot reach the API server {0}:{1}: {2}".format(self.host, self.port, exc),
                hint="is the cluster running? (tools/local-k8s start for the local one)",
            )
        finally:
            conn.close()
        try:
            decoded = json.loads(raw) if raw else {}
        except ValueError:
            decoded = {"message": raw.decode(errors="replace")}
        if response.status == 404 and method in ("GET", "DELETE"):
            return 404, None
        if response.status >= 400:
            raise K8sError(
                "{0} {1} failed with {2} {3}: {4}".format(
                    method, path, response.status, decoded.get("reason", ""), decoded.get("message", "")
                ),
                status=response.status,
                reason=decoded.get("reason"),
                hint=hint_for(response.status, decoded.get("reason")),
            )
        return response.status, decoded

    # -- discovery ---------------------------------------------------------------------------
    def resource(self, api_version, kind, refresh=False):
        """(plural, namespaced) for an apiVersion/kind, from the server's discovery documents."""
        if refresh or api_version not in self._discovery:
            path = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            status, doc = self.request("GET", path)
            self._discovery[api_version] = (
                {}
                if status == 404
                else dict(
                    (r["kind"], (r["name"], r["namespaced"])) for r in doc.get("resources", []) if "/" not in r["name"]
                )
            )
        found = self._discovery[api_version].get(kind)
        if found is None and not refresh:
            return self.resource(api_version, kind, refresh=True)
        if found is None:
            raise K8sError(
                "The server does not serve {0} {1}.".format(api_version, kind),
                reason=NOT_SERVED,
                hint="check apiVersion and kind; a custom resource needs its CRD applied (and Established) first",
            )
        return found

    def path(self, obj, namespace=None, name=True):
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not api_version or not kind:
            raise K8sError("Every object needs apiVersion and kind; got {0}.".format(json.dumps(obj)[:200]))
        plural, namespaced = self.resource(api_version, kind)
        prefix = "/api/v1" if api_version == "v1" else "/apis/" + api_version
        if namespaced:
            ns = obj.get("metadata", {}).get("namespace") or namespace or self.namespace
            prefix += "/namespaces/" + quote(ns)
        path = prefix + "/" + plural
        if name:
            object_name = obj.get("metadata", {}).get("name")
            if not object_name:
                raise K8sError("{0} {1} has no metadata.name.".format(api_version, kind))
            path += "/" + quote(object_name)
        return path

    # -- verbs -------------------------------------------------------------------------------
    def get(self, obj, namespace=None):
        return self.request("GET", self.path(obj, namespace))[1]

    def apply(self, obj, namespace=None, force=False, dry_run=False):
        """Server-side apply as field manager 'trainkit'; returns the object the server has (or would have)."""
        query = {"fieldManager": FIELD_MANAGER}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        body = copy.deepcopy(obj)
        kind_path = self.path(obj, namespace)
        if self.resource(obj["apiVersion"], obj["kind"])[1]:
            body.setdefault("metadata", {}).setdefault("namespace", namespace or self.namespace)
        return self.request("PATCH", kind_path, body=body, query=query, content_type="application/apply-patch+yaml")[1]

    def delete(self, obj, namespace=None, dry_run=False, propagation="Background"):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        query = None
        if dry_run:
            # with a DeleteOptions body the API server reads the options from the body only: dryRun goes there
            body["dryRun"] = ["All"]
            query = {"dryRun": "All"}
        return self.request("DELETE", self.path(obj, namespace), body=body, query=query)[1]

    def stream(self, path, query, timeout):
        """Events (type, object) of a watch on a collection path (``?watch=1`` added), until the server ends it.

        The server ends the stream after ``timeoutSeconds`` (pass it in query); a dropped connection ends it too.
        ERROR events (e.g. 410 Gone) are yielded for the caller to act on.
        """
        query = dict(query, watch="1")
        conn = self._connection(timeout + 10)
        try:
            conn.request("GET", self.base_path + path + "?" + urlencode(query), headers=self.headers)
            response = conn.getresponse()
            if response.status >= 400:
                raise K8sError("watch of {0} failed with {1}".format(path, response.status), status=response.status)
            while True:
                line = response.readline()
                if not line:
                    return
                event = json.loads(line)
                yield event["type"], event["object"]
        except (OSError, http.client.HTTPException):
            return
        finally:
            conn.close()

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
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise K8sError(
                    "Timed out after {0:.0f}s waiting for {1}.".format(timeout, what),
                    hint="raise wait_timeout, or look at the object's status and events",
                )
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


def describe(obj):
    """'Kind namespace/name' (or 'Kind name' for cluster-scoped objects), for messages and diff headers."""
    meta = obj.get("metadata", {})
    return "{0} {1}{2}".format(
        obj.get("kind"), meta.get("namespace", "") + "/" if meta.get("namespace") else "", meta.get("name")
    )


def hint_for(status, reason):
    if status == 401:
        return "the credentials in the kubeconfig are not accepted; refresh them"
    if status == 403:
        return "the kubeconfig's user may not do this; grant it with RBAC or use another context"
    if status == 409 and reason == "Conflict":
        return "another field manager owns these fields; set force_conflicts: true to take them over"
    if status == 422:
        return "the server rejected the object's content; fix the fields the message names"
    return None


def stripped(obj):
    """The object without what the server changes on every write, for before/after comparison."""
    if obj is None:
        return None
    result = copy.deepcopy(obj)
    metadata = result.get("metadata", {})
    for key in VOLATILE_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        metadata.pop("annotations", None)
    return result


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
