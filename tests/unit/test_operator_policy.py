# -*- coding: utf-8 -*-
"""The operators' policy documents: scoping by the cluster's names, splitting within IAM's size limit, and the
recorded action file's shape."""

import fnmatch
import json
import os

import parliament
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.trainkit.aws.plugins.filter.operator import MAX_CHARACTERS
from ansible_collections.trainkit.aws.plugins.filter.operator import kind_of
from ansible_collections.trainkit.aws.plugins.filter.operator import operator_policy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def statements_of(documents):
    return [s for d in documents for s in d["Statement"]]


def resources_of(documents, action):
    [statement] = [s for s in statements_of(documents) if action in s["Action"]]
    return statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]


def test_actions_are_scoped_to_the_cluster_where_the_service_allows_it():
    documents = operator_policy(
        [
            "iam:CreateRole",
            "iam:PassRole",
            "s3:CreateBucket",
            "s3:DeleteObject",
            "ssm:PutParameter",
            "ssm:DescribeParameters",
            "ec2:CreateVpc",
            "eks:CreateCluster",
            "eks:DeleteNodegroup",
            "kms:CreateKey",
            "iam:CreateUser",
            "cloudformation:CreateStack",
            "cloudformation:DescribeStacks",
            "iam:ListInstanceProfilesForRole",
        ],
        "Demo",
        "123456789012",
        "us-west-2",
    )
    assert resources_of(documents, "iam:CreateRole") == [
        "arn:aws:iam::123456789012:role/Demo-*",
        "arn:aws:iam::123456789012:role/eksctl-Demo-*",
    ]
    assert resources_of(documents, "iam:PassRole") == resources_of(documents, "iam:CreateRole")
    assert resources_of(documents, "s3:CreateBucket") == ["arn:aws:s3:::demo-*"]  # bucket names are lower case
    assert resources_of(documents, "s3:DeleteObject") == ["arn:aws:s3:::demo-*/*"]
    assert resources_of(documents, "ssm:PutParameter") == [
        "arn:aws:ssm:us-west-2:123456789012:parameter/trainkit/Demo/*"
    ]
    eks = resources_of(documents, "eks:DeleteNodegroup")
    assert eks[:2] == [
        "arn:aws:eks:us-west-2:123456789012:cluster/Demo",
        "arn:aws:eks:us-west-2:123456789012:nodegroup/Demo/*",
    ]
    for unscoped in (
        "eks:CreateCluster",  # no resource type in the Service Authorization Reference
        "ssm:DescribeParameters",
        "ec2:CreateVpc",
        "kms:CreateKey",
        "iam:CreateUser",
        "cloudformation:DescribeStacks",
    ):
        assert resources_of(documents, unscoped) == ["*"], unscoped
    assert resources_of(documents, "cloudformation:CreateStack")[0].endswith(":stack/eksctl-Demo-*/*")
    # unscoped: what the local endpoint can evaluate
    flat = operator_policy(["iam:CreateRole", "s3:CreateBucket"], "Demo", "123456789012", "us-west-2", scoped=False)
    assert [s["Resource"] for s in statements_of(flat)] == ["*", "*"]


def test_kinds():
    assert kind_of("iam:AttachGroupPolicy") == "Group"
    assert kind_of("iam:AddRoleToInstanceProfile") == "InstanceProfile"
    assert kind_of("iam:ListInstanceProfilesForRole") == "Role"
    assert kind_of("iam:AddUserToGroup") is None
    assert kind_of("iam:CreatePolicyVersion") == "Policy"
    assert kind_of("iam:CreateServiceLinkedRole") is None


def test_documents_stay_within_the_managed_policy_limit_and_keep_every_action():
    actions = ["ec2:Action{0:03d}".format(i) for i in range(300)] + ["iam:Get{0:03d}Role".format(i) for i in range(100)]
    documents = operator_policy(actions, "demo", "123456789012", "us-west-2")
    assert len(documents) > 1
    for document in documents:
        assert len(json.dumps(document, separators=(",", ":"))) <= MAX_CHARACTERS
    assert sorted(a for s in statements_of(documents) for a in s["Action"]) == sorted(actions)


def test_bad_input():
    with pytest.raises(AnsibleFilterError):
        operator_policy(["CreateVpc"], "demo", "1", "us-west-2")


def test_the_recorded_file_has_both_providers_and_fits():
    with open(os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")) as handle:
        recorded = json.load(handle)
    assert set(recorded) >= {"local", "eksctl"}
    for provider, entry in recorded.items():
        assert entry["observed"] == sorted(set(entry["observed"]))
        assert not set(entry["dependent"]) & set(entry["observed"])
        assert not set(entry["configured"]) & (set(entry["observed"]) | set(entry["dependent"]))
        actions = entry["observed"] + sorted(entry["dependent"]) + sorted(entry["configured"])
        documents = operator_policy(actions, "a" * 28, "123456789012", "us-west-2")
        assert len(documents) <= 5, provider  # the identity role manages <group>-1 to -5


def test_the_docs_list_exactly_the_recorded_actions():
    from harness import load_tool

    tool = load_tool("operator_policy_tool", os.path.join(REPO, "tools", "operator_policy.py"))
    with open(os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")) as handle:
        recorded = json.load(handle)
    with open(os.path.join(REPO, "docs", "operator-policy.md")) as handle:
        text = handle.read()
    assert "## The actions\n" + text.split("\n## The actions\n", 1)[1] == tool.docs_section(
        recorded
    ), "run: python tools/operator_policy.py docs"


# What parliament (duo-labs' IAM linter, on the Service Authorization Reference) says of the operator policy that is
# expected, and why: RESOURCE_STAR (LOW) for EC2, EFS, FSx, Route 53, KMS, IAM users and the like, whose resources
# have generated ids or free names (the filter's SCOPES comment); INVALID_ARN for arn:aws:iam::aws:policy/*, AWS's
# own managed policies, whose account field is "aws" - parliament expects 12 digits.
EXPECTED_FINDINGS = {("RESOURCE_STAR", None), ("INVALID_ARN", "arn:aws:iam::aws:policy/*")}


def test_parliament_finds_every_action_real_and_every_resource_fitting_its_action():
    """Every action of every recorded configuration exists, and each scoped statement's resources fit the ARN
    format its actions take (parliament's RESOURCE_MISMATCH): what the local endpoint cannot check, since moto
    evaluates actions, not resources. It found eks:CreateCluster and eks:DescribeAddonConfiguration, which allow no
    resource but "*", scoped to the cluster's ARN: a real account would have refused eksctl's create."""
    with open(os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")) as handle:
        recorded = json.load(handle)
    for provider, entry in recorded.items():
        actions = entry["observed"] + sorted(entry["dependent"]) + sorted(entry["configured"])
        documents = operator_policy(actions, "paddle-demo", "123456789012", "us-west-2")
        for document in documents:
            policy = parliament.analyze_policy_string(json.dumps(document))
            found = set()
            for finding in policy.findings:
                where = finding.location.get("string") if isinstance(finding.location, dict) else None
                found.add((finding.issue, where if finding.issue == "INVALID_ARN" else None))
            assert found <= EXPECTED_FINDINGS, (provider, [(f.issue, f.detail) for f in policy.findings])


# eksctl v0.230.0's documented minimum (userdocs/src/usage/minimum-iam-policies.md, the policies its integration tests
# run with; tests/integration/test_eksctl.py checks that this copy still equals the document in eksctl's module).
# Its EC2, CloudFormation, EKS and Auto Scaling parts are whole services ("ec2:*", ...); these are its named actions.
EKSCTL_IAM_LIMITED_ACCESS = [
    "iam:CreateInstanceProfile",
    "iam:DeleteInstanceProfile",
    "iam:GetInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:GetRole",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:AddRoleToInstanceProfile",
    "iam:ListInstanceProfilesForRole",
    "iam:PassRole",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:GetRolePolicy",
    "iam:GetOpenIDConnectProvider",
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:ListAttachedRolePolicies",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:GetPolicy",
    "iam:CreatePolicy",
    "iam:DeletePolicy",
    "iam:ListPolicyVersions",
    "iam:GetUser",
    "iam:CreateServiceLinkedRole",
]
EKSCTL_EKS_ALL_ACCESS = ["ssm:GetParameter", "ssm:GetParameters", "kms:CreateGrant", "kms:DescribeKey"]
# what eksctl's minimum has that trainkit's configurations never make eksctl do, and why
EKSCTL_NOT_NEEDED = {
    "logs:PutRetentionPolicy": "only with cloudWatch.clusterLogging, which eksctl_cluster does not render",
}


def test_the_eksctl_policy_covers_eksctls_documented_minimum():
    """Every IAM, SSM and KMS action of eksctl's documented minimum is in the eksctl operator policy (observed,
    dependent or configured), and the public AMI parameters eksctl reads for self-managed node groups are inside
    its SSM resources."""
    with open(os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")) as handle:
        entry = json.load(handle)["eksctl"]
    ours = set(entry["observed"]) | set(entry["dependent"]) | set(entry["configured"])
    missing = sorted(set(EKSCTL_IAM_LIMITED_ACCESS + EKSCTL_EKS_ALL_ACCESS) - ours)
    assert missing == [], missing
    assert "logs:PutRetentionPolicy" not in ours and set(EKSCTL_NOT_NEEDED) == {"logs:PutRetentionPolicy"}
    documents = operator_policy(sorted(ours), "paddle-demo", "123456789012", "us-west-2")
    ami = "arn:aws:ssm:us-west-2::parameter/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
    for action in ("ssm:GetParameter", "ssm:GetParameters"):
        assert any(fnmatch.fnmatchcase(ami, pattern) for pattern in resources_of(documents, action)), resources_of(
            documents, action
        )
    assert not any(fnmatch.fnmatchcase(ami, p) for p in resources_of(documents, "ssm:PutParameter"))
