# -*- coding: utf-8 -*-
"""tools/local-aws: start prints the URL last, reuses a running endpoint (state survives), stop ends its pid."""

import http.client
import json
import os
import ssl
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
        proxy = (tmp_path / "proxy").read_text()
        assert tool(tmp_path, "status").stdout.strip().splitlines() == [
            "realism: default",
            "proxy: " + proxy,
            "ca_bundle: {0}".format(tmp_path / "ca.pem"),
            url,
        ]
        assert tool(tmp_path, "env").stdout.splitlines() == [
            "export AWS_ENDPOINT_URL=" + url,
            "export TRAINKIT_LOCAL_AWS_PROXY=" + proxy,
            "export TRAINKIT_LOCAL_AWS_CA_BUNDLE={0}".format(tmp_path / "ca.pem"),
        ]
    finally:
        stopped = tool(tmp_path, "stop")
    assert stopped.returncode == 0
    assert (
        not os.path.exists("/proc/{0}".format(pid))
        or b"local_aws_server" not in open("/proc/{0}/cmdline".format(pid), "rb").read()
    )
    assert tool(tmp_path, "status").returncode == 1
    assert tool(tmp_path, "stop").returncode == 0, "stop with nothing running is fine"


def test_proxy_mode_serves_sdks_that_ignore_the_endpoint(local_aws):
    """A client that calls the real AWS host names (no endpoint URL) through the proxy reaches the same state;
    a tunnel carries several requests (Go's clients rely on it); anything but an AWS host is refused."""
    proxy = local_aws.tool("status").stdout.splitlines()[1].split(": ", 1)[1]
    ca_bundle = os.path.join(local_aws.state_dir, "ca.pem")
    local_aws.client("s3").create_bucket(
        Bucket="seen-through-proxy", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    s3 = boto3.client(
        "s3",
        region_name="us-west-2",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        verify=ca_bundle,
        config=Config(proxies={"https": proxy}),
    )
    assert "seen-through-proxy" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket="seen-through-proxy", Key="k", Body=b"through the proxy")
    assert (
        local_aws.client("s3").get_object(Bucket="seen-through-proxy", Key="k")["Body"].read() == b"through the proxy"
    )

    host, port = proxy.rsplit("/", 1)[1].split(":")
    context = ssl.create_default_context(cafile=ca_bundle)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    connection.set_tunnel("sts.us-west-2.amazonaws.com", 443)
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-west-2/sts/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }
    for _attempt in range(3):  # one tunnel, three requests
        connection.request("POST", "/", body=body, headers=headers)
        answer = connection.getresponse()
        assert answer.status == 200 and b"<Account>123456789012</Account>" in answer.read()
    connection.close()

    refused = http.client.HTTPConnection(host, int(port), timeout=30)
    refused.set_tunnel("example.com", 443)
    with pytest.raises(OSError, match="403"):
        refused.request("GET", "/")
    plain = http.client.HTTPConnection(host, int(port), timeout=30)
    plain.request("GET", "http://s3.amazonaws.com/")
    assert plain.getresponse().status == 405, "plain HTTP is not proxied"


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

        # a NAT gateway: pending, then available; its address cannot be released nor the VPC's internet gateway
        # detached until the gateway is deleted, which takes time too
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        eventually(lambda: try_call(ec2.attach_internet_gateway, InternetGatewayId=igw, VpcId=vpc))
        address = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=address)["NatGateway"]["NatGatewayId"]

        def nat_state():
            return ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["State"]

        assert nat_state() == "pending"
        eventually(lambda: nat_state() == "available")
        with pytest.raises(ClientError) as in_use:
            ec2.release_address(AllocationId=address)
        assert in_use.value.response["Error"]["Code"] == "InvalidIPAddress.InUse"
        ec2.delete_nat_gateway(NatGatewayId=nat)
        assert nat_state() == "deleting"
        with pytest.raises(ClientError) as mapped:
            ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        assert mapped.value.response["Error"]["Code"] == "DependencyViolation"
        eventually(lambda: nat_state() == "deleted")
        assert not ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])[
            "NetworkInterfaces"
        ], "a deleted NAT gateway's interface goes with it"
        ec2.release_address(AllocationId=address)
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)

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


def test_cloudformation_as_kube_aws_needs_it(local_aws):
    """Nested stacks: named like CloudFormation's, outputs readable by GetAtt, updated in place when the template
    behind an unchanged URL changed; ValidateTemplate fails on errors only; deletes wait for what depends."""
    s3, cfn, ec2 = local_aws.client("s3"), local_aws.client("cloudformation"), local_aws.client("ec2")
    s3.create_bucket(Bucket="cfn-nested", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]

    def child(description):
        return json.dumps(
            {
                "Description": description,
                "Parameters": {"Vpc": {"Type": "String"}},
                "Resources": {
                    "Group": {
                        "Type": "AWS::EC2::SecurityGroup",
                        "Properties": {"GroupDescription": description, "VpcId": {"Ref": "Vpc"}},
                    }
                },
                "Outputs": {"GroupId": {"Value": {"Ref": "Group"}}},
            }
        )

    s3.put_object(Bucket="cfn-nested", Key="child.json", Body=child("first").encode())
    url = "https://cfn-nested.s3.us-west-2.amazonaws.com/child.json"
    parent = {
        "Resources": {
            "Child": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": url, "Parameters": {"Vpc": vpc}},
            },
            "Rule": {
                "Type": "AWS::EC2::SecurityGroupIngress",
                "Properties": {
                    "GroupId": {"Fn::GetAtt": ["Child", "Outputs.GroupId"]},
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "SourceSecurityGroupId": {"Fn::GetAtt": ["Child", "Outputs.GroupId"]},
                },
            },
        }
    }
    warned = dict(parent, Resources=dict(parent["Resources"]))
    warned["Resources"]["Volume"] = {
        "Type": "AWS::EC2::Volume",
        "Properties": {"AvailabilityZone": "us-west-2a", "Size": 1},
    }
    cfn.validate_template(TemplateBody=json.dumps(warned))  # W3010: hard-coded zone, a warning only
    with pytest.raises(ClientError, match="ValidationError"):
        cfn.validate_template(TemplateBody=json.dumps({"Resources": {"X": {"Type": "AWS::EC2::Nothing"}}}))

    cfn.create_stack(StackName="outer", TemplateBody=json.dumps(parent))
    eventually(lambda: cfn.describe_stacks(StackName="outer")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE")
    nested = cfn.describe_stack_resource(StackName="outer", LogicalResourceId="Child")["StackResourceDetail"]
    name = (
        nested["PhysicalResourceId"].split("/")[1]
        if "/" in nested["PhysicalResourceId"]
        else nested["PhysicalResourceId"]
    )
    assert name.startswith("outer-Child-")
    group = ec2.describe_security_groups(Filters=[{"Name": "description", "Values": ["first"]}])["SecurityGroups"][0]
    assert group["VpcId"] == vpc
    assert group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == group["GroupId"], "GetAtt Outputs.GroupId"
    child_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]

    s3.put_object(Bucket="cfn-nested", Key="child.json", Body=child("second").encode())
    cfn.update_stack(StackName="outer", TemplateBody=json.dumps(parent))
    assert cfn.describe_stacks(StackName="outer")["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"
    eventually(lambda: cfn.describe_stacks(StackName="outer")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE")
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"] == child_id, "updated in place"
    assert ec2.describe_security_groups(Filters=[{"Name": "description", "Values": ["second"]}])["SecurityGroups"]

    outer_id = cfn.describe_stacks(StackName="outer")["Stacks"][0]["StackId"]
    cfn.delete_stack(StackName="outer")
    eventually(lambda: not [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] in ("outer", name)])
    assert cfn.describe_stacks(StackName=outer_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert not cfn.describe_stacks(StackName=outer_id)["Stacks"][0].get("Outputs")
    assert not [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith("outer-")], "not made anew"
    left = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
    assert [g["GroupName"] for g in left] == ["default"]
