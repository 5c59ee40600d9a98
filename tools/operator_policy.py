# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operators' least-privilege actions, recorded from the local AWS endpoint's request log.

    python tools/operator_policy.py record --log STATE/requests.jsonl --caller AKIA... --provider local \\
        [--write roles/identity/files/operator_actions.json]
    python tools/operator_policy.py policy --provider eksctl --cluster NAME --account ID --region R [--unscoped]

``record`` takes every call the caller made (site.yml then teardown.yml, run with that caller's key), whatever
its answer but AccessDenied - a lookup answered NotFound needed its permission all the same - and adds what AWS
checks besides the call itself and the local endpoint cannot see:

- dependent actions (the Service Authorization Reference's "Dependent actions": tags given at creation, KMS for
  SecureStrings and encrypted file systems, the network interfaces EFS and FSx create for the caller);
- the actions of the resources of the CloudFormation stacks the caller created or deleted (eksctl's and kube-aws's
  stacks): CloudFormation calls those APIs with the caller's permissions.

The file keeps, per provider, ``observed`` (each enforced by the local endpoint: removing one makes the run fail
with AccessDenied naming it), ``dependent`` (action -> why; AWS checks them, the local endpoint does not) and
``configured`` (action -> the configuration that needs it and where that is documented: what the recorded runs'
configuration does not use - OIDC, scaling, self-managed node groups, FSx with eksctl, EFS access points, NAT
gateways - kept by ``record --write`` until a run observes it).
``policy`` prints the policy documents the identity role applies (filter trainkit.aws.operator_policy).
"""

import argparse
import json
import os
import sys

# A call -> what else AWS checks for it, and why.
DEPENDENT = {
    "ec2:CreateVpc": ["ec2:CreateTags"],
    "ec2:CreateSubnet": ["ec2:CreateTags"],
    "ec2:CreateSecurityGroup": ["ec2:CreateTags"],
    "ec2:CreateInternetGateway": ["ec2:CreateTags"],
    "ec2:CreateRouteTable": ["ec2:CreateTags"],
    "ec2:CreateKeyPair": ["ec2:CreateTags"],
    "ec2:ImportKeyPair": ["ec2:CreateTags"],
    "ec2:CreateLaunchTemplate": ["ec2:CreateTags"],
    "iam:CreateRole": ["iam:TagRole"],
    "iam:CreateUser": ["iam:TagUser"],
    "iam:CreateInstanceProfile": ["iam:TagInstanceProfile"],
    "iam:CreatePolicy": ["iam:TagPolicy"],
    "kms:CreateKey": ["kms:TagResource"],
    "elasticfilesystem:CreateFileSystem": [
        "elasticfilesystem:TagResource",
        "kms:DescribeKey",
        "kms:CreateGrant",
        "kms:GenerateDataKeyWithoutPlaintext",
    ],
    "elasticfilesystem:CreateMountTarget": [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
    ],
    "elasticfilesystem:DeleteMountTarget": ["ec2:DeleteNetworkInterface"],
    "fsx:CreateFileSystem": [
        "fsx:TagResource",
        "iam:CreateServiceLinkedRole",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeVpcs",
        "s3:ListBucket",
        "kms:DescribeKey",
        "kms:CreateGrant",
    ],
    "fsx:DeleteFileSystem": ["ec2:DeleteNetworkInterface"],
    "route53:CreateHostedZone": ["ec2:DescribeVpcs", "route53:AssociateVPCWithHostedZone"],
    "ssm:PutParameter": ["ssm:AddTagsToResource", "kms:Encrypt", "kms:GenerateDataKey"],
    "ssm:GetParameter": ["kms:Decrypt"],
    "secretsmanager:CreateSecret": ["secretsmanager:TagResource", "kms:GenerateDataKey", "kms:Decrypt"],
    "secretsmanager:GetSecretValue": ["kms:Decrypt"],
    "eks:CreateCluster": ["eks:TagResource", "iam:PassRole"],
    "eks:CreateNodegroup": ["eks:TagResource", "iam:PassRole"],
    "cloudformation:CreateStack": ["cloudformation:TagResource"],
    "s3:CreateBucket": ["s3:PutBucketOwnershipControls"],
    # emptying a bucket that holds objects (the artifacts bucket after training runs) before deleting it
    "s3:DeleteBucket": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
}

# CloudFormation resource type -> the actions CloudFormation makes with the caller's permissions to create, read,
# and delete it (the resource providers' handler permissions, reduced to what eksctl's and kube-aws's stacks use).
RESOURCE_TYPES = {
    "AWS::EC2::VPC": ["ec2:CreateVpc", "ec2:DeleteVpc", "ec2:DescribeVpcs", "ec2:ModifyVpcAttribute", "ec2:CreateTags"],
    "AWS::EC2::Subnet": [
        "ec2:CreateSubnet",
        "ec2:DeleteSubnet",
        "ec2:DescribeSubnets",
        "ec2:ModifySubnetAttribute",
        "ec2:CreateTags",
    ],
    "AWS::EC2::InternetGateway": [
        "ec2:CreateInternetGateway",
        "ec2:DeleteInternetGateway",
        "ec2:DescribeInternetGateways",
        "ec2:CreateTags",
    ],
    "AWS::EC2::VPCGatewayAttachment": [
        "ec2:AttachInternetGateway",
        "ec2:DetachInternetGateway",
        "ec2:DescribeInternetGateways",
    ],
    "AWS::EC2::RouteTable": ["ec2:CreateRouteTable", "ec2:DeleteRouteTable", "ec2:DescribeRouteTables"],
    "AWS::EC2::Route": ["ec2:CreateRoute", "ec2:DeleteRoute", "ec2:DescribeRouteTables"],
    "AWS::EC2::SubnetRouteTableAssociation": [
        "ec2:AssociateRouteTable",
        "ec2:DisassociateRouteTable",
        "ec2:DescribeRouteTables",
    ],
    "AWS::EC2::EIP": ["ec2:AllocateAddress", "ec2:ReleaseAddress", "ec2:DescribeAddresses"],
    "AWS::EC2::NatGateway": ["ec2:CreateNatGateway", "ec2:DeleteNatGateway", "ec2:DescribeNatGateways"],
    "AWS::EC2::SecurityGroup": [
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
    ],
    "AWS::EC2::SecurityGroupIngress": [
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeSecurityGroups",
    ],
    "AWS::EC2::SecurityGroupEgress": [
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DescribeSecurityGroups",
    ],
    "AWS::EC2::LaunchTemplate": [
        "ec2:CreateLaunchTemplate",
        "ec2:DeleteLaunchTemplate",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:CreateTags",
    ],
    "AWS::EC2::PlacementGroup": ["ec2:CreatePlacementGroup", "ec2:DeletePlacementGroup", "ec2:DescribePlacementGroups"],
    "AWS::EKS::Cluster": [
        "eks:CreateCluster",
        "eks:DeleteCluster",
        "eks:DescribeCluster",
        "eks:TagResource",
        "iam:PassRole",
        "iam:CreateServiceLinkedRole",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
    ],
    "AWS::EKS::Nodegroup": [
        "eks:CreateNodegroup",
        "eks:DeleteNodegroup",
        "eks:DescribeNodegroup",
        "eks:TagResource",
        "iam:PassRole",
        "iam:GetRole",
        "ec2:DescribeSubnets",
        "ec2:RunInstances",
        "ec2:DescribeLaunchTemplateVersions",
    ],
    "AWS::IAM::Role": [
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:TagRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
    ],
    "AWS::IAM::Policy": ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy"],
    "AWS::IAM::ManagedPolicy": ["iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy", "iam:ListPolicyVersions"],
    "AWS::IAM::InstanceProfile": [
        "iam:CreateInstanceProfile",
        "iam:DeleteInstanceProfile",
        "iam:GetInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:PassRole",
    ],
    "AWS::AutoScaling::AutoScalingGroup": [
        "autoscaling:CreateAutoScalingGroup",
        "autoscaling:UpdateAutoScalingGroup",
        "autoscaling:DeleteAutoScalingGroup",
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeScalingActivities",
        "ec2:RunInstances",
        "iam:PassRole",
    ],
    "AWS::AutoScaling::LaunchConfiguration": [
        "autoscaling:CreateLaunchConfiguration",
        "autoscaling:DeleteLaunchConfiguration",
        "autoscaling:DescribeLaunchConfigurations",
        "iam:PassRole",
    ],
    "AWS::CloudFormation::Stack": [
        "cloudformation:CreateStack",
        "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks",
    ],
    "AWS::Route53::RecordSet": [
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
        "route53:ListResourceRecordSets",
    ],
    "AWS::ElasticLoadBalancing::LoadBalancer": [
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:ConfigureHealthCheck",
        "elasticloadbalancing:AddTags",
    ],
}

NOT_NEEDED = {"sts:GetCallerIdentity"}  # AWS allows it to every identity


def record(lines, caller):
    """(observed actions, dependent action -> reason) of one caller's calls."""
    observed, dependent = set(), {}
    for line in lines:
        if line.get("caller") != caller or not line.get("action"):
            continue
        if (line.get("error") or "").startswith("AccessDenied"):
            continue
        action = line["action"]
        if action not in NOT_NEEDED:
            observed.add(action)
        for extra in DEPENDENT.get(action, []):
            dependent.setdefault(extra, "with " + action)
        for kind in line.get("resource_types") or []:
            if kind not in RESOURCE_TYPES:
                sys.exit("operator_policy: no actions known for CloudFormation resource type {0}".format(kind))
            for extra in RESOURCE_TYPES[kind]:
                dependent.setdefault(extra, "CloudFormation, for " + kind)
    dependent = dict((k, v) for k, v in sorted(dependent.items()) if k not in observed)
    return sorted(observed), dependent


def docs_section(recorded):
    """The "## The actions" section of docs/operator-policy.md, from the recorded file."""
    lines = [
        "## The actions",
        "",
        "Generated from `roles/identity/files/operator_actions.json` by `python tools/operator_policy.py docs` (a unit",
        "test keeps the two equal).",
    ]
    order = ["local", "eksctl"] + sorted(set(recorded) - {"local", "eksctl"})
    for provider in [p for p in order if p in recorded]:
        entry = recorded[provider]
        configured = entry.get("configured", {})
        lines += [
            "",
            "### `{0}` - {1} observed, {2} dependent, {3} configured".format(
                provider, len(entry["observed"]), len(entry["dependent"]), len(configured)
            ),
            "",
            "Observed (enforced on the local endpoint):",
            "",
        ]
        services = {}
        for action in entry["observed"]:
            service, _sep, name = action.partition(":")
            services.setdefault(service, []).append(name)
        lines += ["- `{0}`: {1}".format(service, ", ".join(names)) for service, names in sorted(services.items())]
        lines += ["", "Dependent (AWS checks them; the local endpoint does not):", ""]
        lines += ["- `{0}` - {1}".format(a, why) for a, why in sorted(entry["dependent"].items())]
        lines += ["", "Configured (configurations the recorded run does not use; from the sources named):", ""]
        lines += ["- `{0}` - {1}".format(a, why) for a, why in sorted(configured.items())]
    return "\n".join(lines) + "\n"


def load_filter():
    """plugins/filter/operator.py of this checkout or installed collection (it needs only ansible-core)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "plugins", "filter", "operator.py")
    spec = importlib.util.spec_from_file_location("trainkit_operator_filter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_lines(paths):
    lines = []
    for path in paths:
        with open(path) as handle:
            lines += [json.loads(line) for line in handle if line.strip()]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="the actions one caller made, from request logs")
    rec.add_argument("--log", action="append", required=True, help="a request log (requests.jsonl); repeatable")
    rec.add_argument("--caller", required=True, help="the access key id whose calls count")
    rec.add_argument("--provider", required=True, help="the cluster provider the run used")
    rec.add_argument("--write", help="merge into this JSON file (roles/identity/files/operator_actions.json)")
    doc = commands.add_parser("docs", help="rewrite the actions section of docs/operator-policy.md")
    doc.add_argument(
        "--actions",
        default=os.path.join(os.path.dirname(__file__), "..", "roles", "identity", "files", "operator_actions.json"),
    )
    doc.add_argument("--write", default=os.path.join(os.path.dirname(__file__), "..", "docs", "operator-policy.md"))
    pol = commands.add_parser("policy", help="the policy documents for a cluster")
    pol.add_argument(
        "--actions",
        default=os.path.join(os.path.dirname(__file__), "..", "roles", "identity", "files", "operator_actions.json"),
    )
    pol.add_argument("--provider", required=True)
    pol.add_argument("--cluster", required=True)
    pol.add_argument("--account", required=True)
    pol.add_argument("--region", required=True)
    pol.add_argument("--unscoped", action="store_true", help="every statement on * (what moto can evaluate)")
    args = parser.parse_args()
    if args.command == "record":
        observed, dependent = record(read_lines(args.log), args.caller)
        found = {args.provider: {"observed": observed, "dependent": dependent}}
        if args.write:
            merged = {}
            if os.path.exists(args.write):
                with open(args.write) as handle:
                    merged = json.load(handle)
            for provider, entry in found.items():  # configured actions stay, but for those now observed
                kept = merged.get(provider, {}).get("configured", {})
                entry["configured"] = dict(
                    (k, v)
                    for k, v in sorted(kept.items())
                    if k not in entry["observed"] and k not in entry["dependent"]
                )
            merged.update(found)
            with open(args.write, "w") as handle:
                json.dump(dict(sorted(merged.items())), handle, indent=2)
                handle.write("\n")
        print(json.dumps(found, indent=2))
        return
    if args.command == "docs":
        with open(args.actions) as handle:
            section = docs_section(json.load(handle))
        with open(args.write) as handle:
            text = handle.read()
        with open(args.write, "w") as handle:
            handle.write(text.split("## The actions\n", 1)[0] + section)
        return
    with open(args.actions) as handle:
        entry = json.load(handle)[args.provider]
    operator_policy = load_filter().operator_policy

    actions = entry["observed"] + sorted(entry["dependent"]) + sorted(entry.get("configured", {}))
    print(
        json.dumps(
            operator_policy(actions, args.cluster, args.account, args.region, scoped=not args.unscoped), indent=2
        )
    )


if __name__ == "__main__":
    main()
