#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kms_key
short_description: A symmetric KMS key found by its alias - the key that encrypts a cluster's assets
version_added: 0.1.0
description:
  - Creates or updates a symmetric encryption KMS key and its alias, its description, key rotation, key policy and
    tags. The key is found by its alias, so the alias is what makes it the same key across runs.
  - A key found under the alias while pending deletion is brought back (deletion cancelled, key enabled).
  - O(state=absent) deletes the alias and schedules the key's deletion after O(pending_window_days); KMS never
    deletes a key at once.
author:
  - trainkit.aws contributors (@trainkit)
options:
  alias:
    description:
      - The key's alias, with or without the C(alias/) prefix, for example V(paddle-demo-assets).
    type: str
    required: true
  state:
    description: Whether the key should exist.
    type: str
    choices: [present, absent]
    default: present
  description:
    description: The key's description. Not set - left alone (empty on create).
    type: str
  enable_key_rotation:
    description: Whether KMS rotates the key material every year. Not set - left alone (off on create).
    type: bool
  policy:
    description:
      - The key policy (dict or JSON text), compared semantically. Not set - left alone (KMS's default policy,
        which gives the account root full access, on create).
    type: json
  pending_window_days:
    description: With O(state=absent), days (7 to 30) before KMS deletes the key.
    type: int
    default: 7
  wait_timeout:
    description:
      - Seconds to wait for KMS's eventual consistency - until a new alias is found by the calls that follow.
      - Must be at least 1.
    type: int
    default: 120
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Identity | Key for the cluster's assets
  trainkit.aws.kms_key:
    alias: paddle-demo-assets
    description: kube-aws assets of cluster paddle-demo
    enable_key_rotation: true
    cluster_name: paddle-demo
  register: kms

- name: Identity | Schedule the key's deletion
  trainkit.aws.kms_key:
    alias: paddle-demo-assets
    state: absent
    pending_window_days: 7
"""

RETURN = r"""
key_arn:
  description: The key's ARN.
  returned: when the key exists or was scheduled for deletion
  type: str
  sample: arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
key_id:
  description: The key's id.
  returned: when the key exists or was scheduled for deletion
  type: str
alias:
  description: The alias, with its C(alias/) prefix.
  returned: always
  type: str
  sample: alias/paddle-demo-assets
key_state:
  description: The key's state (C(Enabled), C(PendingDeletion), ...).
  returned: when the key exists or was scheduled for deletion
  type: str
description:
  description: The key's description.
  returned: when state is present
  type: str
enable_key_rotation:
  description: Whether rotation is on.
  returned: when state is present
  type: bool
policy:
  description: The key policy.
  returned: when state is present
  type: dict
tags:
  description: The key's tags.
  returned: when state is present
  type: dict
deletion_date:
  description: When KMS will delete the key.
  returned: when state is absent and the key was scheduled for deletion
  type: str
"""

import json

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._iam import load_policy
from ansible_collections.trainkit.aws.plugins.module_utils._iam import normalize_policy
from ansible_collections.trainkit.aws.plugins.module_utils._iam import policies_equal
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.aws import account_id
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_visible
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import resource_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict


def full_alias(alias):
    return alias if alias.startswith("alias/") else "alias/" + alias


def find_key(kms, alias):
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as exc:
        if is_not_found(exc, "NotFoundException"):
            return None
        raise


def describe(kms, key, alias):
    key_id = key["KeyId"]
    tags = tag_dict(paginate(kms, "list_resource_tags", "Tags", KeyId=key_id), "TagKey", "TagValue")
    return {
        "key_id": key_id,
        "key_arn": key["Arn"],
        "alias": alias,
        "key_state": key["KeyState"],
        "description": key.get("Description", ""),
        "enable_key_rotation": kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"],
        "policy": normalize_policy(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]),
        "tags": tags,
    }


def ensure_present(module, kms):
    p = module.params
    alias = full_alias(p["alias"])
    wanted_tags, purge = desired_tags(p["tags"], p["cluster_name"], p["purge_tags"])
    key = find_key(kms, alias)
    if key is None:
        after = {
            "alias": alias,
            "description": p["description"] or "",
            "enable_key_rotation": bool(p["enable_key_rotation"]),
            "tags": wanted_tags,
        }
        if module.check_mode:
            result = dict(
                after,
                key_id=placeholder(),
                key_arn="arn:aws:kms:{0}:{1}:key/{2}".format(module.region, account_id(module), placeholder()),
            )
            return True, {}, after, result
        kwargs = dict(Description=p["description"] or "", KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT")
        if wanted_tags:
            kwargs["Tags"] = boto3_tag_list(wanted_tags, "TagKey", "TagValue")
        if p["policy"] is not None:
            kwargs["Policy"] = json.dumps(load_policy(p["policy"]))
        key = kms.create_key(**kwargs)["KeyMetadata"]
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
            # a new alias is not found at once; the next task finds the key by it, so wait until it resolves
            wait_visible(
                kms.describe_key,
                p["wait_timeout"],
                "alias {0} to resolve".format(alias),
                ("NotFoundException",),
                KeyId=alias,
            )
            if p["enable_key_rotation"]:
                kms.enable_key_rotation(KeyId=key["KeyId"])
        except (ClientError, BotoCoreError):
            # Without its alias the key could never be found again: do not leave it behind.
            kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
            raise
        # what was just created, without reading it all back (the key policy KMS chose is the one unknown)
        policy = p["policy"] or kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        after = dict(
            after,
            key_id=key["KeyId"],
            key_arn=key["Arn"],
            key_state=key["KeyState"],
            policy=normalize_policy(policy),
        )
        return True, {}, after, after

    key_id = key["KeyId"]
    changed = False
    if key["KeyState"] == "PendingDeletion":
        changed = True
        if not module.check_mode:
            kms.cancel_key_deletion(KeyId=key_id)
            kms.enable_key(KeyId=key_id)
            key = find_key(kms, alias)
    before = describe(kms, key, alias)
    if p["description"] is not None and p["description"] != before["description"]:
        changed = True
        if not module.check_mode:
            kms.update_key_description(KeyId=key_id, Description=p["description"])
    if p["enable_key_rotation"] is not None and p["enable_key_rotation"] != before["enable_key_rotation"]:
        changed = True
        if not module.check_mode:
            (kms.enable_key_rotation if p["enable_key_rotation"] else kms.disable_key_rotation)(KeyId=key_id)
    if p["policy"] is not None and not policies_equal(before["policy"], p["policy"]):
        changed = True
        if not module.check_mode:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(load_policy(p["policy"])))
    tagger = resource_tagger(kms.tag_resource, kms.untag_resource, "TagKey", "TagValue", KeyId=key_id)
    tags_changed, tags_after = sync_tags(module.check_mode, before["tags"], wanted_tags, purge, tagger)
    changed |= tags_changed
    if module.check_mode:
        after = dict(before, tags=tags_after)
        for option in ("description", "enable_key_rotation"):
            if p[option] is not None:
                after[option] = p[option]
        if p["policy"] is not None:
            after["policy"] = normalize_policy(p["policy"])
        return changed, before, after, after
    after = describe(kms, find_key(kms, alias), alias) if changed else before  # unchanged: no second read
    return changed, before, after, after


def ensure_absent(module, kms):
    alias = full_alias(module.params["alias"])
    key = find_key(kms, alias)
    if key is None:
        return False, {}, {}, {"alias": alias}
    result = {"alias": alias, "key_id": key["KeyId"], "key_arn": key["Arn"], "key_state": "PendingDeletion"}
    before = {"alias": alias, "key_id": key["KeyId"], "key_state": key["KeyState"]}
    if module.check_mode:
        return True, before, {}, result
    kms.delete_alias(AliasName=alias)
    if key["KeyState"] != "PendingDeletion":
        scheduled = kms.schedule_key_deletion(
            KeyId=key["KeyId"], PendingWindowInDays=module.params["pending_window_days"]
        )
        result["deletion_date"] = str(scheduled.get("DeletionDate", ""))
    return True, before, {}, result


def main():
    argument_spec = dict(
        alias=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        description=dict(type="str"),
        enable_key_rotation=dict(type="bool"),
        policy=dict(type="json"),
        pending_window_days=dict(type="int", default=7),
        cluster_name=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.kms_alias(full_alias(p["alias"])) + validate.cluster_name(p["cluster_name"])
    problems += validate.tags(p["tags"])
    if p["policy"] is not None:
        problems += validate.policy_document(p["policy"], "policy")
    if not 7 <= p["pending_window_days"] <= 30:
        problems.append("pending_window_days {0} must be between 7 and 30".format(p["pending_window_days"]))
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "KMS key " + full_alias(p["alias"]), module.client("kms"))


if __name__ == "__main__":
    main()
