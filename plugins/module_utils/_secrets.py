# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the secrets AWS shows only once (new access keys, the private key of a key pair EC2 creates) are kept.

``file`` writes them on the controller (the modules' own files). ``ssm`` keeps them as SSM Parameter Store
SecureStrings, ``secretsmanager`` as Secrets Manager secrets; both encrypted with the given KMS key and named
``/trainkit/<cluster>/...``, so that they outlive an AWX job's container. A value is written once and never
overwritten (a second writer fails instead of replacing a key somebody holds), and is never returned.
"""

from __future__ import annotations

from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags

STORES = ("file", "ssm", "secretsmanager")


def argument_spec():
    """The options every module that keeps secrets has."""
    return dict(
        secrets_store=dict(type="str", default="file", choices=list(STORES)),
        secrets_kms_key=dict(type="str", no_log=False),
    )


def secret_name(cluster_name, kind, name):
    """``/trainkit/<cluster>/<kind>/<name>``: the name the store keeps a secret under."""
    return "/trainkit/{0}/{1}/{2}".format(cluster_name, kind, name)


def problems(params):
    """What is wrong with the store options, before any call."""
    found = []
    if params["secrets_store"] != "file" and not params.get("cluster_name"):
        found.append(
            "secrets_store={0} needs cluster_name: secrets are named /trainkit/<cluster>/...".format(
                params["secrets_store"]
            )
        )
    if params["secrets_store"] == "file" and params.get("secrets_kms_key"):
        found.append("secrets_kms_key applies to secrets_store=ssm or secretsmanager, not file")
    return found


def store_of(module):
    """The SSM or Secrets Manager store the module's options ask for, or None for ``secrets_store=file``."""
    p = module.params
    if p["secrets_store"] == "file":
        return None
    return SecretStore(module, p["secrets_store"], p["secrets_kms_key"], p["cluster_name"])


class SecretStore:
    """The SSM or Secrets Manager store of one module run (``file`` is the module's own business)."""

    def __init__(self, module, kind, kms_key=None, cluster_name=None):
        if kind not in ("ssm", "secretsmanager"):
            raise ValueError(kind)
        self.kind = kind
        self.kms_key = kms_key
        self.tags = cluster_tags(cluster_name) if cluster_name else {}
        self.client = module.client(kind)

    @property
    def label(self):
        return "SSM parameter" if self.kind == "ssm" else "Secrets Manager secret"

    def exists(self, name):
        try:
            if self.kind == "ssm":
                self.client.get_parameter(Name=name, WithDecryption=False)  # the ciphertext: no kms:Decrypt needed
            else:
                self.client.describe_secret(SecretId=name)
        except ClientError as exc:
            if is_not_found(exc, "ParameterNotFound", "ResourceNotFoundException"):
                return False
            raise
        return True

    def put(self, name, value, description):
        """Write a new secret; fail rather than replace one that exists."""
        try:
            if self.kind == "ssm":
                kwargs = dict(Name=name, Value=value, Type="SecureString", Description=description, Overwrite=False)
                if self.kms_key:
                    kwargs["KeyId"] = self.kms_key
                if self.tags:
                    kwargs["Tags"] = boto3_tag_list(self.tags)
                self.client.put_parameter(**kwargs)
            else:
                kwargs = dict(Name=name, SecretString=value, Description=description)
                if self.kms_key:
                    kwargs["KmsKeyId"] = self.kms_key
                if self.tags:
                    kwargs["Tags"] = boto3_tag_list(self.tags)
                self.client.create_secret(**kwargs)
        except ClientError as exc:
            if error_code(exc) in ("ParameterAlreadyExists", "ResourceExistsException"):
                raise TrainkitError(
                    "{0} {1} already exists; it is never overwritten.".format(self.label, name),
                    hint="delete it if the secret it holds is no longer used",
                )
            raise

    def delete(self, name):
        """Delete a secret (Secrets Manager: at once, so that the name can be used again); False if none."""
        try:
            if self.kind == "ssm":
                self.client.delete_parameter(Name=name)
            else:
                self.client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if is_not_found(exc, "ParameterNotFound", "ResourceNotFoundException"):
                return False
            raise
        return True
