#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: iam_group
short_description: An IAM group with its managed and inline policies, its users and their access keys
version_added: 0.1.0
description:
  - Creates, updates or deletes an IAM group, the managed policies attached to it, its inline policies and its
    members. Listed users that do not exist are created.
  - With O(access_keys_path), a user who has no access key yet gets one, written to
    C(<access_keys_path>/<user>.credentials) (mode C(0600), in the AWS shared credentials file format with a profile
    named after the user). The secret is never returned, printed or logged.
  - With O(secrets_store=ssm) or O(secrets_store=secretsmanager), the new key goes to an SSM SecureString parameter or
    a Secrets Manager secret named C(/trainkit/<cluster_name>/access-keys/<user>) instead, encrypted with
    O(secrets_kms_key), and nothing is written on the controller. The value is the JSON that the AWS CLI's
    C(credential_process) reads (C(Version), C(AccessKeyId), C(SecretAccessKey)).
  - O(state=absent) deletes the group and the users listed in O(users) (with their access keys, key files and stored
    keys).
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The group's name.
    type: str
    required: true
  state:
    description: Whether the group should exist.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The IAM path of the group and of users it creates.
    type: str
    default: /
  managed_policies:
    description:
      - ARNs of the managed policies the group should have attached, exactly; others are detached.
      - Not set - attached policies are left alone.
    type: list
    elements: str
  inline_policies:
    description:
      - Inline policies, name to policy document (a dict or JSON text), exactly; other inline policies are deleted.
      - Documents are compared semantically, so order and single-item lists do not cause changes.
      - Not set - inline policies are left alone.
    type: dict
  users:
    description:
      - The group's members, exactly; users not listed are removed from the group (not deleted).
      - Users that do not exist are created.
      - Not set - membership is left alone.
    type: list
    elements: str
  access_keys_path:
    description:
      - A directory (created with mode C(0700)) for the access keys of listed users that have none yet.
      - A user who already has a key but no file here is left alone with a warning, since AWS cannot show an
        existing secret again; delete that key to get a new one written.
    type: path
  cluster_name:
    description:
      - The cluster the users belong to; users this module creates are tagged with the cluster tags.
      - Required with O(secrets_store=ssm) or O(secrets_store=secretsmanager) (it names the secrets).
    type: str
  secrets_store:
    description:
      - Where new access keys are kept. V(file) - in O(access_keys_path) on the controller.
        V(ssm) - SSM Parameter Store SecureStrings. V(secretsmanager) - Secrets Manager secrets.
      - With V(ssm) or V(secretsmanager) every listed user without a key gets one (O(access_keys_path) is not used),
        and a user whose key has no stored secret is left alone with a warning.
      - Prefer V(ssm) where the controller's files do not last, as in AWX and Tower execution environments.
    type: str
    choices: [file, ssm, secretsmanager]
    default: file
  secrets_kms_key:
    description:
      - The KMS key (id, ARN or C(alias/...)) that encrypts the stored keys; not set - the account's AWS managed key of
        the service. Only with O(secrets_store=ssm) or O(secrets_store=secretsmanager).
    type: str
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
notes:
  - IAM groups cannot carry tags, so the group is found by its name.
"""

EXAMPLES = r"""
- name: Identity | Group for the people who run the cluster
  trainkit.aws.iam_group:
    name: paddle-demo-admins
    managed_policies:
      - arn:aws:iam::aws:policy/AmazonEC2FullAccess
      - arn:aws:iam::aws:policy/AmazonS3FullAccess
    inline_policies:
      kms-cloudformation:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: [kms:Encrypt, kms:Decrypt]
            Resource: "arn:aws:kms:us-west-2:123456789012:key/*"
          - Effect: Allow
            Action: "cloudformation:*"
            Resource: "arn:aws:cloudformation:us-west-2:123456789012:stack/paddle-demo*/*"
    users: [paddle-demo-operator]
    access_keys_path: "{{ playbook_dir }}/credentials"
"""

RETURN = r"""
group:
  description: The group.
  returned: when state is present
  type: dict
  contains:
    group_name:
      description: Name.
      type: str
    arn:
      description: ARN.
      type: str
    path:
      description: IAM path.
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
users:
  description: The group's members.
  returned: when state is present
  type: list
  elements: str
access_key_files:
  description: Paths of the access key files written by this run (the keys themselves are never returned).
  returned: always
  type: list
  elements: str
  sample: [/home/me/credentials/paddle-demo-operator.credentials]
access_key_secrets:
  description: Names of the SSM parameters or Secrets Manager secrets written by this run (never their values).
  returned: always
  type: list
  elements: str
  sample: [/trainkit/paddle-demo/access-keys/paddle-demo-operator]
"""

import json
import os

from ansible_collections.trainkit.aws.plugins.module_utils import _secrets
from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._iam import PolicySync
from ansible_collections.trainkit.aws.plugins.module_utils._iam import policy_hint
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import undo
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags


def get_group(iam, name):
    try:
        return iam.get_group(GroupName=name)["Group"]
    except ClientError as exc:
        if is_not_found(exc, "NoSuchEntity"):
            return None
        raise


def members(iam, name):
    return sorted(u["UserName"] for u in paginate(iam, "get_group", "Users", GroupName=name))


def user_exists(iam, user):
    try:
        iam.get_user(UserName=user)
        return True
    except ClientError as exc:
        if is_not_found(exc, "NoSuchEntity"):
            return False
        raise


def key_file(directory, user):
    return os.path.join(directory, "{0}.credentials".format(user))


def write_key_file(path, user, key):
    """Write a new access key with mode 0600 from the first byte (O_EXCL: never over another file)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(
            "[{0}]\naws_access_key_id = {1}\naws_secret_access_key = {2}\n".format(
                user, key["AccessKeyId"], key["SecretAccessKey"]
            )
        )


def key_json(key):
    """The stored form of a key: what the AWS CLI's credential_process reads."""
    return json.dumps({"Version": 1, "AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]})


def ensure_access_keys(module, iam, users, created_users):
    """Give every listed user without a key one, kept in its file or the store; returns (changed, files, secrets)."""
    p = module.params
    store = _secrets.store_of(module)
    directory = p["access_keys_path"]
    written, stored = [], []
    if store is None and not directory:
        return False, written, stored
    changed = False
    for user in users:
        if store is None:
            where = key_file(directory, user)
            kept = os.path.exists(where)
        else:
            where = _secrets.secret_name(p["cluster_name"], "access-keys", user)
            kept = store.exists(where)
            if kept and user in created_users:  # the key of a deleted namesake: its key is gone, so is its use
                store.delete(where)
                kept = False
        if kept:
            continue
        if user not in created_users:
            keys = paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user)
            if keys:
                module.warn(
                    "User {0} already has access key(s) {1} but nothing at {2}; AWS cannot show an existing "
                    "secret again. Delete the key to have a new one kept.".format(
                        user, ", ".join(k["AccessKeyId"] for k in keys), where
                    )
                )
                continue
        changed = True
        if module.check_mode:
            continue
        key = iam.create_access_key(UserName=user)["AccessKey"]
        try:
            if store is None:
                write_key_file(where, user, key)
            else:
                store.put(where, key_json(key), "Access key of IAM user {0}".format(user))
        except (OSError, ClientError, BotoCoreError, TrainkitError) as exc:
            # Do not leave a key whose secret nobody holds.
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
            if isinstance(exc, OSError):
                raise TrainkitError(
                    "Could not write the access key of {0} to {1}: {2}".format(user, where, exc.strerror),
                    hint="make access_keys_path a writable directory; the new key was deleted again",
                )
            raise
        (written if store is None else stored).append(where)
    return changed, written, stored


def describe(iam, name, sync):
    group = get_group(iam, name)
    if group is None:
        return {}
    return {
        "group": {"group_name": group["GroupName"], "arn": group["Arn"], "path": group["Path"]},
        "managed_policies": sync.attached(),
        "inline_policies": sorted(sync.inline()),
        "users": members(iam, name),
    }


def ensure_present(module, iam):
    p = module.params
    name = p["name"]
    sync = PolicySync(iam, "group", name, module.check_mode)
    before = describe(iam, name, sync)
    sync.check_attachable(p["managed_policies"], exists=bool(before))  # before any change
    changed = False
    if not before:
        changed = True
        if module.check_mode:
            after = {
                "group": {"group_name": name, "path": p["path"]},
                "managed_policies": sorted(p["managed_policies"] or []),
                "inline_policies": sorted(p["inline_policies"] or {}),
                "users": sorted(p["users"] or []),
            }
            return changed, before, after, dict(after, access_key_files=[], access_key_secrets=[])
        group = iam.create_group(GroupName=name, Path=p["path"])["Group"]
        before_group = {"group_name": group["GroupName"], "arn": group["Arn"], "path": group["Path"]}
        sync.known_empty()  # a new group has no policies: nothing to read before attaching
    else:
        before_group = before["group"]
    try:
        changed |= sync.sync_managed(p["managed_policies"])
        changed |= sync.sync_inline(p["inline_policies"])
    except (ClientError, BotoCoreError):
        if not before:  # the group this run created would be left without its policies: remove it again
            undo(module, "group " + name, sync.remove_all, lambda: iam.delete_group(GroupName=name))
        raise
    created_users = set()
    if p["users"] is not None:
        current = set(before.get("users", []))
        for user in sorted(set(p["users"]) - current):
            changed = True
            if module.check_mode:
                continue
            if not user_exists(iam, user):
                kwargs = dict(UserName=user, Path=p["path"])
                if p["cluster_name"]:
                    kwargs["Tags"] = boto3_tag_list(cluster_tags(p["cluster_name"]))
                iam.create_user(**kwargs)
                created_users.add(user)
            iam.add_user_to_group(GroupName=name, UserName=user)
        for user in sorted(current - set(p["users"])):
            changed = True
            if not module.check_mode:
                iam.remove_user_from_group(GroupName=name, UserName=user)
    keys_changed, written, stored = ensure_access_keys(module, iam, p["users"] or [], created_users)
    changed |= keys_changed
    # every call succeeded: the group is what was asked (check mode: what it would be); no second read
    after = dict(before, group=before_group)
    after.setdefault("managed_policies", [])
    after.setdefault("inline_policies", [])
    after.setdefault("users", [])
    for key, option in (("managed_policies", "managed_policies"), ("users", "users")):
        if p[option] is not None:
            after[key] = sorted(p[option])
    if p["inline_policies"] is not None:
        after["inline_policies"] = sorted(p["inline_policies"])
    return changed, before, after, dict(after, access_key_files=written, access_key_secrets=stored)


def delete_user(iam, user, directory, store, secret):
    for key in paginate(iam, "list_access_keys", "AccessKeyMetadata", UserName=user):
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    for group in paginate(iam, "list_groups_for_user", "Groups", UserName=user):
        iam.remove_user_from_group(GroupName=group["GroupName"], UserName=user)
    try:
        iam.delete_login_profile(UserName=user)
    except ClientError as exc:
        if not is_not_found(exc, "NoSuchEntity"):
            raise
    for arn in paginate(iam, "list_attached_user_policies", "AttachedPolicies", UserName=user):
        iam.detach_user_policy(UserName=user, PolicyArn=arn["PolicyArn"])
    for policy in paginate(iam, "list_user_policies", "PolicyNames", UserName=user):
        iam.delete_user_policy(UserName=user, PolicyName=policy)
    iam.delete_user(UserName=user)
    if directory and os.path.exists(key_file(directory, user)):
        os.unlink(key_file(directory, user))
    if store is not None:
        store.delete(secret)


def ensure_absent(module, iam):
    p = module.params
    name = p["name"]
    sync = PolicySync(iam, "group", name, module.check_mode)
    before = describe(iam, name, sync)
    users = [u for u in (p["users"] or []) if user_exists(iam, u)]
    store = _secrets.store_of(module)
    names = dict((u, _secrets.secret_name(p["cluster_name"], "access-keys", u)) for u in p["users"] or [])
    # a stored key whose user is gone already (an interrupted teardown) is removed as well
    orphans = [u for u in names if u not in users and store is not None and store.exists(names[u])]
    nothing = dict(access_key_files=[], access_key_secrets=[])
    if not before and not users and not orphans:
        return False, {}, {}, nothing
    if not module.check_mode:
        if before:
            for user in before["users"]:
                iam.remove_user_from_group(GroupName=name, UserName=user)
        for user in users:
            delete_user(iam, user, p["access_keys_path"], store, names[user])
        for user in orphans:
            store.delete(names[user])
        if before:
            sync.remove_all()
            iam.delete_group(GroupName=name)
    return True, before, {}, nothing


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        path=dict(type="str", default="/"),
        managed_policies=dict(type="list", elements="str"),
        inline_policies=dict(type="dict"),
        users=dict(type="list", elements="str"),
        access_keys_path=dict(type="path", no_log=False),
        cluster_name=dict(type="str"),
        **_secrets.argument_spec(),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.iam_name(p["name"], "name") + validate.cluster_name(p["cluster_name"])
    problems += _secrets.problems(p)
    if p["secrets_store"] != "file" and p["access_keys_path"]:
        problems.append("access_keys_path applies to secrets_store=file; the keys go to {0}".format(p["secrets_store"]))
    problems += validate.policy_arns(p["managed_policies"])
    for policy_name, doc in (p["inline_policies"] or {}).items():
        problems += validate.iam_name(policy_name, "inline_policies key")
        problems += validate.policy_document(doc, "inline_policies[{0!r}]".format(policy_name))
    for user in p["users"] or []:
        problems += validate.iam_name(user, "users entry", max_len=64)
    if not (p["path"].startswith("/") and p["path"].endswith("/")):
        problems.append("path {0!r} must start and end with '/'".format(p["path"]))
    if p["access_keys_path"] and os.path.exists(p["access_keys_path"]) and not os.path.isdir(p["access_keys_path"]):
        problems.append("access_keys_path {0} exists and is not a directory".format(p["access_keys_path"]))
    module.fail_on_problems(problems)
    iam = module.client("iam")
    module.run(ensure_present, ensure_absent, "IAM group " + p["name"], iam, hint_for=policy_hint)


if __name__ == "__main__":
    main()
