# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules' Kubernetes client, split the way kubernetes.core splits its own:

- k8s_client: configuration, authentication and transport on the official ``kubernetes`` client (kubeconfig
  files merged, contexts, exec plugins, in-cluster, proxies, retries) and discovery;
- k8s_verbs: server-side apply with the field manager ``trainkit``, delete, dry runs, what a diff compares;
- k8s_waits: watch-based waits and the readiness rules of Job, Pod, PVC, CRD, Deployment, DaemonSet, StatefulSet.

Modules use :class:`Client`, which has all three, and the names below.
"""

from __future__ import annotations

from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import HAS_KUBERNETES
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import MISSING_LIBRARY
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import NOT_SERVED
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_client import Transport
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_verbs import FIELD_MANAGER
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_verbs import Verbs
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_verbs import describe
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_verbs import stripped
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_waits import Waits
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_waits import condition
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_waits import matches_condition
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_waits import ready

__all__ = [
    "Client",
    "FIELD_MANAGER",
    "HAS_KUBERNETES",
    "HAS_YAML",
    "K8sError",
    "MISSING_LIBRARY",
    "NOT_SERVED",
    "condition",
    "describe",
    "load_definitions",
    "matches_condition",
    "ready",
    "stripped",
]

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False


class Client(Verbs, Waits, Transport):
    """One API server: transport and discovery (k8s_client), verbs (k8s_verbs), waits (k8s_waits)."""


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
