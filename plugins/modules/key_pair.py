#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: key_pair
short_description: An EC2 key pair, imported from a public key or created with its private key saved locally
version_added: 0.1.0
description:
  - With O(public_key), imports that public key. The key pair remembers a digest of the imported key in the tag
    C(trainkit:public-key-sha256), so a changed O(public_key) replaces the key pair (O(force=true)).
  - Without O(public_key), EC2 creates the key pair and the private key is written to O(private_key_path) with
    mode C(0600). The private key is never returned or logged. AWS cannot show it again later, so a missing file
    for an existing key pair only produces a warning.
  - O(state=absent) deletes the key pair (local files are left alone).
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The key pair's name.
    type: str
    required: true
  state:
    description: Whether the key pair should exist.
    type: str
    choices: [present, absent]
    default: present
  public_key:
    description:
      - An OpenSSH public key line to import, for example the contents of C(~/.ssh/id_ed25519.pub).
    type: str
  private_key_path:
    description:
      - Where to write the private key of a key pair EC2 creates (mode C(0600), the directory is created with
        C(0700)). Required with O(state=present) when O(public_key) is not set.
    type: path
  key_type:
    description: The type of key EC2 creates when O(public_key) is not set.
    type: str
    choices: [rsa, ed25519]
    default: ed25519
  force:
    description:
      - Replace the key pair when O(public_key) differs from the imported one. With V(false) such a difference
        fails instead.
    type: bool
    default: true
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Identity | Import my SSH key for the nodes
  trainkit.aws.key_pair:
    name: paddle-demo
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    cluster_name: paddle-demo

- name: Identity | Let EC2 create the key and keep the private half
  trainkit.aws.key_pair:
    name: paddle-demo
    private_key_path: "{{ playbook_dir }}/credentials/paddle-demo.pem"
"""

RETURN = r"""
key_name:
  description: The key pair's name.
  returned: when state is present
  type: str
key_pair_id:
  description: The key pair's id.
  returned: when state is present
  type: str
  sample: key-0123456789abcdef0
fingerprint:
  description: The fingerprint EC2 computed for the key.
  returned: when state is present
  type: str
key_type:
  description: The key's type.
  returned: when state is present
  type: str
tags:
  description: The key pair's tags.
  returned: when state is present
  type: dict
private_key_path:
  description: Where the private key was written, when this run created the key pair.
  returned: when the key pair was created without public_key
  type: str
"""

import hashlib
import os
import tempfile

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import ec2_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict

DIGEST_TAG = "trainkit:public-key-sha256"


def public_key_digest(public_key):
    """sha256 of the key's type and base64 body (the comment does not count)."""
    fields = public_key.strip().split()
    return hashlib.sha256(" ".join(fields[:2]).encode("ascii")).hexdigest()


def find_key_pair(ec2, name):
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except ClientError as exc:
        if is_not_found(exc, "InvalidKeyPair.NotFound"):
            return None
        raise
    return pairs[0] if pairs else None


def summary(pair):
    return {
        "key_name": pair["KeyName"],
        "key_pair_id": pair.get("KeyPairId"),
        "fingerprint": pair.get("KeyFingerprint"),
        "key_type": pair.get("KeyType"),
        "tags": tag_dict(pair.get("Tags")),
    }


def write_private_key(path, material):
    """Write the key to a 0600 temporary file beside ``path``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor, temp_path = tempfile.mkstemp(dir=directory, prefix=".key-")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(material if material.endswith("\n") else material + "\n")
        os.chmod(temp_path, 0o600)
        os.rename(temp_path, path)
    except OSError:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
        raise


def create(module, ec2, wanted_tags):
    p = module.params
    spec = [{"ResourceType": "key-pair", "Tags": boto3_tag_list(wanted_tags)}] if wanted_tags else []
    if p["public_key"]:
        ec2.import_key_pair(
            KeyName=p["name"], PublicKeyMaterial=p["public_key"].strip().encode("ascii"), TagSpecifications=spec
        )
        return {}
    created = ec2.create_key_pair(KeyName=p["name"], KeyType=p["key_type"], TagSpecifications=spec)
    material = created.pop("KeyMaterial")
    try:
        write_private_key(p["private_key_path"], material)
    except OSError as exc:
        # A key pair whose private key is lost is useless: delete it again.
        ec2.delete_key_pair(KeyName=p["name"])
        raise TrainkitError(
            "Could not write the private key to {0}: {1}".format(p["private_key_path"], exc.strerror),
            hint="make private_key_path writable; the key pair was deleted again",
        )
    return {"private_key_path": p["private_key_path"], "created": dict(created, KeyType=p["key_type"])}


def ensure_present(module, ec2):
    p = module.params
    extra = {DIGEST_TAG: public_key_digest(p["public_key"])} if p["public_key"] else {}
    wanted_tags, purge = desired_tags(p["tags"], p["cluster_name"], p["purge_tags"], extra=extra)
    pair = find_key_pair(ec2, p["name"])
    if pair is None:
        after = {"key_name": p["name"], "tags": wanted_tags}
        if module.check_mode:
            return True, {}, after, dict(after, key_pair_id=placeholder("key-"), fingerprint=placeholder())
        written = create(module, ec2, wanted_tags)
        made = written.pop("created", None)  # CreateKeyPair answers with the pair: no second read
        after = (
            summary(dict(made, Tags=boto3_tag_list(wanted_tags))) if made else summary(find_key_pair(ec2, p["name"]))
        )
        return True, {}, after, dict(after, **written)

    before = summary(pair)
    current_digest = before["tags"].get(DIGEST_TAG)
    if p["public_key"] and current_digest != extra[DIGEST_TAG]:
        if not p["force"]:
            raise TrainkitError(
                "Key pair {0} exists with another public key.".format(p["name"]),
                hint="set force=true to replace it, or give the public key it was imported with",
            )
        after = {"key_name": p["name"], "tags": wanted_tags}
        if module.check_mode:
            return True, before, after, after
        ec2.delete_key_pair(KeyName=p["name"])
        create(module, ec2, wanted_tags)
        after = summary(find_key_pair(ec2, p["name"]))
        return True, before, after, after
    if (
        not p["public_key"]
        and not current_digest
        and p["private_key_path"]
        and not os.path.exists(p["private_key_path"])
    ):
        module.warn(
            "Key pair {0} exists but its private key is not at {1}; AWS cannot show it again. Delete the key pair "
            "(state=absent) to have a new one created and saved.".format(p["name"], p["private_key_path"])
        )
    changed, tags_after = sync_tags(
        module.check_mode, before["tags"], wanted_tags, purge, ec2_tagger(ec2, pair["KeyPairId"])
    )
    if changed:
        after = dict(before, tags=tags_after)
        return True, before, after, after
    return False, before, before, before


def ensure_absent(module, ec2):
    pair = find_key_pair(ec2, module.params["name"])
    if pair is None:
        return False, {}, {}, {}
    if not module.check_mode:
        ec2.delete_key_pair(KeyName=module.params["name"])
    return True, summary(pair), {}, {}


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        public_key=dict(type="str"),
        private_key_path=dict(type="path", no_log=False),
        key_type=dict(type="str", default="ed25519", choices=["rsa", "ed25519"]),
        force=dict(type="bool", default=True),
        cluster_name=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"])
    if not p["name"] or len(p["name"]) > 255 or not p["name"].isascii():
        problems.append("name must be 1 to 255 ASCII characters")
    if p["public_key"] is not None:
        problems += validate.ssh_public_key(p["public_key"])
    elif p["state"] == "present" and not p["private_key_path"]:
        problems.append("set public_key to import a key, or private_key_path to keep the private key EC2 creates")
    if p["private_key_path"] and os.path.isdir(p["private_key_path"]):
        problems.append("private_key_path {0} is a directory; give a file path".format(p["private_key_path"]))
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "key pair " + p["name"], module.client("ec2"))


if __name__ == "__main__":
    main()
