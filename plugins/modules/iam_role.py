#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_role
short_description: An IAM role with its trust policy, policies and optional instance profile
version_added: 0.1.0
description:
  - Creates, updates or deletes an IAM role - the kubernetes-master and kubernetes-node roles of a cluster, for
    example - with its trust policy, attached managed policies, inline policies and an instance profile of the
    same name.
  - O(state=absent) removes the role from its instance profile, deletes the profile, detaches and deletes its
    policies and deletes the role.
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The role's name (at most 64 characters).
    type: str
    required: true
  state:
    description: Whether the role should exist.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The IAM path of the role and its instance profile.
    type: str
    default: /
  description:
    description: The role's description.
    type: str
  trusted_service:
    description:
      - The AWS service allowed to assume the role, for example V(ec2.amazonaws.com); builds the trust policy.
      - Mutually exclusive with O(assume_role_policy). One of them is required to create the role.
    type: str
  assume_role_policy:
    description:
      - The full trust policy document (dict or JSON text). Compared semantically.
    type: json
  managed_policies:
    description:
      - ARNs of the managed policies the role should have attached, exactly. Not set - left alone.
    type: list
    elements: str
  inline_policies:
    description:
      - Inline policies, name to policy document, exactly. Not set - left alone.
    type: dict
  instance_profile:
    description:
      - Whether an instance profile of the same name should hold the role (needed to give it to EC2 nodes).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for IAM's eventual consistency - until a new role and instance profile is found by the calls that follow.
      - Must be at least 1.
    type: int
    default: 120
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Identity | Role of the Kubernetes worker nodes
  trainkit.aws.iam_role:
    name: paddle-demo-kubernetes-node
    cluster_name: paddle-demo
    trusted_service: ec2.amazonaws.com
    managed_policies:
      - arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy
      - arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly
    instance_profile: true
"""

RETURN = r"""
role:
  description: The role.
  returned: when state is present
  type: dict
  contains:
    role_name:
      description: Name.
      type: str
    arn:
      description: ARN.
      type: str
    assume_role_policy:
      description: The trust policy document.
      type: dict
    tags:
      description: Tags.
      type: dict
role_arn:
  description: The role's ARN.
  returned: when state is present
  type: str
  sample: arn:aws:iam::123456789012:role/paddle-demo-kubernetes-node
instance_profile_arn:
  description: The ARN of the instance profile holding the role, when O(instance_profile=true).
  returned: when state is present and instance_profile is true
  type: str
managed_policies:
  description: ARNs of the attached managed policies.
  returned: when state is present
  type: list
  elements: str
inline_policies:
  description: Names of the inline policies.
  returned: when state is present
  type: list
  elements: str
"""

import json

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._iam import PolicySync
from ansible_collections.trainkit.aws.plugins.module_utils._iam import load_policy
from ansible_collections.trainkit.aws.plugins.module_utils._iam import normalize_policy
from ansible_collections.trainkit.aws.plugins.module_utils._iam import policies_equal
from ansible_collections.trainkit.aws.plugins.module_utils._iam import policy_hint
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import account_id
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import WaiterError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import undo
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_with_waiter
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import resource_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict


def trust_policy(params):
    if params["assume_role_policy"] is not None:
        return load_policy(params["assume_role_policy"])
    if params["trusted_service"]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": params["trusted_service"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    return None


def get_role(iam, name):
    try:
        return iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if is_not_found(exc, "NoSuchEntity"):
            return None
        raise


def get_instance_profile(iam, name):
    try:
        return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except ClientError as exc:
        if is_not_found(exc, "NoSuchEntity"):
            return None
        raise


def describe(iam, name, sync, profile=False):
    role = get_role(iam, name)
    if role is None:
        return {}
    tags = tag_dict(paginate(iam, "list_role_tags", "Tags", RoleName=name))
    result = {
        "role": {
            "role_name": role["RoleName"],
            "arn": role["Arn"],
            "path": role["Path"],
            "description": role.get("Description"),
            "assume_role_policy": normalize_policy(role["AssumeRolePolicyDocument"]),
            "tags": tags,
        },
        "role_arn": role["Arn"],
        "managed_policies": sync.attached(),
        "inline_policies": sorted(sync.inline()),
    }
    if profile is False:  # not read by the caller yet
        profile = get_instance_profile(iam, name)
    if profile is not None and any(r["RoleName"] == name for r in profile.get("Roles", [])):
        result["instance_profile_arn"] = profile["Arn"]
    return result


def ensure_instance_profile(module, iam, name, path, profile):
    wanted = module.params["instance_profile"]
    holds_role = profile is not None and any(r["RoleName"] == name for r in profile.get("Roles", []))
    if wanted == holds_role and (wanted or profile is None):
        return False, profile
    if module.check_mode:
        return True, profile
    if wanted:
        if profile is None:
            profile = iam.create_instance_profile(InstanceProfileName=name, Path=path)["InstanceProfile"]
            # IAM is eventually consistent: the new profile may not be found by the next call yet
            wait_with_waiter(
                iam, "instance_profile_exists", module.params["wait_timeout"], delay=1, InstanceProfileName=name
            )
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        profile["Roles"] = [{"RoleName": name}]
    else:
        delete_instance_profile(iam, name, profile)
        profile = None
    return True, profile


def created(p, role, profile, trust, wanted_tags):
    """The result for a role just created - known from the calls that made it, without reading it back."""
    result = {
        "role": {
            "role_name": role["RoleName"],
            "arn": role["Arn"],
            "path": role["Path"],
            "description": p["description"],
            "assume_role_policy": normalize_policy(trust),
            "tags": wanted_tags,
        },
        "role_arn": role["Arn"],
        "managed_policies": sorted(p["managed_policies"] or []),
        "inline_policies": sorted(p["inline_policies"] or {}),
    }
    if p["instance_profile"] and profile is not None:
        result["instance_profile_arn"] = profile["Arn"]
    return result


def delete_instance_profile(iam, name, profile):
    if profile is None:
        return
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=name)


def ensure_present(module, iam):
    p = module.params
    name = p["name"]
    sync = PolicySync(iam, "role", name, module.check_mode)
    profile = get_instance_profile(iam, name)  # read once: for the result and for the profile's sync
    before = describe(iam, name, sync, profile)
    sync.check_attachable(p["managed_policies"], exists=bool(before))  # before any change
    trust = trust_policy(p)
    wanted_tags, purge = desired_tags(p["tags"], p["cluster_name"], p["purge_tags"])
    if not before:
        if trust is None:
            module.fail_json(
                msg="Role {0} does not exist; set trusted_service or assume_role_policy to create it.".format(name)
            )
        after = {
            "role": {"role_name": name, "assume_role_policy": normalize_policy(trust), "tags": wanted_tags},
            "managed_policies": sorted(p["managed_policies"] or []),
            "inline_policies": sorted(p["inline_policies"] or {}),
        }
        if module.check_mode:
            # IAM ARNs are known before creation: arn:aws:iam::<account>:role<path><name>
            prefix = "arn:aws:iam::{0}:".format(account_id(module))
            result = dict(after, role_arn=prefix + "role" + p["path"] + name)
            if p["instance_profile"]:
                result["instance_profile_arn"] = prefix + "instance-profile" + p["path"] + name
            return True, before, after, result
        kwargs = dict(RoleName=name, Path=p["path"], AssumeRolePolicyDocument=json.dumps(trust))
        if p["description"]:
            kwargs["Description"] = p["description"]
        if wanted_tags:
            kwargs["Tags"] = boto3_tag_list(wanted_tags)
        role = iam.create_role(**kwargs)["Role"]
        try:
            wait_with_waiter(iam, "role_exists", p["wait_timeout"], delay=1, RoleName=name)
            sync.known_empty()  # a new role has no policies: nothing to read before attaching
            sync.sync_managed(p["managed_policies"])
            sync.sync_inline(p["inline_policies"])
            _changed, profile = ensure_instance_profile(module, iam, name, p["path"], profile)
        except (ClientError, BotoCoreError, WaiterError):
            # do not leave a role behind without the policies it was asked with: remove what this run made
            undo(
                module,
                "role " + name,
                lambda: delete_instance_profile(iam, name, get_instance_profile(iam, name)),
                sync.remove_all,
                lambda: iam.delete_role(RoleName=name),
            )
            raise
        after = created(p, role, profile, trust, wanted_tags)
        return True, before, after, after

    changed = False
    role = before["role"]
    if trust is not None and not policies_equal(role["assume_role_policy"], trust):
        changed = True
        if not module.check_mode:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    if p["description"] is not None and p["description"] != (role.get("description") or ""):
        changed = True
        if not module.check_mode:
            iam.update_role(RoleName=name, Description=p["description"])
    tags_changed, tags_after = sync_tags(
        module.check_mode,
        role["tags"],
        wanted_tags,
        purge,
        resource_tagger(iam.tag_role, iam.untag_role, RoleName=name),
    )
    changed |= tags_changed
    changed |= sync.sync_managed(p["managed_policies"])
    changed |= sync.sync_inline(p["inline_policies"])
    changed |= ensure_instance_profile(module, iam, name, p["path"], profile)[0]
    if module.check_mode:
        after = dict(before, role=dict(role, tags=tags_after))
        if trust is not None:
            after["role"]["assume_role_policy"] = normalize_policy(trust)
        if p["managed_policies"] is not None:
            after["managed_policies"] = sorted(p["managed_policies"])
        if p["inline_policies"] is not None:
            after["inline_policies"] = sorted(p["inline_policies"])
        return changed, before, after, after
    after = describe(iam, name, sync) if changed else before  # unchanged: no second read
    return changed, before, after, after


def ensure_absent(module, iam):
    name = module.params["name"]
    sync = PolicySync(iam, "role", name, module.check_mode)
    profile = get_instance_profile(iam, name)
    before = describe(iam, name, sync, profile)
    if not before and profile is None:
        return False, {}, {}, {}
    if not module.check_mode:
        delete_instance_profile(iam, name, profile)
        if before:
            sync.remove_all()
            iam.delete_role(RoleName=name)
    return True, before, {}, {}


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        path=dict(type="str", default="/"),
        description=dict(type="str"),
        trusted_service=dict(type="str"),
        assume_role_policy=dict(type="json"),
        managed_policies=dict(type="list", elements="str"),
        inline_policies=dict(type="dict"),
        instance_profile=dict(type="bool", default=False),
        cluster_name=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
    )
    module = AWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[["trusted_service", "assume_role_policy"]],
    )
    p = module.params
    problems = validate.iam_name(p["name"], "name", max_len=64) + validate.cluster_name(p["cluster_name"])
    problems += validate.policy_arns(p["managed_policies"]) + validate.tags(p["tags"])
    if p["assume_role_policy"] is not None:
        problems += validate.policy_document(p["assume_role_policy"], "assume_role_policy")
    if p["trusted_service"] is not None and not p["trusted_service"].endswith(".amazonaws.com"):
        problems.append(
            "trusted_service {0!r} must be a service principal such as 'ec2.amazonaws.com'".format(p["trusted_service"])
        )
    for policy_name, doc in (p["inline_policies"] or {}).items():
        problems += validate.iam_name(policy_name, "inline_policies key")
        problems += validate.policy_document(doc, "inline_policies[{0!r}]".format(policy_name))
    if not (p["path"].startswith("/") and p["path"].endswith("/")):
        problems.append("path {0!r} must start and end with '/'".format(p["path"]))
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "IAM role " + p["name"], module.client("iam"), hint_for=policy_hint)


if __name__ == "__main__":
    main()
