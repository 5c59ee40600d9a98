# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verbs: get, server-side apply (field manager ``trainkit``), delete, their dry runs, and what a diff compares."""

from __future__ import annotations

import copy

from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import K8sError

FIELD_MANAGER = "trainkit"
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")


class Verbs:
    """Mixed into k8s.Client: needs request(), path() and resource() of k8s_client.Transport."""

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

    def log_tail(self, namespace, pod, lines, fallback=None):
        """A pod's last lines from pods/log; ``fallback`` (its termination message) where the kubelet cannot serve
        logs (the local cluster's nodes have no kubelet)."""
        path = "/api/v1/namespaces/{0}/pods/{1}/log".format(namespace, pod)
        try:
            status, body = self.request("GET", path, query={"tailLines": str(lines)})
            text = body.get("message") if isinstance(body, dict) else None
            if status == 200 and text:
                return text
        except K8sError:
            pass
        return "\n".join((fallback or "").rstrip("\n").split("\n")[-lines:])


def describe(obj):
    """'Kind namespace/name' (or 'Kind name' for cluster-scoped objects), for messages and diff headers."""
    meta = obj.get("metadata", {})
    return "{0} {1}{2}".format(
        obj.get("kind"), meta.get("namespace", "") + "/" if meta.get("namespace") else "", meta.get("name")
    )


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
