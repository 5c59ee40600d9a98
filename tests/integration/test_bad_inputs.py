# -*- coding: utf-8 -*-
"""Bad input fails before any AWS call, with a message saying what to change, and creates nothing."""

import pytest

from harness import resource_counts
from harness import unique

# The cases share one run (the fixture `refused`): one worker takes them all
pytestmark = pytest.mark.xdist_group("bad_inputs")

GOOD_SUBNETS = [{"az": "us-west-2a", "cidr": "172.20.1.0/24"}]


def net(**overrides):
    args = {"cluster_name": "good-name", "cidr_block": "172.20.0.0/16", "subnets": GOOD_SUBNETS}
    args.update(overrides)
    return args


FSX = {"cluster_name": "good-name", "subnet_id": "subnet-1", "worker_security_group_id": "sg-1"}
EFS = {"cluster_name": "good-name", "vpc_id": "vpc-1", "subnet_ids": ["subnet-1"], "worker_security_group_id": "sg-1"}

CASES = [
    ("vpc_network", net(cluster_name="my_cluster"), "kube-aws and CloudFormation reject '_'"),
    ("vpc_network", net(cluster_name="a" * 29), "use at most 28"),
    ("vpc_network", net(cluster_name="1cluster"), "must start with a letter"),
    ("vpc_network", net(cidr_block="172.20.0.0/33"), "is not a valid IPv4 CIDR block"),
    ("vpc_network", net(cidr_block="172.20.0.1/16"), "has host bits set"),
    ("vpc_network", net(cidr_block="10.0.0.0/8", subnets=[]), "AWS allows /16 to /28"),
    ("vpc_network", net(cidr_block=None), "cidr_block is required"),
    ("vpc_network", net(subnets=[{"az": "us-west-2a", "cidr": "10.0.1.0/24"}]), "is not inside the VPC's cidr_block"),
    ("vpc_network", net(subnets=GOOD_SUBNETS + [{"az": "us-west-2b", "cidr": "172.20.1.128/25"}]), "overlaps"),
    (
        "vpc_network",
        net(subnets=[{"az": "eu-west-1a", "cidr": "172.20.1.0/24"}]),
        "not an availability zone of region us-west-2",
    ),
    ("vpc_network", net(ssh_cidrs=["0.0.0.0"]), "needs a prefix length"),
    ("vpc_network", net(ssh_cidrs=["10.0.0.0/40"]), "ssh_cidrs"),
    ("vpc_network", net(tags={"aws:owner": "me"}), "reserved 'aws:' prefix"),
    (
        "vpc_network",
        net(subnets=[{"az": "us-west-2a", "cidr": "172.20.1.0/24", "public": False}]),
        "need a NAT gateway in a public subnet and none is public",
    ),
    (
        "vpc_network",
        net(
            nat_gateways="per_zone",
            subnets=GOOD_SUBNETS + [{"az": "us-west-2b", "cidr": "172.20.12.0/24", "public": False}],
        ),
        "us-west-2b has no public subnet",
    ),
    ("s3_bucket", {"name": "My_Bucket"}, "use lowercase letters"),
    ("s3_bucket", {"name": "ab"}, "use 3 to 63 characters"),
    ("s3_bucket", {"name": "192.168.1.1"}, "must not look like an IP address"),
    ("s3_bucket", {"name": "good-bucket-x", "kms_key_id": "alias/k"}, "only used with encryption=aws:kms"),
    ("s3_bucket", {"name": "good-bucket-y", "cluster_name": "bad name"}, "must start with a letter"),
    ("kms_key", {"alias": "aws/ebs"}, "reserved for AWS managed keys"),
    ("kms_key", {"alias": "good", "state": "absent", "pending_window_days": 3}, "between 7 and 30"),
    ("kms_key", {"alias": "has space"}, "must look like 'alias/<name>'"),
    ("iam_group", {"name": "g", "managed_policies": ["AmazonEC2FullAccess"]}, "is not an IAM policy ARN"),
    ("iam_group", {"name": "g", "inline_policies": {"p": "{not json"}}, "is not valid JSON"),
    ("iam_group", {"name": "bad group!"}, "must be 1 to 128 characters"),
    ("iam_role", {"name": "r", "trusted_service": "ec2"}, "must be a service principal"),
    ("iam_role", {"name": "r" * 65, "trusted_service": "ec2.amazonaws.com"}, "must be 1 to 64 characters"),
    ("key_pair", {"name": "k", "public_key": "hello"}, "must be an OpenSSH public key line"),
    ("key_pair", {"name": "k"}, "set public_key to import a key, or private_key_path"),
    ("private_zone", {"name": "bad..name", "vpc_id": "vpc-123"}, "is not a valid DNS name"),
    ("fsx_lustre", dict(FSX, storage_capacity=1300), "not allowed for SCRATCH_2: use 1200 or a multiple of 2400"),
    ("fsx_lustre", dict(FSX, kms_key_id="alias/k"), "kms_key_id is for PERSISTENT_1 and PERSISTENT_2 only"),
    ("efs", dict(EFS, throughput_mode="elastic", performance_mode="maxIO"), "needs performance_mode=generalPurpose"),
    ("fsx_lustre", dict(FSX, deployment_type="SCRATCH_1", storage_capacity=4800), "multiple of 3600"),
    ("fsx_lustre", dict(FSX, deployment_type="PERSISTENT_1", per_unit_storage_throughput=75), "50, 100, 200"),
    ("fsx_lustre", dict(FSX, deployment_type="PERSISTENT_2"), "125, 250, 500, 1000"),
    ("fsx_lustre", dict(FSX, per_unit_storage_throughput=200), "only for PERSISTENT_1 and PERSISTENT_2"),
    ("fsx_lustre", dict(FSX, import_path="/data"), "must be an S3 path"),
    ("fsx_lustre", dict(FSX, import_path="s3://a/in", export_path="s3://b/out"), "same bucket"),
    ("efs", dict(EFS, throughput_mode="provisioned"), "needs provisioned_throughput_in_mibps"),
    ("efs", dict(EFS, access_points=[{"name": "d", "path": "data"}]), "must start with '/'"),
    ("efs", dict(EFS, allowed_cidrs=["0.0.0.0"]), "needs a prefix length"),
    ("efs", dict(EFS, subnet_ids=[]), "at least one subnet"),
    ("private_zone", {"name": "ok.internal", "vpc_id": "subnet-1"}, "is not a VPC id"),
    # value ranges
    ("efs", dict(EFS, wait_timeout=-5), "wait_timeout must be at least 1 second"),
    ("fsx_lustre", dict(FSX, wait_timeout=0), "wait_timeout must be at least 1 second"),
    ("efs", dict(EFS, access_points=[{"name": "d", "path": "/data", "uid": -1}]), "uid -1 must be 0 to 4294967295"),
    ("efs", dict(EFS, throughput_mode="provisioned", provisioned_throughput_in_mibps=0.5), "of at least 1"),
    # option combinations the service rejects
    ("efs", dict(EFS, provisioned_throughput_in_mibps=100), "applies only with throughput_mode=provisioned"),
    ("efs", dict(EFS, access_points=[{"name": "d", "path": "/data/"}]), "without '//' or a trailing '/'"),
    # policy documents and record values
    (
        "iam_group",
        {"name": "g-nover", "inline_policies": {"p": {"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}}},
        'set "Version": "2012-10-17"',
    ),
    (
        "private_zone",
        {"name": "ok.internal", "vpc_id": "vpc-1", "records": [{"name": "api", "type": "A", "value": ["api.other"]}]},
        "is not an IPv4 address, which an A record holds",
    ),
    (
        "private_zone",
        {
            "name": "ok.internal",
            "vpc_id": "vpc-1",
            "records": [{"name": "w", "type": "CNAME", "value": ["a.b", "c.d"]}],
        },
        "a CNAME record holds exactly one value",
    ),
    # read-only existence checks before any change: a managed policy that does not exist
    (
        "iam_group",
        {"name": "g-missing-policy", "managed_policies": ["arn:aws:iam::aws:policy/AmazonEC2FullAcess"]},
        "AmazonEC2FullAcess does not exist; nothing was changed",
    ),
    (
        "iam_role",
        {
            "name": "r-missing-policy",
            "trusted_service": "ec2.amazonaws.com",
            "managed_policies": ["arn:aws:iam::aws:policy/NoSuchPolicy"],
            "instance_profile": True,
        },
        "NoSuchPolicy does not exist; nothing was changed",
    ),
    # refused by AWS after the group was created: the group this run made is removed again
    (
        "iam_group",
        {
            "name": "g-malformed",
            "inline_policies": {
                "p": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2", "Resource": "*"}]}
            },
        },
        "MalformedPolicyDocument",
    ),
]


def test_at_least_fifteen_cases():
    assert len(CASES) >= 15


@pytest.fixture(scope="module")
def refused(ansible, boto):
    """Every case's module call, made once, in one playbook (what one `ansible` call per case did, without one Ansible
    start-up per case): the account's resource counts before, each case's result, the counts after."""
    before = resource_counts(boto)
    results = ansible.modules([case[:2] for case in CASES])
    return before, results, resource_counts(boto)


@pytest.mark.parametrize("case", range(len(CASES)), ids=["{0}-{1}".format(c[0], i) for i, c in enumerate(CASES)])
def test_bad_input_fails_before_any_change(refused, case):
    before, results, after = refused
    result, message = results[case], CASES[case][2]
    assert result.failed, result
    assert not result.changed, result
    if message:
        assert message in result["msg"], result["msg"]
    assert after == before


@pytest.mark.parametrize("module,args,message", [CASES[0], CASES[9], CASES[13], CASES[21]])
def test_validation_needs_no_endpoint(ansible, module, args, message):
    """With nothing listening at the endpoint, the validation message still comes: no call was made first."""
    result = ansible.module(module, dict(args, endpoint_url="http://127.0.0.1:9"))
    assert result.failed and message in result["msg"], result["msg"]


def test_missing_region_is_explained(ansible):
    result = ansible.module("kms_key", {"alias": unique("k")}, env={"AWS_REGION": "", "AWS_DEFAULT_REGION": ""})
    assert result.failed and "No AWS region is set" in result["msg"]
