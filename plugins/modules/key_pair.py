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
    mode C(0600), or with O(secrets_store=ssm) or O(secrets_store=secretsmanager) kept in an SSM SecureString
    parameter or a Secrets Manager secret named C(/trainkit/<cluster_name>/key-pairs/<name>), encrypted with
    O(secrets_kms_key), and nothing is written on the controller. The private key is never returned or logged. AWS
    cannot show it again later, so a missing file or secret for an existing key pair only produces a warning.
  - O(state=absent) deletes the key pair and its stored secret (local files are left alone).
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
  secrets_store:
    description:
      - Where the private key of a key pair EC2 creates is kept. V(file) - O(private_key_path).
        V(ssm) - an SSM Parameter Store SecureString. V(secretsmanager) - a Secrets Manager secret.
      - V(ssm) and V(secretsmanager) need O(cluster_name), which names the secret.
      - Prefer V(ssm) where the controller's files do not last, as in AWX and Tower execution environments.
    type: str
    choices: [file, ssm, secretsmanager]
    default: file
  secrets_kms_key:
    description:
      - The KMS key (id, ARN or C(alias/...)) that encrypts the stored private key; not set - the account's AWS
        managed key of the service. Only with O(secrets_store=ssm) or O(secrets_store=secretsmanager).
    type: str
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
  returned: when the key pair was created without public_key and secrets_store is file
  type: str
private_key_secret:
  description: The SSM parameter or Secrets Manager secret that holds the private key (its name, never its value).
  returned: when state is present, public_key is not set and secrets_store is ssm or secretsmanager
  type: str
  sample: /trainkit/paddle-demo/key-pairs/paddle-demo
"""

import hashlib
import os
import tempfile

from ansible_collections.trainkit.aws.plugins.module_utils import _secrets
from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
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


def key_store(module):
    """The store of the private key and its name there, or (None, None) for a file."""
    store = _secrets.store_of(module)
    if store is None:
        return None, None
    return store, _secrets.secret_name(module.params["cluster_name"], "key-pairs", module.params["name"])


def create(module, ec2, wanted_tags):
    p = module.params
    spec = [{"ResourceType": "key-pair", "Tags": boto3_tag_list(wanted_tags)}] if wanted_tags else []
    if p["public_key"]:
        ec2.import_key_pair(
            KeyName=p["name"], PublicKeyMaterial=p["public_key"].strip().encode("ascii"), TagSpecifications=spec
        )
        return {}
    store, secret = key_store(module)
    if store is not None and store.exists(secret):
        store.delete(secret)  # the private key of a key pair that is gone (this name did not exist a moment ago)
    created = ec2.create_key_pair(KeyName=p["name"], KeyType=p["key_type"], TagSpecifications=spec)
    material = created.pop("KeyMaterial")
    try:
        if store is None:
            write_private_key(p["private_key_path"], material)
        else:
            store.put(secret, material, "Private key of EC2 key pair {0}".format(p["name"]))
    except (OSError, ClientError, BotoCoreError, TrainkitError) as exc:
        # A key pair whose private key is lost is useless: delete it again.
        ec2.delete_key_pair(KeyName=p["name"])
        if isinstance(exc, OSError):
            raise TrainkitError(
                "Could not write the private key to {0}: {1}".format(p["private_key_path"], exc.strerror),
                hint="make private_key_path writable; the key pair was deleted again",
            )
        raise
    kept = {"private_key_path": p["private_key_path"]} if store is None else {"private_key_secret": secret}
    return dict(kept, created=dict(created, KeyType=p["key_type"]))


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
    store, secret = key_store(module)
    kept = {}
    if not p["public_key"] and not current_digest:
        where = secret if store is not None else p["private_key_path"]
        found = store.exists(secret) if store is not None else bool(where and os.path.exists(where))
        if store is not None and found:
            kept = {"private_key_secret": secret}
        if where and not found:
            module.warn(
                "Key pair {0} exists but its private key is not at {1}; AWS cannot show it again. Delete the key "
                "pair (state=absent) to have a new one created and saved.".format(p["name"], where)
            )
    changed, tags_after = sync_tags(
        module.check_mode, before["tags"], wanted_tags, purge, ec2_tagger(ec2, pair["KeyPairId"])
    )
    if changed:
        after = dict(before, tags=tags_after)
        return True, before, after, dict(after, **kept)
    return False, before, before, dict(before, **kept)


def ensure_absent(module, ec2):
    pair = find_key_pair(ec2, module.params["name"])
    store, secret = key_store(module)
    stored = store is not None and store.exists(secret)
    if pair is None and not stored:
        return False, {}, {}, {}
    if not module.check_mode:
        if pair is not None:
            ec2.delete_key_pair(KeyName=module.params["name"])
        if stored:
            store.delete(secret)
    return True, summary(pair) if pair else {}, {}, {}


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
        **_secrets.argument_spec(),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"]) + _secrets.problems(p)
    if not p["name"] or len(p["name"]) > 255 or not p["name"].isascii():
        problems.append("name must be 1 to 255 ASCII characters")
    if p["public_key"] is not None:
        problems += validate.ssh_public_key(p["public_key"])
    elif p["state"] == "present" and p["secrets_store"] == "file" and not p["private_key_path"]:
        problems.append(
            "set public_key to import a key, or private_key_path (or secrets_store) to keep the private key EC2 creates"
        )
    if p["secrets_store"] != "file" and p["private_key_path"]:
        problems.append(
            "private_key_path applies to secrets_store=file; the private key goes to {0}".format(p["secrets_store"])
        )
    if p["private_key_path"] and os.path.isdir(p["private_key_path"]):
        problems.append("private_key_path {0} is a directory; give a file path".format(p["private_key_path"]))
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "key pair " + p["name"], module.client("ec2"))


if __name__ == "__main__":
    main()
