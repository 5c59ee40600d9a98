# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operators' least-privilege policy: the actions site.yml and teardown.yml make (roles/identity/files/
operator_actions.json, recorded by tools/operator_policy.py), as policy documents scoped to the cluster."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

MAX_CHARACTERS = 6144  # a managed policy, whitespace not counted

# Actions whose resource can be named after the cluster, and the ARN patterns that name it. Everything else
# (EC2, EFS, FSx, Route 53, Auto Scaling, KMS keys, and any List/Describe the service only allows on "*") keeps "*":
# those services name resources by generated ids, which only tag conditions could scope.
SCOPES = {
    "iam": {
        "Role": ["arn:{p}:iam::{a}:role/{c}-*", "arn:{p}:iam::{a}:role/eksctl-{c}-*"],
        "InstanceProfile": [
            "arn:{p}:iam::{a}:instance-profile/{c}-*",
            "arn:{p}:iam::{a}:instance-profile/eksctl-{c}-*",
        ],
        "Group": ["arn:{p}:iam::{a}:group/{c}-*"],
        "Policy": [
            "arn:{p}:iam::{a}:policy/{c}-*",
            "arn:{p}:iam::{a}:policy/eksctl-{c}-*",
            "arn:{p}:iam::aws:policy/*",
        ],
    },
    "s3": {"Bucket": ["arn:{p}:s3:::{l}-*"], "Object": ["arn:{p}:s3:::{l}-*/*"]},
    # the cluster's parameters, and AWS's public ones (no account): eksctl reads the EKS-optimised AMI ids of
    # self-managed node groups from /aws/service/eks/optimized-ami/... (pkg/ami/ssm_resolver.go)
    "ssm": {
        "Parameter": ["arn:{p}:ssm:{r}:{a}:parameter/trainkit/{c}/*"],
        "PublicParameter": ["arn:{p}:ssm:{r}:{a}:parameter/trainkit/{c}/*", "arn:{p}:ssm:{r}::parameter/aws/service/*"],
    },
    "secretsmanager": {"Secret": ["arn:{p}:secretsmanager:{r}:{a}:secret:/trainkit/{c}/*"]},
    "cloudformation": {
        "Stack": ["arn:{p}:cloudformation:{r}:{a}:stack/eksctl-{c}-*/*", "arn:{p}:cloudformation:{r}:{a}:stack/{c}*/*"]
    },
    # the cluster, and what EKS names under it (arn:...:nodegroup/<cluster>/<name>/<uuid>, addon/..., ...)
    "eks": {
        "Cluster": [
            "arn:{p}:eks:{r}:{a}:cluster/{c}",
            "arn:{p}:eks:{r}:{a}:nodegroup/{c}/*",
            "arn:{p}:eks:{r}:{a}:addon/{c}/*",
            "arn:{p}:eks:{r}:{a}:access-entry/{c}/*",
            "arn:{p}:eks:{r}:{a}:podidentityassociation/{c}/*",
        ]
    },
}
# actions of the services in SCOPES that AWS only allows on "*" (lists, and calls on resources not named after the
# cluster)
UNSCOPED = {
    "s3:ListAllMyBuckets",
    "ssm:DescribeParameters",
    "secretsmanager:ListSecrets",
    "cloudformation:ListStacks",
    "cloudformation:DescribeStacks",  # eksctl lists every stack (no StackName) to find its own
    "cloudformation:ValidateTemplate",
    "eks:ListClusters",
    "eks:CreateCluster",  # the Service Authorization Reference gives it no resource type: "*" only
    "eks:DescribeClusterVersions",
    "eks:DescribeAddonVersions",
    "eks:DescribeAddonConfiguration",
    "iam:ListRoles",
    "iam:ListInstanceProfiles",
    "iam:ListPolicies",
    "iam:ListGroups",
    "iam:ListUsers",
    "iam:ListOpenIDConnectProviders",
    "iam:CreateServiceLinkedRole",
    "iam:GetOpenIDConnectProvider",
    "iam:CreateOpenIDConnectProvider",
    "iam:DeleteOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:DeleteServiceLinkedRole",
    "iam:GetServiceLinkedRoleDeletionStatus",
}
# IAM actions whose resource is not the one their name suggests first
IAM_OVERRIDES = {"iam:ListInstanceProfilesForRole": "Role"}
IAM_KINDS = (
    ("InstanceProfile", "InstanceProfile"),
    ("Role", "Role"),
    ("Group", "Group"),
    ("PolicyVersion", "Policy"),
    ("Policies", "Policy"),
    ("Policy", "Policy"),
)


def kind_of(action):
    """The resource kind an action is scoped to (a key of SCOPES[service]), or None for "*"."""
    service, _sep, name = action.partition(":")
    if action in UNSCOPED or service not in SCOPES:
        return None
    if service == "iam":
        if action in IAM_OVERRIDES:
            return IAM_OVERRIDES[action]
        for marker, kind in IAM_KINDS:
            if marker in name and "User" not in name:
                return kind
        return None  # users: identity_users are named freely, and PassRole/AttachUserPolicy live on "*"
    if service == "s3":
        return "Object" if "Object" in name else "Bucket"
    if action in ("ssm:GetParameter", "ssm:GetParameters"):
        return "PublicParameter"
    return next(iter(SCOPES[service]))


def operator_policy(actions, cluster, account, region, partition="aws", scoped=True):
    """Policy documents (each within IAM's 6,144 characters) allowing exactly ``actions``.

    With ``scoped``, actions on resources named after the cluster are limited to those ARNs; without it every
    statement is on "*" (what the local endpoint can evaluate: moto checks actions, not resources).
    """
    if not isinstance(actions, list) or not all(isinstance(a, str) and ":" in a for a in actions):
        raise AnsibleFilterError("operator_policy expects a list of IAM actions such as 'ec2:CreateVpc'")
    names = {"p": partition, "a": account, "r": region, "c": cluster, "l": cluster.lower()}
    groups = {}
    for action in sorted(set(actions)):
        kind = kind_of(action) if scoped else None
        service = action.split(":", 1)[0]
        resources = tuple(r.format(**names) for r in SCOPES[service][kind]) if kind else ("*",)
        groups.setdefault((service, resources), []).append(action)
    statements = []
    for (service, resources), listed in sorted(groups.items()):
        sid = "".join(part.capitalize() for part in service.replace("-", " ").split()) + str(len(statements) + 1)
        statements.append(
            {
                "Sid": sid,
                "Effect": "Allow",
                "Action": listed,
                "Resource": list(resources) if len(resources) > 1 else resources[0],
            }
        )
    documents, current = [], []
    for statement in statements:
        trial = current + [statement]
        if current and size({"Version": "2012-10-17", "Statement": trial}) > MAX_CHARACTERS:
            documents.append({"Version": "2012-10-17", "Statement": current})
            trial = [statement]
        current = trial
    if current:
        documents.append({"Version": "2012-10-17", "Statement": current})
    for document in documents:
        if size(document) > MAX_CHARACTERS:
            raise AnsibleFilterError("operator_policy: one statement is larger than a managed policy allows")
    return documents


def size(document):
    return len(json.dumps(document, separators=(",", ":")))


class FilterModule:
    def filters(self):
        return {"operator_policy": operator_policy}
