#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: validate_inputs
short_description: Check a playbook's variables with the modules' own rules, before anything is changed
version_added: 0.1.0
description:
  - Runs the same checks the AWS modules make on their options (cluster names, CIDRs and zones, bucket names,
    DNS names and record values, IAM names and policy documents, FSx and EFS option combinations, tags, ports)
    over variables named by the caller, and fails once, listing every problem with the variable to change.
  - Makes no AWS call. The C(preflight) role runs it for every stage's role (each role's C(validate) tasks) at the
    start of every playbook, so a bad variable of the last stage fails the run before the first stage changes
    anything.
author:
  - trainkit.aws contributors (@trainkit)
options:
  checks:
    description: The values to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The variable's name, as problems name it.
        type: str
        required: true
      kind:
        description:
          - Which rule applies.
          - C(subnets) also reads O(checks[].cidr_block) and O(checks[].region); C(records) reads O(checks[].zone).
          - C(fsx) takes a dict with C(deployment_type), C(storage_capacity), C(per_unit_storage_throughput),
            C(import_path), C(export_path); C(efs) a dict with C(throughput_mode),
            C(provisioned_throughput_in_mibps), C(encrypted), C(kms_key_id), C(access_points), C(performance_mode);
            C(eks_endpoint) a dict
            with C(public_access), C(private_access) and C(public_access_cidrs) (problems name them after
            O(checks[].name) and C(_)); C(nat_gateways) a dict with C(mode) (C(single), C(per_zone), C(none)) and
            the network's C(subnets); C(efa_nodegroups) a dict with the cluster C(provider) and its C(nodegroups)
            (an C(efa) group - eksctl or local, not kube_aws; one zone, instance types with EFA where the collection knows the type,
            C(plugins/module_utils/instance_types.py); the capacity check asks EC2 about the others).
        type: str
        required: true
        choices: [cluster_name, region, bucket_name, kms_alias, iam_name, iam_role_name, iam_names, policy_arns,
                  policy_document, policy_documents, ssh_public_key, cidr_block, subnets, cidr_list, dns_name,
                  records, tags, port, positive_int, pending_window_days, one_of, fsx, efs, eks_endpoint,
                  nat_gateways, efa_nodegroups]
      value:
        description: The value. An empty string or null is skipped for the optional kinds (names that default).
        type: raw
      cidr_block:
        description: With O(checks[].kind=subnets), the VPC's CIDR block.
        type: str
      region:
        description: With O(checks[].kind=subnets), the region the zones must belong to.
        type: str
      zone:
        description: With O(checks[].kind=records), the zone's name.
        type: str
      choices:
        description: With O(checks[].kind=one_of), the allowed values.
        type: list
        elements: raw
attributes:
  check_mode:
    description: Can run in check_mode; it never changes anything.
    support: full
  diff_mode:
    description: There is nothing to show a diff of.
    support: none
"""

EXAMPLES = r"""
- name: Preflight | Check the network's variables
  trainkit.aws.validate_inputs:
    checks:
      - {name: network_cidr_block, kind: cidr_block, value: "{{ network_cidr_block }}"}
      - name: network_subnets
        kind: subnets
        value: "{{ network_subnets }}"
        cidr_block: "{{ network_cidr_block }}"
        region: "{{ network_region }}"
      - {name: network_private_zone_name, kind: dns_name, value: "{{ network_private_zone_name }}"}
"""

RETURN = r"""
checked:
  description: The names of the variables that were checked.
  returned: always
  type: list
  elements: str
problems:
  description: What is wrong, one sentence each (the task fails when there is any).
  returned: on failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils import validate

SKIP_WHEN_EMPTY = {"bucket_name", "dns_name", "ssh_public_key", "kms_alias", "policy_document"}


def problems_of(check):
    kind, name, value = check["kind"], check["name"], check["value"]
    if kind in SKIP_WHEN_EMPTY and value in (None, ""):
        return []
    if kind == "cluster_name":
        return validate.cluster_name(value or "", name) if value is not None else [name + " is not set"]
    if kind == "region":
        return [p.replace("region", name, 1) for p in validate.region(value)] if value else [name + " is not set"]
    if kind == "bucket_name":
        return [name + ": " + p for p in validate.bucket_name(value)]
    if kind == "kms_alias":
        alias = value if str(value).startswith("alias/") else "alias/" + str(value)
        return [name + ": " + p for p in validate.kms_alias(alias)]
    if kind in ("iam_name", "iam_role_name"):
        return validate.iam_name(value, name, max_len=64 if kind == "iam_role_name" else 128)
    if kind == "iam_names":
        return [
            p for index, item in enumerate(value or []) for p in validate.iam_name(item, "{0}[{1}]".format(name, index))
        ]
    if kind == "policy_arns":
        return validate.policy_arns(value, name)
    if kind == "policy_document":
        return validate.policy_document(value, name)
    if kind == "policy_documents":
        return [
            p for key, doc in (value or {}).items() for p in validate.policy_document(doc, "{0}.{1}".format(name, key))
        ]
    if kind == "ssh_public_key":
        return [p.replace("public_key", name, 1) for p in validate.ssh_public_key(value)]
    if kind == "cidr_block":
        return validate.network(value, name)[0]
    if kind == "subnets":
        return [name + ": " + p for p in validate.subnets(check["cidr_block"], value or [], check["region"])]
    if kind == "cidr_list":
        return validate.cidr_list(value or [], name)
    if kind == "dns_name":
        return validate.dns_name(value, name)
    if kind == "records":
        return records(name, value or [], check["zone"])
    if kind == "tags":
        return validate.tags(value if isinstance(value, dict) else {}, name) + (
            [] if isinstance(value, dict) or value is None else [name + " must be a mapping of tag names to values"]
        )
    if kind == "port":
        return (
            []
            if isinstance(value, int) and 1 <= value <= 65535
            else ["{0} {1!r} is not a TCP port".format(name, value)]
        )
    if kind == "positive_int":
        return validate.positive(value, name)
    if kind == "pending_window_days":
        return [] if isinstance(value, int) and 7 <= value <= 30 else ["{0} {1!r} must be 7 to 30".format(name, value)]
    if kind == "one_of":
        return (
            [] if value in check["choices"] else ["{0} {1!r} must be one of {2}".format(name, value, check["choices"])]
        )
    if kind == "fsx":
        value = value or {}
        return validate.fsx_lustre(
            value.get("deployment_type"),
            value.get("storage_capacity"),
            value.get("per_unit_storage_throughput") or None,
            value.get("import_path") or None,
            value.get("export_path") or None,
            prefix=name + ".",
        )
    if kind == "efs":
        value = value or {}
        return validate.efs(
            value.get("throughput_mode"),
            value.get("provisioned_throughput_in_mibps") or None,
            value.get("encrypted", True),
            value.get("kms_key_id") or None,
            value.get("access_points") or [],
            prefix=name + ".",
            performance_mode=value.get("performance_mode"),
        )
    if kind == "nat_gateways":
        value = value or {}
        subnets = [dict(s, public=boolean(s.get("public", True))) for s in value.get("subnets") or []]
        return validate.nat_gateways(value.get("mode", "single"), subnets, prefix=name + ": ")
    if kind == "efa_nodegroups":
        return efa_nodegroups(name, value or {})
    if kind == "eks_endpoint":
        value = value or {}
        return validate.eks_endpoint(
            boolean(value.get("public_access", True)),
            boolean(value.get("private_access", True)),
            value.get("public_access_cidrs") or [],
            prefix=name + "_",
        )
    return []


def efa_nodegroups(name, value):
    """The EFA groups' rules, with the instance types the collection knows (no AWS call)."""
    problems = []
    for index, group in enumerate(value.get("nodegroups") or []):
        if not isinstance(group, dict) or not boolean(group.get("efa", False)):
            continue
        label = "{0}[{1}] ({2})".format(name, index, group.get("name"))
        if value.get("provider") == "kube_aws":
            problems.append(
                "{0}: efa is for the eksctl provider (eksctl's efaEnabled) and its local rehearsal; kube-aws renders "
                "no EFA interfaces".format(label)
            )
            continue
        problems += instance_types.efa_problems(group, label, instance_types.efa_of)
    return problems


def records(name, value, zone):
    problems = []
    for index, record in enumerate(value):
        option = "{0}[{1}]".format(name, index)
        if not isinstance(record, dict) or not record.get("name"):
            problems.append(option + " needs a name, a type and a value")
            continue
        record = dict(record, value=record["value"] if isinstance(record.get("value"), list) else [record.get("value")])
        if record["name"] != "@":
            problems += validate.dns_name(record["name"], option + ".name")
        problems += validate.record_values(record, option + ".value")
    return problems


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    kind=dict(
                        type="str",
                        required=True,
                        choices=[
                            "cluster_name",
                            "region",
                            "bucket_name",
                            "kms_alias",
                            "iam_name",
                            "iam_role_name",
                            "iam_names",
                            "policy_arns",
                            "policy_document",
                            "policy_documents",
                            "ssh_public_key",
                            "cidr_block",
                            "subnets",
                            "cidr_list",
                            "dns_name",
                            "records",
                            "tags",
                            "port",
                            "positive_int",
                            "pending_window_days",
                            "one_of",
                            "fsx",
                            "efs",
                            "eks_endpoint",
                            "nat_gateways",
                            "efa_nodegroups",
                        ],
                    ),
                    value=dict(type="raw"),
                    cidr_block=dict(type="str"),
                    region=dict(type="str"),
                    zone=dict(type="str"),
                    choices=dict(type="list", elements="raw"),
                ),
            )
        ),
        supports_check_mode=True,
    )
    problems = []
    for check in module.params["checks"]:
        try:
            problems += problems_of(check)
        except (TypeError, ValueError, AttributeError) as exc:
            problems.append("{0} cannot be read as a {1}: {2}".format(check["name"], check["kind"], exc))
    checked = [c["name"] for c in module.params["checks"]]
    if problems:
        module.fail_json(
            msg="Invalid inventory, nothing was changed: " + "; ".join(problems), problems=problems, checked=checked
        )
    module.exit_json(changed=False, checked=checked)


if __name__ == "__main__":
    main()
