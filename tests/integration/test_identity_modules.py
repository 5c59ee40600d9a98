# -*- coding: utf-8 -*-
"""iam_group, iam_role, kms_key, key_pair and s3_bucket against the local AWS endpoint.

Each test walks one resource through check mode -> create -> re-run -> update -> absent -> absent again and
asserts the real state through boto3 after every step.
"""

import json
import os
import stat

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization import PublicFormat

from harness import unique

EC2_FULL = "arn:aws:iam::aws:policy/AmazonEC2FullAccess"
S3_FULL = "arn:aws:iam::aws:policy/AmazonS3FullAccess"
KMS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}],
}


def group_exists(iam, name):
    return any(g["GroupName"] == name for g in iam.list_groups()["Groups"])


def test_iam_group_lifecycle(ansible, boto, tmp_path):
    iam = boto("iam")
    name, user = unique("grp"), unique("usr")
    keys = tmp_path / "keys"
    args = {
        "name": name,
        "managed_policies": [EC2_FULL],
        "inline_policies": {"kms": KMS_POLICY},
        "users": [user],
        "access_keys_path": str(keys),
    }
    checked = ansible.module("iam_group", args, check=True)
    assert checked.changed and not group_exists(iam, name) and not keys.exists()

    created = ansible.module("iam_group", args)
    assert created.changed, created.output
    attached = iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [EC2_FULL]
    assert iam.list_group_policies(GroupName=name)["PolicyNames"] == ["kms"]
    assert [u["UserName"] for u in iam.get_group(GroupName=name)["Users"]] == [user]
    key_file = keys / (user + ".credentials")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    [key] = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert key["AccessKeyId"] in key_file.read_text()
    assert created["access_key_files"] == [str(key_file)]
    assert key["AccessKeyId"] not in json.dumps(created) and key["AccessKeyId"] not in created.output

    # the same policy written in another order/shape is no change
    reordered = dict(
        args,
        inline_policies={
            "kms": json.dumps(
                {
                    "Statement": [{"Resource": ["*"], "Action": ["kms:Decrypt", "kms:Encrypt"], "Effect": "Allow"}],
                    "Version": "2012-10-17",
                }
            )
        },
    )
    again = ansible.module("iam_group", reordered)
    assert not again.changed, again.output
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 1, "no second key"

    policy_changed = dict(
        args,
        managed_policies=[S3_FULL],
        inline_policies={
            "kms": dict(KMS_POLICY, Statement=[{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}])
        },
    )
    assert ansible.module("iam_group", policy_changed, check=True).changed
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]] == [EC2_FULL]
    updated = ansible.module("iam_group", policy_changed, diff=True)
    assert updated.changed and updated["diff"]["before"]["managed_policies"] == [EC2_FULL]
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=name)["AttachedPolicies"]] == [S3_FULL]
    document = iam.get_group_policy(GroupName=name, PolicyName="kms")["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    assert document["Statement"][0]["Action"] == "kms:Decrypt"

    absent = {"name": name, "users": [user], "access_keys_path": str(keys), "state": "absent"}
    assert ansible.module("iam_group", absent, check=True).changed and group_exists(iam, name)
    assert ansible.module("iam_group", absent).changed
    assert not group_exists(iam, name)
    assert user not in [u["UserName"] for u in iam.list_users()["Users"]]
    assert not key_file.exists()
    assert not ansible.module("iam_group", absent).changed


def test_iam_role_lifecycle(ansible, boto):
    iam = boto("iam")
    name, cluster = unique("role"), unique("c")
    args = {
        "name": name,
        "cluster_name": cluster,
        "trusted_service": "ec2.amazonaws.com",
        "managed_policies": [EC2_FULL],
        "instance_profile": True,
    }
    assert ansible.module("iam_role", args, check=True).changed
    assert name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    created = ansible.module("iam_role", args)
    assert created.changed, created.output
    role = iam.get_role(RoleName=name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [name]
    assert created["instance_profile_arn"] == profile["Arn"]
    tags = dict((t["Key"], t["Value"]) for t in iam.list_role_tags(RoleName=name)["Tags"])
    assert tags["trainkit:cluster"] == cluster

    assert not ansible.module("iam_role", args).changed
    updated = ansible.module("iam_role", dict(args, managed_policies=[S3_FULL], tags={"tier": "gpu"}))
    assert updated.changed
    assert [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]] == [S3_FULL]
    tags = dict((t["Key"], t["Value"]) for t in iam.list_role_tags(RoleName=name)["Tags"])
    assert tags["tier"] == "gpu" and tags["KubernetesCluster"] == cluster

    assert ansible.module("iam_role", {"name": name, "state": "absent"}).changed
    assert name not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert name not in [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]]
    assert not ansible.module("iam_role", {"name": name, "state": "absent"}).changed


def alias_target(kms, alias):
    for entry in kms.list_aliases()["Aliases"]:
        if entry["AliasName"] == "alias/" + alias:
            return entry.get("TargetKeyId")
    return None


def test_kms_key_lifecycle(ansible, boto):
    kms = boto("kms")
    alias, cluster = unique("key"), unique("c")
    args = {"alias": alias, "description": "assets", "enable_key_rotation": True, "cluster_name": cluster}
    assert ansible.module("kms_key", args, check=True).changed and alias_target(kms, alias) is None

    created = ansible.module("kms_key", args)
    assert created.changed and created["alias"] == "alias/" + alias
    key_id = alias_target(kms, alias)
    assert key_id == created["key_id"] and created["key_arn"].endswith(key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    tags = dict((t["TagKey"], t["TagValue"]) for t in kms.list_resource_tags(KeyId=key_id)["Tags"])
    assert tags["trainkit:cluster"] == cluster

    assert not ansible.module("kms_key", args).changed
    updated = ansible.module("kms_key", dict(args, enable_key_rotation=False, description="assets v2"))
    assert updated.changed and updated["key_id"] == key_id
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "assets v2"

    deleted = ansible.module("kms_key", {"alias": alias, "state": "absent", "pending_window_days": 7})
    assert deleted.changed and alias_target(kms, alias) is None
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert not ansible.module("kms_key", {"alias": alias, "state": "absent"}).changed


def test_key_pair_created_and_imported(ansible, boto, tmp_path):
    ec2 = boto("ec2")
    name = unique("kp")
    private = tmp_path / "keys" / (name + ".pem")
    args = {"name": name, "private_key_path": str(private), "cluster_name": unique("c")}
    assert ansible.module("key_pair", args, check=True).changed and not private.exists()
    created = ansible.module("key_pair", args)
    assert created.changed and created["fingerprint"]
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert "PRIVATE KEY" in private.read_text()
    assert private.read_text().strip() not in created.output and "PRIVATE KEY" not in json.dumps(created)
    [pair] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert pair["KeyFingerprint"] == created["fingerprint"]
    assert not ansible.module("key_pair", args).changed
    retagged = ansible.module("key_pair", dict(args, tags={"owner": "ml"}))
    assert retagged.changed and retagged["fingerprint"] == created["fingerprint"]
    [pair] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert dict((t["Key"], t["Value"]) for t in pair["Tags"])["owner"] == "ml"
    assert ansible.module("key_pair", {"name": name, "state": "absent"}, check=True).changed
    assert ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert ansible.module("key_pair", {"name": name, "state": "absent"}).changed
    assert not [p for p in ec2.describe_key_pairs()["KeyPairs"] if p["KeyName"] == name]
    assert not ansible.module("key_pair", {"name": name, "state": "absent"}).changed

    # import, then a different public key replaces the pair
    generated = [
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
        + " test"
        for _index in range(2)
    ]
    imported = ansible.module("key_pair", {"name": name, "public_key": generated[0]})
    assert imported.changed
    assert not ansible.module("key_pair", {"name": name, "public_key": generated[0]}).changed
    replaced = ansible.module("key_pair", {"name": name, "public_key": generated[1]})
    assert replaced.changed and replaced["fingerprint"] != imported["fingerprint"]
    refused = ansible.module("key_pair", {"name": name, "public_key": generated[0], "force": False})
    assert refused.failed and "force" in refused["msg"]
    assert ansible.module("key_pair", {"name": name, "state": "absent"}).changed


def test_s3_bucket_lifecycle(ansible, boto):
    s3, kms = boto("s3"), boto("kms")
    name = unique("artifacts")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    args = {
        "name": name,
        "encryption": "aws:kms",
        "kms_key_id": key_arn,
        "versioning": True,
        "cluster_name": unique("c"),
    }
    assert ansible.module("s3_bucket", args, check=True).changed
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    created = ansible.module("s3_bucket", args)
    assert created.changed, created.output
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    assert not ansible.module("s3_bucket", args).changed
    updated = ansible.module("s3_bucket", dict(args, encryption="AES256", kms_key_id=None, tags={"data": "imagenet"}))
    assert updated.changed
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = dict((t["Key"], t["Value"]) for t in s3.get_bucket_tagging(Bucket=name)["TagSet"])
    assert tags["data"] == "imagenet" and "trainkit:cluster" in tags

    for body in (b"one", b"two"):
        s3.put_object(Bucket=name, Key="model.bin", Body=body)
    s3.delete_object(Bucket=name, Key="model.bin")
    refused = ansible.module("s3_bucket", {"name": name, "state": "absent"})
    assert refused.failed and "force" in refused["msg"]
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    deleted = ansible.module("s3_bucket", {"name": name, "state": "absent", "force": True})
    assert deleted.changed and deleted["deleted_objects"] == 3
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert not ansible.module("s3_bucket", {"name": name, "state": "absent", "force": True}).changed


def test_private_zone_lifecycle(ansible, boto):
    ec2, route53 = boto("ec2"), boto("route53")
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    name = unique("zone") + ".internal"
    args = {
        "name": name,
        "vpc_id": vpc_id,
        "cluster_name": unique("c"),
        "records": [{"name": "paddle", "type": "A", "value": ["10.30.1.10"]}],
    }

    def zones():
        return [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == name + "."]

    assert ansible.module("private_zone", args, check=True).changed and zones() == []
    created = ansible.module("private_zone", args)
    assert created.changed
    [zone] = zones()
    assert zone["Config"]["PrivateZone"] is True
    assert [v["VPCId"] for v in route53.get_hosted_zone(Id=zone["Id"])["VPCs"]] == [vpc_id]
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    paddle = [r for r in records if r["Name"] == "paddle." + name + "."]
    assert paddle and paddle[0]["ResourceRecords"] == [{"Value": "10.30.1.10"}]

    assert not ansible.module("private_zone", args).changed
    moved = dict(args, records=[{"name": "paddle", "type": "A", "value": ["10.30.1.20"], "ttl": 60}])
    assert ansible.module("private_zone", moved).changed
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    paddle = [r for r in records if r["Name"] == "paddle." + name + "."]
    assert paddle[0]["ResourceRecords"] == [{"Value": "10.30.1.20"}] and paddle[0]["TTL"] == 60

    # records another tool added (an alias record has no TTL and no values): kept unless purged, and purgeable
    alias = {
        "Name": "api." + name + ".",
        "Type": "A",
        "AliasTarget": {
            "HostedZoneId": "Z1H1FL5HABSF5",
            "DNSName": "lb.us-west-2.elb.amazonaws.com.",
            "EvaluateTargetHealth": False,
        },
    }
    route53.change_resource_record_sets(
        HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]}
    )

    def names():
        return [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]]

    assert not ansible.module("private_zone", dict(moved, purge_records=False)).changed and alias["Name"] in names()
    purged = ansible.module("private_zone", moved)
    assert purged.changed and not purged.failed, purged.output
    assert alias["Name"] not in names()
    another = dict(alias, Name="api2." + name + ".")  # the zone's delete removes it too
    route53.change_resource_record_sets(
        HostedZoneId=zone["Id"], ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": another}]}
    )

    assert ansible.module("private_zone", {"name": name, "state": "absent"}).changed
    assert zones() == []
    assert not ansible.module("private_zone", {"name": name, "state": "absent"}).changed
    ec2.delete_vpc(VpcId=vpc_id)


def test_iam_managed_policy_lifecycle(ansible, boto):
    iam = boto("iam")
    name = unique("pol")
    arn = "arn:aws:iam::123456789012:policy/" + name
    first = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeVpcs", "Resource": "*"}]}
    args = {"name": name, "policy": first, "description": "test", "cluster_name": name}

    result = ansible.module("iam_managed_policy", args, check=True)
    assert result.changed and result["arn"] == arn
    assert name not in [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    result = ansible.module("iam_managed_policy", args)
    assert result.changed and result["policy"]["default_version_id"] == "v1"
    assert {"Key": "trainkit:cluster", "Value": name} in iam.list_policy_tags(PolicyArn=arn)["Tags"]
    # the same document in another order and with a one-item list: no change
    same = {
        "Version": "2012-10-17",
        "Statement": [{"Resource": "*", "Action": ["ec2:DescribeVpcs"], "Effect": "Allow"}],
    }
    assert not ansible.module("iam_managed_policy", dict(args, policy=same)).changed

    # six changes: IAM keeps five versions, the oldest non-default one goes
    group = unique("polgrp")
    iam.create_group(GroupName=group)
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    for number in range(6):
        changed = dict(
            first, Statement=[dict(first["Statement"][0], Action=["ec2:DescribeVpcs", "ec2:Get%d" % number])]
        )
        result = ansible.module("iam_managed_policy", dict(args, policy=changed), diff=True)
        assert result.changed, result.output
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5
    [default] = [v for v in versions if v["IsDefaultVersion"]]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=default["VersionId"])["PolicyVersion"]["Document"]
    assert "ec2:Get5" in json.dumps(document)
    assert result["diff"]["before"]["document"]["Statement"][0]["Action"] == ["ec2:DescribeVpcs", "ec2:Get4"]

    too_big = dict(first, Statement=[dict(first["Statement"][0], Action=["ec2:A%05d" % i for i in range(700)])])
    refused = ansible.module("iam_managed_policy", dict(args, policy=too_big))
    assert refused.failed and "IAM allows 6144" in refused["msg"]

    # absent detaches it from the group first
    assert ansible.module("iam_managed_policy", {"name": name, "state": "absent"}).changed
    assert iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"] == []
    assert name not in [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert not ansible.module("iam_managed_policy", {"name": name, "state": "absent"}).changed
    iam.delete_group(GroupName=group)
