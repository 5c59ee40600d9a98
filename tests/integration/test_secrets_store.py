# -*- coding: utf-8 -*-
"""secrets_store: new access keys and EC2-created private keys kept in SSM or Secrets Manager, never on the controller."""

import json
import os
import subprocess

import pytest

from harness import BIN
from harness import tagged_leftovers
from harness import unique
from test_nodes_inventory import AMAZON_LINUX
from test_nodes_inventory import inventory
from test_nodes_inventory import launch


def stored(boto, cluster):
    """Every SSM parameter and Secrets Manager secret under /trainkit/<cluster>/."""
    prefix = "/trainkit/{0}/".format(cluster)
    ssm, secrets = boto("ssm"), boto("secretsmanager")
    names = [
        p["Name"]
        for page in ssm.get_paginator("describe_parameters").paginate(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}]
        )
        for p in page["Parameters"]
    ]
    names += [s["Name"] for s in secrets.list_secrets()["SecretList"] if s["Name"].startswith(prefix)]
    return sorted(names)


@pytest.mark.slow  # the identity stage with -vvv, again, then the nodes inventory and the teardown twice: ~1 min
def test_identity_with_ssm_keeps_nothing_on_the_controller(ansible, boto, local_aws, tmp_path):
    cluster = unique("ssm")
    user = cluster + "-ops"
    credentials = tmp_path / "credentials"
    extra = {
        "trainkit_cluster_name": cluster,
        "identity_users": [user],
        "identity_secrets_store": "ssm",
        "trainkit_credentials_dir": str(credentials),
    }
    rc, first, recap = ansible.playbook("playbooks/identity.yml", extra_vars=extra, verbosity=3)
    assert rc == 0, first[-3000:]
    assert not credentials.exists() or list(credentials.iterdir()) == []

    ssm, iam, kms = boto("ssm"), boto("iam"), boto("kms")
    key_arn = kms.describe_key(KeyId="alias/{0}-assets".format(cluster))["KeyMetadata"]["Arn"]
    access, private = "/trainkit/{0}/access-keys/{1}".format(cluster, user), "/trainkit/{0}/key-pairs/{0}".format(
        cluster
    )
    assert stored(boto, cluster) == sorted([access, private])
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [access, private]}]
    )["Parameters"]
    for parameter in described:
        assert parameter["Type"] == "SecureString"
        assert parameter["KeyId"] == key_arn, parameter
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=private)["TagList"]
    assert {"Key": "trainkit:cluster", "Value": cluster} in tags

    key = json.loads(ssm.get_parameter(Name=access, WithDecryption=True)["Parameter"]["Value"])
    assert key["Version"] == 1
    [listed] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert listed["AccessKeyId"] == key["AccessKeyId"] and len(key["SecretAccessKey"]) >= 20
    material = ssm.get_parameter(Name=private, WithDecryption=True)["Parameter"]["Value"]
    assert "PRIVATE KEY" in material
    body = "".join(material.strip().splitlines()[1:-1])  # the key without its armour lines

    rc, second, recap = ansible.playbook("playbooks/identity.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, second[-3000:]
    assert stored(boto, cluster) == sorted([access, private])
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == [listed]  # no second key

    # no secret in the output (-vvv), Ansible's log or the endpoint's log
    logs = [first, second, open(ansible.log_path).read(), open(os.path.join(local_aws.state_dir, "server.log")).read()]
    for text in logs:
        assert key["SecretAccessKey"] not in text
        assert body[:40] not in text

    # the inventory plugin reads the key from SSM into a private file that is gone once Ansible exits
    ec2 = boto("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    instance = launch(ec2, subnet, AMAZON_LINUX, "m5.large", {"trainkit:cluster": cluster, "trainkit:role": "worker"})
    config = tmp_path / "cluster.trainkit_nodes.yml"
    config.write_text(
        "plugin: trainkit.aws.nodes\ncluster_name: {0}\nregion: us-west-2\nprivate_key_store: ssm\n".format(cluster)
    )
    listing = inventory(ansible, config)
    [host] = [h for h, v in listing["_meta"]["hostvars"].items() if v["ec2_instance_id"] == instance]
    key_path = listing["_meta"]["hostvars"][host]["ansible_ssh_private_key_file"]
    assert not os.path.exists(key_path)  # removed when ansible-inventory exited
    probe = tmp_path / "probe.yml"
    probe.write_text(
        "- hosts: workers\n  gather_facts: false\n  tasks:\n"
        "    - delegate_to: localhost\n      ansible.builtin.stat: {path: '{{ ansible_ssh_private_key_file }}'}\n"
        "      register: key\n"
        "    - delegate_to: localhost\n      ansible.builtin.assert:\n        that:\n"
        "          - key.stat.mode == '0600'\n"
        "          - lookup('ansible.builtin.file', ansible_ssh_private_key_file) == expected | trim\n"
    )
    (tmp_path / "expected.json").write_text(json.dumps({"expected": material}))
    proc = subprocess.run(
        [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            str(config),
            str(probe),
            "-e",
            "@" + str(tmp_path / "expected.json"),
        ],
        capture_output=True,
        text=True,
        env=ansible.env(),
        timeout=300,
        check=False,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "ok=2" in proc.stdout
    ec2.terminate_instances(InstanceIds=[instance])

    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert stored(boto, cluster) == []
    assert tagged_leftovers(boto, cluster) == []
    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]


def test_key_pair_and_group_in_secrets_manager(ansible, boto, local_aws):
    cluster = unique("sm")
    user = cluster + "-ci"
    key = boto("kms").create_key(Description="test")["KeyMetadata"]["Arn"]
    args = {"name": cluster, "cluster_name": cluster, "secrets_store": "secretsmanager", "secrets_kms_key": key}
    secrets = boto("secretsmanager")
    name = "/trainkit/{0}/key-pairs/{0}".format(cluster)

    result = ansible.module("key_pair", args, check=True)
    assert result.changed and stored(boto, cluster) == []
    result = ansible.module("key_pair", args)
    assert result.changed and result["private_key_secret"] == name, result.output
    assert "private_key_path" not in result
    described = secrets.describe_secret(SecretId=name)
    assert described["KmsKeyId"] == key
    material = secrets.get_secret_value(SecretId=name)["SecretString"]
    assert "PRIVATE KEY" in material and material not in result.output
    again = ansible.module("key_pair", args)
    assert not again.changed and again["private_key_secret"] == name

    group = {"name": cluster + "-ops", "users": [user], "cluster_name": cluster, "secrets_store": "secretsmanager"}
    result = ansible.module("iam_group", group)
    assert result.changed and result["access_key_secrets"] == ["/trainkit/{0}/access-keys/{1}".format(cluster, user)]
    value = json.loads(secrets.get_secret_value(SecretId=result["access_key_secrets"][0])["SecretString"])
    assert value["SecretAccessKey"] not in result.output
    assert not ansible.module("iam_group", group).changed

    # what counts is the stored secret: while it is there the user gets no second key (and it is never overwritten)
    boto("iam").delete_access_key(UserName=user, AccessKeyId=value["AccessKeyId"])
    assert not ansible.module("iam_group", group).changed
    assert boto("iam").list_access_keys(UserName=user)["AccessKeyMetadata"] == []

    for module, params in (("iam_group", group), ("key_pair", args)):
        result = ansible.module(module, dict(params, state="absent"))
        assert result.changed, result.output
        assert not ansible.module(module, dict(params, state="absent")).changed
    assert stored(boto, cluster) == []


def test_store_options_are_checked_before_any_call(ansible, local_aws):
    since = local_aws.mark()
    result = ansible.module("key_pair", {"name": "x", "secrets_store": "ssm"})
    assert result.failed and "needs cluster_name" in result["msg"]
    result = ansible.module(
        "iam_group", {"name": "x", "cluster_name": "x", "secrets_store": "ssm", "access_keys_path": "/tmp/k"}
    )
    assert result.failed and "access_keys_path applies to secrets_store=file" in result["msg"]
    result = ansible.module("key_pair", {"name": "x", "private_key_path": "/tmp/x.pem", "secrets_kms_key": "alias/k"})
    assert result.failed and "secrets_kms_key applies" in result["msg"]
    assert local_aws.requests(since) == []
