# -*- coding: utf-8 -*-
"""The operators' policy documents: scoping by the cluster's names, splitting within IAM's size limit, and the
recorded action file's shape."""

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
        documents = operator_policy(
            entry["observed"] + sorted(entry["dependent"]), "a" * 28, "123456789012", "us-west-2"
        )
        assert len(documents) <= 5, provider  # the identity role manages <group>-1 to -5


def test_the_docs_list_exactly_the_recorded_actions():
    with open(os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")) as handle:
        recorded = json.load(handle)
    with open(os.path.join(REPO, "docs", "operator-policy.md")) as handle:
        text = handle.read().split("\n## The actions\n", 1)[1]
    for provider in ("local", "eksctl"):
        section = text.split("### `{0}`".format(provider), 1)[1].split("\n### ", 1)[0]
        observed_part, dependent_part = section.split("Dependent (", 1)
        observed = []
        for line in observed_part.splitlines():
            if line.startswith("- `"):
                service, names = line[3:].split("`: ", 1)
                observed += [service + ":" + name for name in names.split(", ")]
        dependent = [line[3:].split("`", 1)[0] for line in dependent_part.splitlines() if line.startswith("- `")]
        assert sorted(observed) == recorded[provider]["observed"], provider
        assert sorted(dependent) == sorted(recorded[provider]["dependent"]), provider


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
        documents = operator_policy(
            entry["observed"] + sorted(entry["dependent"]), "paddle-demo", "123456789012", "us-west-2"
        )
        for document in documents:
            policy = parliament.analyze_policy_string(json.dumps(document))
            found = set()
            for finding in policy.findings:
                where = finding.location.get("string") if isinstance(finding.location, dict) else None
                found.add((finding.issue, where if finding.issue == "INVALID_ARN" else None))
            assert found <= EXPECTED_FINDINGS, (provider, [(f.issue, f.detail) for f in policy.findings])
