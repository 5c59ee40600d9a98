# -*- coding: utf-8 -*-
"""tools/local-aws: start prints the URL last, reuses a running endpoint (state survives), stop ends its pid."""

import json
import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import eventually
from harness import run_tool


def tool(state_dir, *args):
    return run_tool("local-aws", list(args) + ["--state-dir", str(state_dir)], timeout=120)


def test_start_reuse_stop(tmp_path):
    first = tool(tmp_path, "start")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:")
    pid = int((tmp_path / "pid").read_text())
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="kept", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-west-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        managed = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonEC2FullAccess")
        assert managed["Policy"]["PolicyName"] == "AmazonEC2FullAccess", "managed policies are loaded"

        again = tool(tmp_path, "start")
        assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == url
        assert int((tmp_path / "pid").read_text()) == pid
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]
        assert tool(tmp_path, "status").stdout.strip().splitlines() == ["realism: default", url]
    finally:
        stopped = tool(tmp_path, "stop")
    assert stopped.returncode == 0
    assert (
        not os.path.exists("/proc/{0}".format(pid))
        or b"local_aws_server" not in open("/proc/{0}/cmdline".format(pid), "rb").read()
    )
    assert tool(tmp_path, "status").returncode == 1
    assert tool(tmp_path, "stop").returncode == 0, "stop with nothing running is fine"


def test_stop_never_kills_a_foreign_pid(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "pid").write_text(str(sleeper.pid))
        (tmp_path / "url").write_text("http://127.0.0.1:1")
        assert tool(tmp_path, "stop").returncode == 0
        assert sleeper.poll() is None, "a pid that is not our moto server is left alone"
    finally:
        sleeper.kill()
        sleeper.wait()


def client(url, service):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def started(tmp_path, *args):
    result = tool(tmp_path, "start", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_realism_default_life_cycles_and_consistency(tmp_path):
    """The default profile: new resources are not found at once, EFS/FSx/EKS/CloudFormation take time."""
    url = started(tmp_path)
    try:
        ec2, efs, fsx, iam, eks = (client(url, s) for s in ("ec2", "efs", "fsx", "iam", "eks"))
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        with pytest.raises(ClientError) as hidden:
            ec2.describe_vpcs(VpcIds=[vpc])
        assert hidden.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"
        assert hidden.value.response["ResponseMetadata"]["RequestId"], "errors carry a request id"
        eventually(lambda: try_call(ec2.describe_vpcs, VpcIds=[vpc]), what="the VPC to be visible")
        subnet = eventually(
            lambda: try_call(ec2.create_subnet, VpcId=vpc, CidrBlock="10.1.1.0/24", AvailabilityZone="us-west-2a")
        )["Subnet"]["SubnetId"]
        iam.create_role(RoleName="fresh", AssumeRolePolicyDocument="{}")
        with pytest.raises(ClientError) as hidden:
            iam.get_role(RoleName="fresh")
        assert hidden.value.response["Error"]["Code"] == "NoSuchEntity"

        fs = efs.create_file_system(CreationToken="realism")
        assert fs["LifeCycleState"] == "creating"
        with pytest.raises(ClientError) as early:
            efs.create_mount_target(FileSystemId=fs["FileSystemId"], SubnetId=subnet)
        assert early.value.response["Error"]["Code"] == "IncorrectFileSystemLifeCycleState"

        def state():
            return efs.describe_file_systems(FileSystemId=fs["FileSystemId"])["FileSystems"][0]

        eventually(lambda: state()["LifeCycleState"] == "available")
        target = efs.create_mount_target(FileSystemId=fs["FileSystemId"], SubnetId=subnet)
        assert target["LifeCycleState"] == "creating"
        eventually(
            lambda: efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"][0]["LifeCycleState"]
            == "available"
        )
        efs.delete_mount_target(MountTargetId=target["MountTargetId"])
        targets = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
        assert [t["LifeCycleState"] for t in targets] == ["deleting"], "DeleteMountTarget returns before it is gone"
        with pytest.raises(ClientError) as in_use:
            efs.delete_file_system(FileSystemId=fs["FileSystemId"])
        assert in_use.value.response["Error"]["Code"] == "FileSystemInUse"
        eventually(lambda: not efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"])
        efs.delete_file_system(FileSystemId=fs["FileSystemId"])
        assert state()["LifeCycleState"] == "deleting"
        eventually(lambda: not efs.describe_file_systems(CreationToken="realism")["FileSystems"])

        group = eventually(lambda: try_call(ec2.create_security_group, GroupName="l", Description="l", VpcId=vpc))
        lustre = fsx.create_file_system(
            FileSystemType="LUSTRE",
            StorageCapacity=1200,
            SubnetIds=[subnet],
            SecurityGroupIds=[group["GroupId"]],
            LustreConfiguration={"DeploymentType": "SCRATCH_2"},
        )["FileSystem"]
        assert lustre["Lifecycle"] == "CREATING" and len(lustre["NetworkInterfaceIds"]) == 1
        fs_id = lustre["FileSystemId"]
        eventually(
            lambda: fsx.describe_file_systems(FileSystemIds=[fs_id])["FileSystems"][0]["Lifecycle"] == "AVAILABLE"
        )
        fsx.delete_file_system(FileSystemId=fs_id)
        assert fsx.describe_file_systems(FileSystemIds=[fs_id])["FileSystems"][0]["Lifecycle"] == "DELETING"
        with pytest.raises(ClientError) as blocked:
            ec2.delete_security_group(GroupId=group["GroupId"])
        assert blocked.value.response["Error"]["Code"] == "DependencyViolation", "its interfaces hold the group"
        eventually(
            lambda: try_call(fsx.describe_file_systems, FileSystemIds=[fs_id], expect="FileSystemNotFound") is True
        )
        ec2.delete_security_group(GroupId=group["GroupId"])

        eks.create_cluster(name="c", roleArn="arn:aws:iam::123456789012:role/r", resourcesVpcConfig={})
        assert eks.describe_cluster(name="c")["cluster"]["status"] == "CREATING"
        eventually(lambda: eks.describe_cluster(name="c")["cluster"]["status"] == "ACTIVE")

        summary = json.loads(tool(tmp_path, "summary", "--json").stdout)
        assert summary["not_yet_visible"] >= 2 and summary["by_operation"]["efs:DeleteMountTarget"] == 1
    finally:
        tool(tmp_path, "stop")


def try_call(call, expect=None, **kwargs):
    """The call's answer, or None while AWS says the thing is not there yet (or True once it says ``expect``)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if expect and code == expect:
            return True
        if code.endswith("NotFound") or code == "NoSuchEntity":
            return None
        raise


def test_realism_off_and_a_throttling_profile(tmp_path):
    off = tmp_path / "off"
    url = started(off, "--realism", "off")
    try:
        assert tool(off, "status").stdout.splitlines()[0] == "realism: off"
        ec2, efs = client(url, "ec2"), client(url, "efs")
        vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
        assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"], "off: visible at once"
        assert efs.create_file_system(CreationToken="off")["LifeCycleState"] == "available"
    finally:
        tool(off, "stop")

    profile = tmp_path / "throttle.json"
    profile.write_text(json.dumps({"name": "busy", "throttle": 0.5, "seed": 7}))
    busy = tmp_path / "busy"
    url = started(busy, "--realism", str(profile))
    try:
        assert tool(busy, "status").stdout.splitlines()[0] == "realism: " + str(profile)
        codes = {}
        for service, call in (
            ("ec2", "describe_vpcs"),
            ("iam", "list_roles"),
            ("kms", "list_keys"),
            ("s3", "list_buckets"),
        ):
            for _attempt in range(12):
                try:
                    getattr(client(url, service), call)()
                except ClientError as exc:
                    codes.setdefault(service, set()).add(exc.response["Error"]["Code"])
        assert codes == {
            "ec2": {"RequestLimitExceeded"},
            "iam": {"Throttling"},
            "kms": {"ThrottlingException"},
            "s3": {"SlowDown"},
        }
        summary = json.loads(tool(busy, "summary", "--json").stdout)
        assert 0 < summary["throttled"] < summary["requests"]
    finally:
        tool(busy, "stop")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"times": {"efs_forever": 1}}))
    refused = tool(tmp_path / "bad", "start", "--realism", str(bad))
    assert refused.returncode != 0 and "efs_forever" in refused.stderr + (tmp_path / "bad" / "server.log").read_text()
