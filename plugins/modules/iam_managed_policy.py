#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_managed_policy
short_description: A customer managed IAM policy
version_added: 0.1.0
description:
  - Creates, updates or deletes a customer managed IAM policy (one that groups, users and roles attach by ARN).
  - A changed O(policy) becomes a new default version; when the policy already has the five versions IAM allows, the
    oldest version that is not the default is deleted first.
  - O(state=absent) detaches the policy from every group, user and role, deletes its other versions, then the policy.
  - Managed policies hold up to 6,144 characters (whitespace not counted) against 5,120 for all the inline policies of
    a group together, which is why the operators' least-privilege policy is managed.
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The policy's name.
    type: str
    required: true
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
  policy:
    description:
      - The policy document (a dict or JSON text). Required with O(state=present).
      - Compared semantically with the default version, so order and single-item lists do not cause changes.
    type: json
  description:
    description: The policy's description (set when it is created; IAM cannot change it later).
    type: str
  path:
    description: The IAM path of the policy.
    type: str
    default: /
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Identity | The operators' least-privilege policy
  trainkit.aws.iam_managed_policy:
    name: paddle-demo-operator-1
    description: What site.yml and teardown.yml call
    policy: "{{ lookup('ansible.builtin.file', 'operator-policy.json') }}"
    cluster_name: paddle-demo
  register: operator_policy

- name: Identity | Remove it (detached from every group, user and role first)
  trainkit.aws.iam_managed_policy:
    name: paddle-demo-operator-1
    state: absent
"""

RETURN = r"""
policy:
  description: The policy.
  returned: when state is present
  type: dict
  contains:
    policy_name:
      description: Name.
      type: str
    arn:
      description: ARN.
      type: str
      sample: arn:aws:iam::123456789012:policy/paddle-demo-operator-1
    default_version_id:
      description: The default version.
      type: str
      sample: v2
    tags:
      description: Tags.
      type: dict
arn:
  description: The policy's ARN.
  returned: when state is present
  type: str
"""

import json

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._iam import load_policy
from ansible_collections.trainkit.aws.plugins.module_utils._iam import policies_equal
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import account_id
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import resource_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict

MAX_VERSIONS = 5
MAX_CHARACTERS = 6144


def policy_arn(module, name, path):
    return "arn:aws:iam::{0}:policy{1}{2}".format(account_id(module), path, name)


def get_policy(iam, arn):
    try:
        return iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as exc:
        if is_not_found(exc, "NoSuchEntity"):
            return None
        raise


def default_document(iam, policy):
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    return load_policy(version["PolicyVersion"]["Document"])


def summary(policy, tags):
    return {
        "policy_name": policy["PolicyName"],
        "arn": policy["Arn"],
        "default_version_id": policy.get("DefaultVersionId"),
        "tags": tags,
    }


def make_room(iam, arn):
    """Delete the oldest non-default version when the policy has as many as IAM allows."""
    versions = paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn)
    if len(versions) < MAX_VERSIONS:
        return
    oldest = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])[0]
    iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])


def ensure_present(module, iam):
    p = module.params
    wanted = load_policy(p["policy"])
    wanted_tags, purge = desired_tags(p["tags"], p["cluster_name"], p["purge_tags"])
    arn = policy_arn(module, p["name"], p["path"])
    policy = get_policy(iam, arn)
    if policy is None:
        after = {"policy_name": p["name"], "arn": arn, "default_version_id": "v1", "tags": wanted_tags}
        if module.check_mode:
            return True, {}, dict(after, document=wanted), dict(policy=after, arn=arn)
        kwargs = dict(PolicyName=p["name"], Path=p["path"], PolicyDocument=json.dumps(wanted))
        if p["description"]:
            kwargs["Description"] = p["description"]
        if wanted_tags:
            kwargs["Tags"] = boto3_tag_list(wanted_tags)
        created = iam.create_policy(**kwargs)["Policy"]
        after = summary(created, wanted_tags)
        return True, {}, dict(after, document=wanted), dict(policy=after, arn=created["Arn"])
    current = default_document(iam, policy)
    tags = tag_dict(paginate(iam, "list_policy_tags", "Tags", PolicyArn=arn))
    before = dict(summary(policy, tags), document=current)
    changed = False
    after = dict(before)
    if not policies_equal(current, wanted):
        changed = True
        after["document"] = wanted
        if not module.check_mode:
            make_room(iam, arn)
            version = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(wanted), SetAsDefault=True)
            after["default_version_id"] = version["PolicyVersion"]["VersionId"]
        else:
            after["default_version_id"] = placeholder("v")
    tagger = resource_tagger(iam.tag_policy, iam.untag_policy, PolicyArn=arn)
    tags_changed, tags_after = sync_tags(module.check_mode, tags, wanted_tags, purge, tagger)
    changed |= tags_changed
    after["tags"] = tags_after
    result = dict((k, v) for k, v in after.items() if k != "document")
    return changed, before, after, dict(policy=result, arn=arn)


def ensure_absent(module, iam):
    p = module.params
    arn = policy_arn(module, p["name"], p["path"])
    policy = get_policy(iam, arn)
    if policy is None:
        return False, {}, {}, {}
    before = summary(policy, None)
    if module.check_mode:
        return True, before, {}, {}
    entities = iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn).build_full_result()
    for group in entities.get("PolicyGroups", []):
        iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=arn)
    for user in entities.get("PolicyUsers", []):
        iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
    for role in entities.get("PolicyRoles", []):
        iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    for version in paginate(iam, "list_policy_versions", "Versions", PolicyArn=arn):
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=arn)
    return True, before, {}, {}


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        policy=dict(type="json"),
        description=dict(type="str"),
        path=dict(type="str", default="/"),
        cluster_name=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = (
        validate.iam_name(p["name"], "name") + validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"])
    )
    if not (p["path"].startswith("/") and p["path"].endswith("/")):
        problems.append("path {0!r} must start and end with '/'".format(p["path"]))
    if p["state"] == "present":
        if not p["policy"]:
            problems.append("policy is required with state=present")
        else:
            problems += validate.policy_document(p["policy"], "policy")
            if not problems:
                size = len("".join(json.dumps(load_policy(p["policy"]), separators=(",", ":")).split()))
                if size > MAX_CHARACTERS:
                    problems.append(
                        "policy has {0} characters without whitespace; IAM allows {1}: split it".format(
                            size, MAX_CHARACTERS
                        )
                    )
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "IAM policy " + p["name"], module.client("iam"))


if __name__ == "__main__":
    main()
