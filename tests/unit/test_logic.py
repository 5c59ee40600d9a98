# -*- coding: utf-8 -*-
"""Tag diffs, policy normalisation and security group rule planning: values in, values out."""

from ansible_collections.trainkit.aws.plugins.module_utils import _ec2
from ansible_collections.trainkit.aws.plugins.module_utils import _iam
from ansible_collections.trainkit.aws.plugins.module_utils import tags
from ansible_collections.trainkit.aws.plugins.module_utils import _vpc as vpc_network


def test_cluster_tags():
    assert tags.cluster_tags("c1") == {
        "trainkit:cluster": "c1",
        "KubernetesCluster": "c1",
        "kubernetes.io/cluster/c1": "owned",
    }
    assert tags.cluster_tags(None) == {}


def test_unset_tags_keep_others_and_ensure_cluster_tags():
    wanted, purge = tags.desired_tags(None, "c1", True)
    assert purge is False and wanted == tags.cluster_tags("c1")
    to_set, to_unset = tags.diff_tags({"owner": "me"}, wanted, purge)
    assert to_unset == [] and set(to_set) == set(wanted)


def test_empty_tags_purge_all_but_cluster_and_aws_tags():
    wanted, purge = tags.desired_tags({}, "c1", True)
    current = dict(tags.cluster_tags("c1"), owner="me", **{"aws:cloudformation:stack-name": "s"})
    to_set, to_unset = tags.diff_tags(current, wanted, purge)
    assert to_set == {} and to_unset == ["owner"]
    assert tags.apply_tag_diff(current, to_set, to_unset) == dict(
        tags.cluster_tags("c1"), **{"aws:cloudformation:stack-name": "s"}
    )


def test_purge_false_keeps_unlisted():
    wanted, purge = tags.desired_tags({"a": "1"}, None, False)
    assert tags.diff_tags({"b": "2", "a": "0"}, wanted, purge) == ({"a": "1"}, [])


def test_tag_list_round_trip():
    as_list = tags.boto3_tag_list({"b": "2", "a": "1"})
    assert as_list == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert tags.tag_dict(as_list) == {"a": "1", "b": "2"}
    assert tags.tag_dict(tags.boto3_tag_list({"a": "1"}, "TagKey", "TagValue"), "TagKey", "TagValue") == {"a": "1"}


def test_policies_compare_semantically():
    first = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/*"]},
        ],
    }
    second = {
        "Statement": [
            {"Resource": "arn:aws:s3:::b/*", "Action": ["s3:GetObject"], "Effect": "Allow"},
            {"Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": ["*"], "Effect": "Allow"},
        ],
        "Version": "2012-10-17",
    }
    assert _iam.policies_equal(first, second)
    assert _iam.policies_equal(first, '%7B"Version"%3A"2012-10-17"%2C"Statement"%3A[]%7D') is False
    third = dict(first, Statement=first["Statement"][:1])
    assert not _iam.policies_equal(first, third)


def test_wanted_rules_are_exact_and_never_world_open_by_default():
    params = {"api_port": 443, "api_cidrs": [], "ssh_cidrs": []}
    rules = vpc_network.wanted_rules(params, {"master": "sg-m", "worker": "sg-w"})
    assert rules["worker"] == {("-1", None, None, "sg", "sg-w"), ("tcp", 10250, 10250, "sg", "sg-m")}
    assert rules["master"] == {("-1", None, None, "sg", "sg-m"), ("tcp", 443, 443, "sg", "sg-w")}
    assert not [r for group in rules.values() for r in group if r[3] == "cidr"]
    params["ssh_cidrs"] = ["203.0.113.0/24"]
    rules = vpc_network.wanted_rules(params, {"master": "sg-m", "worker": "sg-w"})
    assert ("tcp", 22, 22, "cidr", "203.0.113.0/24") in rules["worker"]


def test_current_rules_round_trip_through_ip_permissions():
    rule_set = {
        ("-1", None, None, "sg", "sg-w"),
        ("tcp", 10250, 10250, "sg", "sg-m"),
        ("tcp", 22, 22, "cidr", "10.0.0.0/8"),
    }
    group = {"IpPermissions": [_ec2.ip_permission(r) for r in rule_set]}
    assert _ec2.current_rules(group) == rule_set


def test_instance_type_capacity():
    from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import capacity

    assert capacity("p3.16xlarge") == {"cpu": "64", "memory": "488Gi", "pods": "110", "nvidia.com/gpu": "8"}
    assert capacity("m5.large") == {"cpu": "2", "memory": "8Gi", "pods": "110"}
    assert capacity("g5.xlarge", gpus=4)["nvidia.com/gpu"] == "4"
    for name, gpus in (
        ("p2.xlarge", 1),
        ("p3.2xlarge", 1),
        ("p3dn.24xlarge", 8),
        ("g4dn.xlarge", 1),
        ("p4d.24xlarge", 8),
    ):
        assert capacity(name)["nvidia.com/gpu"] == str(gpus)


def test_k8s_readiness_rules():
    import pytest

    from ansible_collections.trainkit.aws.plugins.module_utils import k8s

    job = {"kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    with pytest.raises(k8s.K8sError):
        k8s.ready(job)
    assert k8s.ready({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})
    assert not k8s.ready(
        {
            "kind": "Deployment",
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "updatedReplicas": 2, "availableReplicas": 2},
        }
    )
    assert k8s.matches_condition(
        {"status": {"conditions": [{"type": "Complete", "status": "True"}]}},
        {"type": "Complete", "status": "True", "reason": None},
    )
    before = {"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [1]}, "data": {"k": "v"}}
    after = {"metadata": {"name": "a", "resourceVersion": "2", "managedFields": [2]}, "data": {"k": "v"}}
    assert k8s.stripped(before) == k8s.stripped(after)
    assert k8s.load_definitions("---\na: 1\n---\n\n---\nkind: List\nitems: [{b: 2}]\n") == [{"a": 1}, {"b": 2}]


def test_rollout_needs_the_controller_to_have_looked():
    from ansible_collections.trainkit.aws.plugins.module_utils import k8s

    fresh = {
        "kind": "DaemonSet",
        "metadata": {"generation": 1},
        "status": {"desiredNumberScheduled": 0, "numberReady": 0},
    }
    assert not k8s.ready(fresh)
    seen = dict(
        fresh,
        status={"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2},
    )
    assert k8s.ready(seen)


def test_sync_tags_one_path_for_every_module():
    from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags

    applied = []
    changed, after = sync_tags(
        False, {"a": "1", "old": "x", "aws:cf": "y"}, {"a": "2"}, True, lambda *c: applied.append(c)
    )
    assert changed and after == {"a": "2", "aws:cf": "y"}
    assert applied == [({"a": "2"}, ["old"], {"a": "2", "aws:cf": "y"})]
    applied.clear()
    assert sync_tags(True, {"a": "1"}, {"a": "2"}, True, lambda *c: applied.append(c)) == (True, {"a": "2"})
    assert applied == [], "check mode changes nothing"
    assert sync_tags(False, {"a": "1"}, {"a": "1"}, True, lambda *c: applied.append(c)) == (False, {"a": "1"})


def test_placeholders_are_clear_and_distinct():
    from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_placeholder
    from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder

    assert placeholder("vpc-") == "vpc-(known after apply)"
    assert placeholder("subnet-", "172.20.1.0/24") != placeholder("subnet-", "172.20.2.0/24")
    assert is_placeholder(placeholder("sg-", "worker")) and not is_placeholder("vpc-0abc") and not is_placeholder(None)


def test_realism_profiles():
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
    import local_aws_server

    off = local_aws_server.load_profile("off")
    assert off["throttle"] == 0 and set(off["times"].values()) == {0.0}
    default = local_aws_server.load_profile("default")
    assert default["times"]["fsx_create"] > 0 and default["consistency"]["vpc"] > 0
