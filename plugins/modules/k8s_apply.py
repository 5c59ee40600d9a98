#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_apply
short_description: Apply Kubernetes objects with server-side apply, or delete them, and wait until they are ready
version_added: 0.1.0
description:
  - Applies one or more Kubernetes objects with server-side apply (field manager C(trainkit)), or deletes them.
  - C(changed) comes from comparing each object before and after (fields the server bumps on every write, such as
    C(resourceVersion) and C(managedFields), do not count), so a re-run of the same definition reports no change.
  - Check mode is a server-side dry run (C(dryRun=All)), so the API server validates the objects and the diff shows
    what it would store; check mode never waits.
  - With O(wait=true), waits on a watch of each object until it is ready - Deployment, DaemonSet and StatefulSet
    rolled out, Job complete (a failed Job fails at once), Pod ready or succeeded, PersistentVolumeClaim bound,
    CustomResourceDefinition established - or until O(wait_condition) holds, or, with O(state=absent), until
    it is gone.
  - Option names follow M(kubernetes.core.k8s).
author:
  - trainkit.aws contributors (@trainkit)
options:
  state:
    description: Whether the objects should exist.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - "The objects - a dict, a list of dicts, or YAML text with one or more documents (C(kind: List) is unpacked)."
    type: raw
    aliases: [resource_definition]
  src:
    description:
      - A YAML file with the objects, read on the controller (the C(files/) search path applies).
    type: path
  template:
    description:
      - A Jinja2 template of the objects, rendered on the controller with the task's variables
        (the C(templates/) search path applies).
    type: raw
  namespace:
    description: Namespace for namespaced objects that do not name one. Default - the context's, else C(default).
    type: str
  force_conflicts:
    description: Take over fields another field manager owns, instead of failing with a conflict.
    type: bool
    default: false
  wait:
    description: Wait until each object is ready (or gone, with O(state=absent)).
    type: bool
    default: false
  wait_condition:
    description: Instead of the built-in readiness, wait until the object has this condition.
    type: dict
    suboptions:
      type:
        description: The condition's type, for example C(Complete).
        type: str
        required: true
      status:
        description: The condition's status.
        type: str
        choices: ["True", "False", "Unknown"]
        default: "True"
      reason:
        description: The condition's reason, when it matters.
        type: str
  wait_timeout:
    description: Seconds to wait for each object.
    type: int
    default: 120
  delete_propagation:
    description: How dependents are deleted with O(state=absent).
    type: str
    choices: [Foreground, Background, Orphan]
    default: Foreground
extends_documentation_fragment:
  - trainkit.aws.k8s
attributes:
  check_mode:
    description: Runs as a server-side dry run and reports what would change.
    support: full
  diff_mode:
    description: Returns each object before and after (server-side dry run in check mode).
    support: full
notes:
  - Exactly one of O(definition), O(src) and O(template) is needed.
  - Needs the official C(kubernetes) Python client on the controller (the collection's C(requirements.txt)).
"""

EXAMPLES = r"""
- name: Cluster | A namespace and a PVC, waiting until the claim is bound
  trainkit.aws.k8s_apply:
    kubeconfig: "{{ trainkit_cluster.kubeconfig }}"
    definition:
      - apiVersion: v1
        kind: Namespace
        metadata: {name: training}
      - apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: efsvol, namespace: training}
        spec:
          accessModes: [ReadWriteMany]
          storageClassName: ""
          resources: {requests: {storage: 100Gi}}
    wait: true

- name: Addons | Device plugin from a template shipped with the collection
  trainkit.aws.k8s_apply:
    kubeconfig: "{{ trainkit_cluster.kubeconfig }}"
    template: nvidia-device-plugin.yaml.j2
    wait: true

- name: Train | Wait for a Job's own condition
  trainkit.aws.k8s_apply:
    kubeconfig: "{{ trainkit_cluster.kubeconfig }}"
    src: jobs/split-data.yaml
    wait: true
    wait_condition: {type: Complete, status: "True"}
    wait_timeout: 600
"""

RETURN = r"""
result:
  description: The object as the server has it after the task (the last one, when several were given).
  returned: when one object was given
  type: dict
results:
  description: One entry per object, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: The object's kind.
      type: str
    name:
      description: The object's name.
      type: str
    namespace:
      description: The object's namespace (namespaced objects).
      type: str
    changed:
      description: Whether this object changed.
      type: bool
    result:
      description: The object as the server has it (empty once deleted).
      type: dict
"""


from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import describe
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import load_definitions
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import matches_condition
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import ready
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import stripped
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_module import K8sModule


def apply_one(module, client, obj):
    p = module.params
    namespace = p["namespace"]
    before = client.get(obj, namespace)
    try:
        after = client.apply(obj, namespace, force=p["force_conflicts"], dry_run=module.check_mode)
    except K8sError as exc:
        if module.check_mode and exc.status == 404 and before is None:
            # e.g. the namespace is created by an earlier object of this same task: the dry run cannot see it
            return True, before, obj, obj
        raise
    changed = stripped(before) != stripped(after)
    if p["wait"] and not module.check_mode:
        wanted = p["wait_condition"]

        def check(current):
            return matches_condition(current, wanted) if wanted else ready(current)

        after = client.wait(obj, namespace, check, p["wait_timeout"], describe(obj) + " to be ready")
    return changed, before, after, after


def delete_one(module, client, obj):
    p = module.params
    before = client.get(obj, p["namespace"])
    if before is None:
        return False, None, None, {}
    client.delete(obj, p["namespace"], dry_run=module.check_mode, propagation=p["delete_propagation"])
    if p["wait"] and not module.check_mode:
        client.wait(
            obj, p["namespace"], lambda current: current is None, p["wait_timeout"], describe(obj) + " to be deleted"
        )
    return True, before, None, {}


def censored(module, results):
    """The results, each marked no_log when the task is: Ansible hides a no_log task's result, but keeps a list under
    "results" (it takes it for loop items) unless each entry says so - and a Secret's data would show."""
    if module.no_log:
        for entry in results:
            entry["_ansible_no_log"] = True
    return results


def main():
    module = K8sModule(
        argument_spec=dict(
            state=dict(type="str", default="present", choices=["present", "absent"]),
            definition=dict(type="raw", aliases=["resource_definition"]),
            src=dict(type="path"),
            template=dict(type="raw"),
            namespace=dict(type="str"),
            force_conflicts=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            wait_condition=dict(
                type="dict",
                options=dict(
                    type=dict(type="str", required=True),
                    status=dict(type="str", default="True", choices=["True", "False", "Unknown"]),
                    reason=dict(type="str"),
                ),
            ),
            wait_timeout=dict(type="int", default=120),
            delete_propagation=dict(type="str", default="Foreground", choices=["Foreground", "Background", "Orphan"]),
        ),
        mutually_exclusive=[["definition", "src", "template"]],
        required_one_of=[["definition", "src", "template"]],
        supports_check_mode=True,
        needs_yaml=True,
    )
    p = module.params
    if p["template"] is not None:
        module.fail_json(
            msg="template is rendered by the k8s_apply action plugin; call the module as trainkit.aws.k8s_apply"
        )
    try:
        objects = load_definitions(p["definition"], p["src"])
    except (OSError, ValueError) as exc:
        module.fail_json(msg="Cannot read the objects: {0}".format(exc))
    problems = [
        "object {0} needs apiVersion, kind and metadata.name".format(i)
        for i, obj in enumerate(objects)
        if not isinstance(obj, dict)
        or not obj.get("apiVersion")
        or not obj.get("kind")
        or not (obj.get("metadata") or {}).get("name")
    ]
    if not objects:
        problems.append("no objects given")
    if p["wait_timeout"] < 1:
        problems.append("wait_timeout must be at least 1 second")
    module.fail_on_problems(problems)

    results, diffs, changed = [], [], False
    client = module.client
    try:
        ordered = objects if p["state"] == "present" else list(reversed(objects))
        for obj in ordered:
            step = apply_one if p["state"] == "present" else delete_one
            obj_changed, before, after, result = step(module, client, obj)
            changed = changed or obj_changed
            meta = obj.get("metadata", {})
            entry = {"kind": obj["kind"], "name": meta.get("name"), "changed": obj_changed, "result": result or {}}
            if (result or {}).get("metadata", {}).get("namespace"):
                entry["namespace"] = result["metadata"]["namespace"]
            results.append(entry)
            diffs.append(
                {
                    "before": stripped(before) or {},
                    "after": stripped(after) or {},
                    "before_header": describe(obj),
                    "after_header": describe(obj),
                }
            )
    except K8sError as exc:
        module.fail_k8s(exc, results=censored(module, results))
    if p["state"] == "absent":
        results.reverse()
    output = dict(changed=changed, results=censored(module, results))
    if len(results) == 1:
        output["result"] = results[0]["result"]
    if module._diff:
        output["diff"] = diffs if len(diffs) > 1 else diffs[0]
    module.exit_json(**output)


if __name__ == "__main__":
    main()
