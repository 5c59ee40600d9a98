#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: s3_bucket
short_description: A private, encrypted S3 bucket for cluster artifacts
version_added: 0.1.0
description:
  - Creates or updates an S3 bucket with default encryption, the public access block fully on, optional
    versioning and tags.
  - O(state=absent) deletes the bucket; with O(force=true) it first deletes every object, every object version
    and every delete marker.
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The bucket's name (S3 naming rules; names are global across all accounts).
    type: str
    required: true
  state:
    description: Whether the bucket should exist.
    type: str
    choices: [present, absent]
    default: present
  encryption:
    description: Default server-side encryption of new objects.
    type: str
    choices: [AES256, "aws:kms"]
    default: AES256
  kms_key_id:
    description:
      - The KMS key (id, ARN or C(alias/...)) for O(encryption=aws:kms), for example the identity step's key.
        Not set - the AWS managed key C(aws/s3).
    type: str
  public_access_block:
    description:
      - Block every kind of public access (all four settings on). Only set to V(false) for a bucket that must be
        public, which a cluster artifacts bucket never is.
    type: bool
    default: true
  versioning:
    description: Whether object versioning is on. Not set - left alone. V(false) on a versioned bucket suspends it.
    type: bool
  force:
    description:
      - With O(state=absent), delete every object and object version first; without it a non-empty bucket fails.
    type: bool
    default: false
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Identity | Bucket for the cluster's artifacts, encrypted with the cluster key
  trainkit.aws.s3_bucket:
    name: paddle-demo-artifacts-123456789012
    encryption: aws:kms
    kms_key_id: "{{ kms.key_arn }}"
    versioning: true
    cluster_name: paddle-demo

- name: Teardown | Empty and delete it
  trainkit.aws.s3_bucket:
    name: paddle-demo-artifacts-123456789012
    state: absent
    force: true
"""

RETURN = r"""
name:
  description: The bucket's name.
  returned: always
  type: str
arn:
  description: The bucket's ARN.
  returned: when state is present
  type: str
  sample: arn:aws:s3:::paddle-demo-artifacts-123456789012
region:
  description: The bucket's region.
  returned: when state is present
  type: str
encryption:
  description: The default encryption.
  returned: when state is present
  type: dict
  contains:
    sse_algorithm:
      description: C(AES256) or C(aws:kms).
      type: str
    kms_key_id:
      description: The KMS key, for C(aws:kms).
      type: str
public_access_block:
  description: The four public access block settings.
  returned: when state is present
  type: dict
versioning:
  description: C(Enabled), C(Suspended) or C(Disabled).
  returned: when state is present
  type: str
tags:
  description: The bucket's tags.
  returned: when state is present
  type: dict
deleted_objects:
  description: How many object versions and delete markers O(force=true) deleted.
  returned: when state is absent
  type: int
"""

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_with_waiter
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import s3_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict

BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def bucket_exists(s3, name):
    try:
        s3.head_bucket(Bucket=name)
        return True
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            raise TrainkitError(
                "Bucket {0} exists but these credentials cannot use it.".format(name),
                hint="S3 names are global: the name is probably taken by another account; choose another name",
            )
        raise


def get_or_none(call, not_found_codes, **kwargs):
    try:
        return call(**kwargs)
    except ClientError as exc:
        if is_not_found(exc, *not_found_codes):
            return None
        raise


def wanted_encryption(p):
    rule = {"sse_algorithm": p["encryption"]}
    if p["encryption"] == "aws:kms" and p["kms_key_id"]:
        rule["kms_key_id"] = p["kms_key_id"]
    return rule


def describe(s3, name):
    encryption = get_or_none(s3.get_bucket_encryption, ["ServerSideEncryptionConfigurationNotFoundError"], Bucket=name)
    rule = {}
    if encryption:
        default = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        rule = {"sse_algorithm": default["SSEAlgorithm"]}
        if default.get("KMSMasterKeyID"):
            rule["kms_key_id"] = default["KMSMasterKeyID"]
    block = get_or_none(s3.get_public_access_block, ["NoSuchPublicAccessBlockConfiguration"], Bucket=name)
    tagging = get_or_none(s3.get_bucket_tagging, ["NoSuchTagSet", "NoSuchTagSetError"], Bucket=name)
    location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
    return {
        "name": name,
        "arn": "arn:aws:s3:::{0}".format(name),
        "region": location,
        "encryption": rule,
        "public_access_block": block["PublicAccessBlockConfiguration"] if block else {},
        "versioning": s3.get_bucket_versioning(Bucket=name).get("Status", "Disabled"),
        "tags": tag_dict(tagging["TagSet"]) if tagging else {},
    }


def ensure_present(module, s3):
    p = module.params
    name = p["name"]
    wanted_tags, purge = desired_tags(p["tags"], p["cluster_name"], p["purge_tags"])
    exists = bucket_exists(s3, name)
    before = describe(s3, name) if exists else {}
    if not exists:
        if module.check_mode:
            after = {
                "name": name,
                "encryption": wanted_encryption(p),
                "public_access_block": BLOCK_ALL if p["public_access_block"] else {},
                "versioning": "Enabled" if p["versioning"] else "Disabled",
                "tags": wanted_tags,
            }
            return True, before, after, dict(after, arn="arn:aws:s3:::{0}".format(name))
        kwargs = {"Bucket": name}
        if module.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": module.region}
        s3.create_bucket(**kwargs)
        wait_with_waiter(s3, "bucket_exists", 120, delay=2, Bucket=name)
        current = {
            "name": name,
            "arn": "arn:aws:s3:::{0}".format(name),
            "region": module.region,
            "encryption": {},
            "public_access_block": {},
            "versioning": "Disabled",
            "tags": {},
        }
    else:
        current = before
    changed = not exists
    if p["public_access_block"] and current["public_access_block"] != BLOCK_ALL:
        changed = True
        if not module.check_mode:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=BLOCK_ALL)
    elif not p["public_access_block"] and current["public_access_block"]:
        changed = True
        if not module.check_mode:
            s3.delete_public_access_block(Bucket=name)
    if current["encryption"] != wanted_encryption(p):
        changed = True
        if not module.check_mode:
            default = {"SSEAlgorithm": p["encryption"]}
            if p["encryption"] == "aws:kms" and p["kms_key_id"]:
                default["KMSMasterKeyID"] = p["kms_key_id"]
            rule = {"ApplyServerSideEncryptionByDefault": default}
            if p["encryption"] == "aws:kms":
                rule["BucketKeyEnabled"] = True
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})
    versioning = current["versioning"]
    if p["versioning"] is not None:
        versioning = "Enabled" if p["versioning"] else ("Suspended" if versioning != "Disabled" else "Disabled")
        if current["versioning"] != versioning:
            changed = True
            if not module.check_mode:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    tags_changed, tags_after = sync_tags(module.check_mode, current["tags"], wanted_tags, purge, s3_tagger(s3, name))
    changed |= tags_changed
    # every call above succeeded, so the bucket is now what was asked: no second read (also check mode's answer)
    after = dict(current, encryption=wanted_encryption(p), versioning=versioning, tags=tags_after)
    after["public_access_block"] = BLOCK_ALL if p["public_access_block"] else {}
    return changed, before, after, after


def empty_bucket(s3, name):
    """Delete every object version and delete marker (unversioned objects are version 'null')."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(batch), 1000):
            response = s3.delete_objects(Bucket=name, Delete={"Objects": batch[start : start + 1000], "Quiet": True})
            if response.get("Errors"):
                first = response["Errors"][0]
                raise TrainkitError(
                    "Could not delete {0} object(s) of bucket {1}, e.g. {2}: {3}".format(
                        len(response["Errors"]), name, first.get("Key"), first.get("Message")
                    ),
                    hint="check the bucket's object lock and the credentials' s3:DeleteObjectVersion permission",
                )
            deleted += len(batch[start : start + 1000])
    return deleted


def ensure_absent(module, s3):
    name = module.params["name"]
    if not bucket_exists(s3, name):
        return False, {}, {}, {"name": name, "deleted_objects": 0}
    before = describe(s3, name)
    has_objects = bool(s3.list_object_versions(Bucket=name, MaxKeys=1).get("Versions")) or bool(
        s3.list_object_versions(Bucket=name, MaxKeys=1).get("DeleteMarkers")
    )
    if has_objects and not module.params["force"]:
        raise TrainkitError(
            "Bucket {0} is not empty.".format(name),
            hint="set force=true to delete every object and object version first",
        )
    deleted = 0
    if not module.check_mode:
        if has_objects:
            deleted = empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)
    return True, before, {}, {"name": name, "deleted_objects": deleted}


def bucket_hint(exc):
    if error_code(exc) == "BucketAlreadyOwnedByYou":
        return "the bucket exists in another region of this account; set region to it"
    return None


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        encryption=dict(type="str", default="AES256", choices=["AES256", "aws:kms"]),
        kms_key_id=dict(type="str"),
        public_access_block=dict(type="bool", default=True),
        versioning=dict(type="bool"),
        force=dict(type="bool", default=False),
        cluster_name=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.bucket_name(p["name"]) + validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"])
    if p["kms_key_id"] and p["encryption"] != "aws:kms":
        problems.append("kms_key_id is only used with encryption=aws:kms; set encryption: aws:kms or drop kms_key_id")
    if p["tags"] is not None and len(desired_tags(p["tags"], p["cluster_name"], True)[0]) > 50:
        problems.append("an S3 bucket holds at most 50 tags")
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "bucket " + p["name"], module.client("s3"), hint_for=bucket_hint)


if __name__ == "__main__":
    main()
