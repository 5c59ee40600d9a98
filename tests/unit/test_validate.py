# -*- coding: utf-8 -*-
"""Pure validation logic: parameters in, problems out."""

import pytest

from ansible_collections.trainkit.aws.plugins.module_utils import validate


@pytest.mark.parametrize("name", ["paddle-demo", "a", "Cluster1", "a" * 28])
def test_good_cluster_names(name):
    assert validate.cluster_name(name) == []


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("my_cluster", "reject '_'"),
        ("1abc", "start with a letter"),
        ("a.b", "start with a letter"),
        ("-abc", "start with a letter"),
        ("a" * 29, "at most 28"),
    ],
)
def test_bad_cluster_names(name, fragment):
    [problem] = validate.cluster_name(name)
    assert fragment in problem


def test_subnets_inside_and_apart():
    subnets = [{"az": "us-west-2a", "cidr": "172.20.1.0/24"}, {"az": "us-west-2b", "cidr": "172.20.2.0/24"}]
    assert validate.subnets("172.20.0.0/16", subnets, "us-west-2") == []


@pytest.mark.parametrize(
    "vpc,subnets,fragment",
    [
        ("172.20.0.0/16", [{"az": "us-west-2a", "cidr": "10.0.0.0/24"}], "not inside"),
        (
            "172.20.0.0/16",
            [{"az": "us-west-2a", "cidr": "172.20.0.0/24"}, {"az": "us-west-2b", "cidr": "172.20.0.0/25"}],
            "overlaps",
        ),
        (
            "172.20.0.0/16",
            [{"az": "us-east-1a", "cidr": "172.20.0.0/24"}],
            "not an availability zone of region us-west-2",
        ),
        ("172.20.0.0/16", [{"az": "us-west-2", "cidr": "172.20.0.0/24"}], "not an availability zone"),
        ("172.20.0.0/16", [{"az": "us-west-2ab", "cidr": "172.20.0.0/24"}], "not an availability zone"),
        ("172.20.0.0", [], "needs a prefix length"),
        ("172.16.0.0/12", [], "/16 to /28"),
        ("172.20.0.0/16", [{"az": "us-west-2a", "cidr": "172.20.0.0/30"}], "/16 to /28"),
    ],
)
def test_bad_subnets(vpc, subnets, fragment):
    problems = validate.subnets(vpc, subnets, "us-west-2")
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("name", ["paddle-demo-artifacts", "abc", "a.b.c", "x" * 63])
def test_good_bucket_names(name):
    assert validate.bucket_name(name) == []


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 64,
        "Upper",
        "under_score",
        "a..b",
        "a.-b",
        "-abc",
        "10.0.0.1",
        "xn--abc",
        "abc-s3alias",
        "sthree-abc",
    ],
)
def test_bad_bucket_names(name):
    assert validate.bucket_name(name)


def test_policy_arns():
    assert (
        validate.policy_arns(
            ["arn:aws:iam::aws:policy/job-function/NetworkAdministrator", "arn:aws:iam::123456789012:policy/mine"]
        )
        == []
    )
    assert validate.policy_arns(["AmazonEC2FullAccess"])


@pytest.mark.parametrize(
    "doc,ok",
    [
        ({"Version": "2012-10-17", "Statement": []}, True),
        ('{"Version": "2012-10-17", "Statement": []}', True),
        ("{nope", False),
        ({"Version": "2012-10-17"}, False),
        ([1], False),
    ],
)
def test_policy_document(doc, ok):
    assert (validate.policy_document(doc, "p") == []) is ok


def test_kms_alias_and_tags_and_keys():
    assert validate.kms_alias("alias/paddle-demo-assets") == []
    assert validate.kms_alias("alias/aws/s3")
    assert validate.tags({"aws:x": "1"}) and validate.tags({"k" * 129: "v"}) and validate.tags({"k": "v" * 257})
    assert validate.tags({"team": "ml"}) == []
    assert validate.ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd me@host") == []
    assert validate.ssh_public_key("-----BEGIN PRIVATE KEY-----")
    assert validate.cidr_list(["203.0.113.0/24", "0.0.0.0/0"], "ssh_cidrs") == []
    assert validate.cidr_list(["203.0.113.7"], "ssh_cidrs")
    assert validate.dns_name("paddle-demo.internal", "name") == [] and validate.dns_name("a..b", "name")


def test_record_values_match_their_type():
    assert validate.record_values({"type": "A", "value": ["172.20.1.10"]}, "r") == []
    assert "IPv4" in validate.record_values({"type": "A", "value": ["api.internal"]}, "r")[0]
    assert "IPv6" in validate.record_values({"type": "AAAA", "value": ["172.20.1.10"]}, "r")[0]
    assert "exactly one value" in validate.record_values({"type": "CNAME", "value": ["a.b", "c.d"]}, "r")[0]
    assert validate.record_values({"type": "MX", "value": ["10 mail.example.com"]}, "r") == []
    assert "<priority> <host>" in validate.record_values({"type": "MX", "value": ["mail.example.com"]}, "r")[0]


def test_policy_documents_need_version_and_effect():
    good = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert validate.policy_document(good, "p") == []
    assert "2012-10-17" in validate.policy_document(dict(good, Version="2020-01-01"), "p")[0]
    assert "Effect" in validate.policy_document(dict(good, Statement={"Action": "s3:*"}), "p")[0]


def test_efs_option_combinations():
    assert validate.efs("bursting", None, True, None, []) == []
    assert "applies only with throughput_mode=provisioned" in validate.efs("bursting", 100, True, None, [])[0]
    assert "at least 1" in validate.efs("provisioned", 0.5, True, None, [])[0]
    assert "needs encrypted=true" in validate.efs("bursting", None, False, "arn:aws:kms:x", [])[0]
    point = {"name": "d", "path": "/d", "uid": 70000000000}
    assert "uid" in validate.efs("bursting", None, True, None, [point])[0]
    assert validate.efs("bursting", None, True, None, [], prefix="storage_efs.") == []


def test_fsx_lustre_rules_and_prefix():
    assert validate.fsx_lustre("SCRATCH_2", 1200, None, None, None) == []
    assert validate.fsx_lustre("SCRATCH_2", 1300, None, None, None, prefix="storage_fsx.")[0].startswith(
        "storage_fsx.storage_capacity 1300"
    )
    assert "same bucket" in validate.fsx_lustre("SCRATCH_2", 1200, None, "s3://a/x", "s3://b/y")[0]
    assert "PERSISTENT_2 links S3" in validate.fsx_lustre("PERSISTENT_2", 1200, 125, "s3://a/x", None)[0]


def test_positive():
    assert validate.positive(5, "wait_timeout") == []
    assert validate.positive(0, "wait_timeout") and validate.positive(-3, "x") and validate.positive(True, "x")
