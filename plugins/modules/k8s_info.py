#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_info
short_description: Read Kubernetes objects
version_added: 0.1.0
description:
  - Reads one object by name, or lists the objects of a kind (in a namespace or cluster-wide), filtered by label and
    field selectors. Changes nothing.
  - A kind the API server does not serve (for example a custom resource whose CRD is not installed) is no error - it
    returns no objects and RV(api_found=false).
  - Option names follow M(kubernetes.core.k8s_info).
author:
  - trainkit.aws contributors (@trainkit)
options:
  api_version:
    description: The objects' apiVersion, for example V(v1) or V(apiextensions.k8s.io/v1).
    type: str
    default: v1
  kind:
    description: The objects' kind.
    type: str
    required: true
  name:
    description: One object's name; without it, every object of the kind is listed.
    type: str
  namespace:
    description: The namespace of namespaced objects. Without it a list is cluster-wide.
    type: str
  label_selectors:
    description: Label selectors, ANDed (for example V(app=mpi-operator)).
    type: list
    elements: str
    default: []
  field_selectors:
    description: Field selectors, ANDed (for example V(status.phase=Running)).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - trainkit.aws.k8s
attributes:
  check_mode:
    description: Reads the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: Addons | Is there an MPIJob CRD already?
  trainkit.aws.k8s_info:
    kubeconfig: "{{ trainkit_cluster.kubeconfig }}"
    api_version: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    name: mpijobs.kubeflow.org
  register: mpijob_crd

- name: Addons | The device plugin's pods
  trainkit.aws.k8s_info:
    kubeconfig: "{{ trainkit_cluster.kubeconfig }}"
    kind: Pod
    namespace: kube-system
    label_selectors: [name=nvidia-device-plugin-ds]
"""

RETURN = r"""
resources:
  description: The objects found (none when the object or its kind does not exist).
  returned: always
  type: list
  elements: dict
api_found:
  description: Whether the API server serves O(api_version) and O(kind).
  returned: always
  type: bool
"""

from ansible_collections.trainkit.aws.plugins.module_utils.k8s import NOT_SERVED
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_module import K8sModule


def main():
    module = K8sModule(
        argument_spec=dict(
            api_version=dict(type="str", default="v1"),
            kind=dict(type="str", required=True),
            name=dict(type="str"),
            namespace=dict(type="str"),
            label_selectors=dict(type="list", elements="str", default=[]),
            field_selectors=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    obj = {"apiVersion": p["api_version"], "kind": p["kind"], "metadata": {"name": p["name"] or ""}}
    if p["namespace"]:
        obj["metadata"]["namespace"] = p["namespace"]
    client = module.client
    try:
        if p["name"]:
            found = client.get(obj, p["namespace"])
            resources = [found] if found is not None else []
        else:
            query = {}
            if p["label_selectors"]:
                query["labelSelector"] = ",".join(p["label_selectors"])
            if p["field_selectors"]:
                query["fieldSelector"] = ",".join(p["field_selectors"])
            path = client.collection_path(p["api_version"], p["kind"], p["namespace"])
            listing = client.request("GET", path, query=query or None)[1] or {}
            resources = listing.get("items", [])
    except K8sError as exc:
        if exc.reason == NOT_SERVED:
            module.exit_json(changed=False, resources=[], api_found=False)
        module.fail_k8s(exc)
    module.exit_json(changed=False, resources=resources, api_found=True)


if __name__ == "__main__":
    main()
