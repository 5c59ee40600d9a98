# -*- coding: utf-8 -*-
"""Every IAM policy document the collection ships or writes, read by parliament (duo-labs' IAM linter, on the
Service Authorization Reference): every action exists and every resource fits its action. The operator policy has
its own test (test_operator_policy.py)."""

import ast
import json
import os

import jinja2
import parliament
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "arn:aws:kms:us-west-2:123456789012:key/0f3c1d2e-1111-2222-3333-444455556666"


def findings(document):
    policy = parliament.analyze_policy_string(json.dumps(document))
    return sorted((f.issue, json.dumps(f.detail, sort_keys=True, default=str)) for f in policy.findings)


def render(path, **variables):
    with open(os.path.join(REPO, path)) as handle:
        return json.loads(jinja2.Template(handle.read()).render(**variables))


TRUST_POLICY_FINDINGS = {"MALFORMED", "UNKNOWN_FEDERATION_SOURCE"}


def templated(value, variables):
    """A task's value as Ansible makes it: each string templated, an expression that makes a dict read back as one."""
    if isinstance(value, dict):
        return dict((k, templated(v, variables)) for k, v in value.items())
    if isinstance(value, list):
        return [templated(v, variables) for v in value]
    if isinstance(value, str):
        text = jinja2.Template(value).render(**variables)
        return ast.literal_eval(text.strip()) if text.strip().startswith("{") else text
    return value


def test_the_identity_groups_inline_policy_names_real_stack_actions_in_the_accounts_partition():
    """Without the operator policy, the operators' group gets the kube-aws tutorial's KMS and CloudFormation
    statements. Its cloudformation:* on the stacks' ARN was RESOURCE_MISMATCH (stack sets, types and the registry
    take other ARNs), and its partition was always aws."""
    variables = dict(
        _identity_kms={"key_arn": KEY},
        _identity_partition="aws",
        _identity_account_id="123456789012",
        identity_region="us-west-2",
        identity_cluster_name="paddle-demo",
    )
    document = render("roles/identity/templates/kms-cloudformation-policy.json.j2", **variables)
    assert findings(document) == []
    variables.update(_identity_partition="aws-cn", identity_region="cn-north-1")
    china = render("roles/identity/templates/kms-cloudformation-policy.json.j2", **variables)
    stacks = [s for s in china["Statement"] if s["Sid"] == "ManageTheClusterStacks"][0]
    assert stacks["Resource"].startswith("arn:aws-cn:cloudformation:cn-north-1:")


def test_the_csi_controllers_trust_policies():
    """The IRSA roles of the CSI controllers trust the cluster's OIDC provider for one service account each."""
    with open(os.path.join(REPO, "roles", "addons", "tasks", "csi.yml")) as handle:
        tasks = yaml.safe_load(handle)
    [role_task] = [t for t in tasks if "trainkit.aws.iam_role" in t]
    template = role_task["vars"]["_addons_csi_trust"]
    with open(os.path.join(REPO, "roles", "addons", "vars", "main.yml")) as handle:
        entries = yaml.safe_load(handle)
    drivers = [e for value in entries.values() if isinstance(value, list) for e in value if "policy_arn" in e]
    assert drivers, entries
    issuer = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    for entry in drivers:
        variables = dict(
            _addons_csi_issuer=issuer,
            _addons_csi_entry=entry,
            addons_aws_account_id="123456789012",
            addons_aws_partition="aws",
        )
        document = templated(template, variables)
        condition = document["Statement"][0]["Condition"]["StringEquals"]
        assert condition[issuer + ":aud"] == "sts.amazonaws.com"
        assert condition[issuer + ":sub"].startswith("system:serviceaccount:kube-system:")
        assert document["Statement"][0]["Principal"]["Federated"] == (
            "arn:aws:iam::123456789012:oidc-provider/" + issuer
        )
        # parliament reads identity policies: a trust policy has a Principal and, by design, no Resource
        # (MALFORMED), and it knows a fixed list of federation sources, not EKS's OIDC providers; nothing else -
        # the action exists and the condition keys are the provider's
        assert set(issue for issue, _detail in findings(document)) <= TRUST_POLICY_FINDINGS, entry["driver"]
