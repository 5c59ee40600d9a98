# -*- coding: utf-8 -*-
"""Runs as the least-privilege operator against an endpoint that enforces IAM (tests/integration/
test_operator_policy.py, and test_eksctl.py, which reads the same eksctl run instead of making one of its own).

The endpoint (moto) checks every call against the caller's IAM policies once enforcement is on
(POST /moto-api/reset-auth 0). moto evaluates actions, not resources or conditions: the runs use the policy with
every statement on "*", and the scoped policy's resource patterns are checked against the ARNs of what the run
built.
"""

import json
import os
import re
import urllib.request

from harness import REGION
from harness import REPO
from harness import load_tool
from harness import tagged_leftovers

ACTIONS_FILE = os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")
ACCOUNT = "123456789012"


TOOL = load_tool("operator_policy_tool", os.path.join(REPO, "tools", "operator_policy.py"))
FILTER = TOOL.load_filter()


def recorded(provider):
    """(observed, granted besides): the actions a run must make exactly, and the dependent and configured ones the
    policy grants as well (AWS checks them beside a call, or configurations this run does not use need them)."""
    with open(ACTIONS_FILE) as handle:
        entry = json.load(handle)[provider]
    return entry["observed"], dict(entry["dependent"], **entry.get("configured", {}))


def enforce(endpoint, on):
    """IAM enforcement on (every call checked from now on) or off."""
    request = urllib.request.Request(
        endpoint.url + "/moto-api/reset-auth",
        data=b"0" if on else b"inf",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def operator(endpoint, name, actions):
    """A user whose only permissions are managed policies allowing ``actions`` (made while enforcement is off)."""
    iam = endpoint.client("iam")
    iam.create_group(GroupName=name)
    for number, document in enumerate(FILTER.operator_policy(sorted(actions), "any", ACCOUNT, REGION, scoped=False)):
        arn = iam.create_policy(PolicyName="{0}-{1}".format(name, number), PolicyDocument=json.dumps(document))
        iam.attach_group_policy(GroupName=name, PolicyArn=arn["Policy"]["Arn"])
    iam.create_user(UserName=name)
    iam.add_user_to_group(GroupName=name, UserName=name)
    return iam.create_access_key(UserName=name)["AccessKey"]


# The storage each provider's actions were recorded with: the local inventory's default (EFS and FSx for Lustre),
# and EFS for eksctl (the EKS rehearsal's recording)
STORAGE = {"local": "both", "eksctl": "efs"}


def as_operator(key, cluster, workdir, provider, extra=None):
    """Extra variables that make every AWS call of the run (modules, eksctl, aws eks get-token) use ``key``."""
    return dict(
        {
            "trainkit_cluster_name": cluster,
            "trainkit_cluster_provider": provider,
            "trainkit_aws_access_key": key["AccessKeyId"],
            "trainkit_aws_secret_key": key["SecretAccessKey"],
            "trainkit_credentials_dir": str(workdir / "credentials"),
            "trainkit_storage_backend": STORAGE[provider],
            "identity_secrets_store": "ssm",
            "identity_operator_policy": True,
            "identity_users": [cluster + "-ops"],
        },
        **(extra or {})
    )


def operator_env(key):
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


def own_calls(endpoint, since, key):
    lines = endpoint.requests(since)
    return TOOL.record(lines, key["AccessKeyId"])


def scoped_resources_cover(boto, cluster, provider):
    """The scoped policy's resource patterns match the ARNs of the named resources the run built."""
    observed, dependent = recorded(provider)
    documents = FILTER.operator_policy(observed + sorted(dependent), cluster, ACCOUNT, REGION)
    patterns = {}
    for document in documents:
        for statement in document["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in statement["Action"]:
                patterns[action] = resources

    def allowed(action, arn):
        return any(re.fullmatch(p.replace("*", ".*"), arn) for p in patterns.get(action, []))

    iam = boto("iam")
    checks = []
    for role in iam.list_roles()["Roles"]:
        if cluster in role["RoleName"]:
            checks.append(("iam:GetRole", role["Arn"]))
    bucket = "arn:aws:s3:::{0}-artifacts-{1}".format(cluster.lower(), ACCOUNT)
    checks += [("s3:CreateBucket", bucket), ("s3:PutBucketVersioning", bucket)]
    for name in (
        "/trainkit/{0}/key-pairs/{0}".format(cluster),
        "/trainkit/{0}/access-keys/{0}-ops".format(cluster),
    ):
        checks.append(("ssm:PutParameter", "arn:aws:ssm:{0}:{1}:parameter{2}".format(REGION, ACCOUNT, name)))
    checks.append(("iam:CreatePolicy", "arn:aws:iam::{0}:policy/{1}-operators-1".format(ACCOUNT, cluster)))
    checks.append(("iam:CreateGroup", "arn:aws:iam::{0}:group/{1}-operators".format(ACCOUNT, cluster)))
    for stack in boto("cloudformation").describe_stacks()["Stacks"]:
        if cluster in stack["StackName"]:
            checks.append(("cloudformation:CreateStack", stack["StackId"]))
    if provider == "eksctl":
        checks.append(("eks:DescribeCluster", "arn:aws:eks:{0}:{1}:cluster/{2}".format(REGION, ACCOUNT, cluster)))
    return [(action, arn) for action, arn in checks if action in patterns and not allowed(action, arn)]


class Step:
    """One ansible-playbook run of an enforced run: its rc, output and recap, and where its calls begin and end in
    the request log (``mark``, ``end``)."""

    def __init__(self, mark, end, rc, output, recap):
        self.mark, self.end, self.rc, self.output, self.recap = mark, end, rc, output, recap


class EnforcedRun:
    """site.yml twice, then teardown.yml without ``taken_out`` (it fails naming it), then teardown.yml - every
    call made with a key that holds only the recorded policy, enforced - and what the checks need of it, recorded
    as it goes: each step's rc, output and the calls it made; what stood after site.yml (``after_site``, from the
    ``inspect`` callback); whether the scoped policy covers what was built; the calls the run made against the
    recorded list; and what is left once the teardown ends. ``inspect(run)`` runs with enforcement off, after the
    second site.yml. A failed site.yml still gets the teardowns, so that the run leaves nothing behind whatever the
    tests then find."""

    def __init__(self, endpoint, ansible, workdir, provider, cluster, extra, taken_out, inspect=None):
        self.endpoint, self.provider, self.cluster, self.taken_out = endpoint, provider, cluster, taken_out
        observed, dependent = recorded(provider)
        key = operator(endpoint, "ops-" + cluster, observed + sorted(dependent))
        short = operator(endpoint, "short-" + cluster, [a for a in observed + sorted(dependent) if a != taken_out])
        self.variables = as_operator(key, cluster, workdir, provider, extra)
        self.env = operator_env(key)  # what the operator's playbook runs get besides the variables
        shorted = dict(self.variables, trainkit_aws_access_key=short["AccessKeyId"])
        shorted["trainkit_aws_secret_key"] = short["SecretAccessKey"]
        self.after_site = None
        since = endpoint.mark()
        enforce(endpoint, True)
        try:
            self.site = self.step(ansible, "site.yml", self.variables, key)
            # a second run (what re-runs read that a first run creates instead) is part of the job as well
            self.again = self.step(ansible, "site.yml", self.variables, key)
            enforce(endpoint, False)
            self.scoped = scoped_resources_cover(endpoint.client, cluster, provider)
            self.after_site = inspect(self) if inspect else None
            enforce(endpoint, True)
            self.short = self.step(ansible, "playbooks/teardown.yml", shorted, short)
            self.teardown = self.step(ansible, "playbooks/teardown.yml", self.variables, key)
        finally:
            enforce(endpoint, False)
        # the run's calls: the full key's, and the short one's until it was refused (it did the first deletes)
        observed_now = set(own_calls(endpoint, since, key)[0]) | set(own_calls(endpoint, since, short)[0])
        self.missing = sorted(observed_now - set(observed))
        self.unused = sorted(set(observed) - observed_now)
        self.leftovers = tagged_leftovers(endpoint.client, cluster)

    def admin(self):
        """The run's variables with the endpoint's unrestricted key (for what the tests do besides the operator)."""
        return dict(self.variables, trainkit_aws_access_key="testing", trainkit_aws_secret_key="testing")

    def step(self, ansible, playbook, variables, key):
        mark = self.endpoint.mark()
        rc, output, recap = ansible.playbook(playbook, extra_vars=variables, env=operator_env(key))
        return Step(mark, self.endpoint.mark(), rc, output, recap)

    def calls(self, step):
        """(service, operation) of every call of ``step`` that AWS answered with success, in order."""
        lines = self.endpoint.requests(step.mark)[: step.end - step.mark]
        return [(r["service"], r["operation"]) for r in lines if r["status"] < 400]


def removal_fails(endpoint, ansible, workdir, provider, cluster, taken_out, extra=None):
    """site.yml with one action taken out of the policy: (rc, output) of that run, then an unrestricted teardown
    removes what it left: (rc, output) of the teardown."""
    observed, dependent = recorded(provider)
    key = operator(endpoint, "short-" + cluster, [a for a in observed + sorted(dependent) if a != taken_out])
    variables = as_operator(key, cluster, workdir, provider, extra)
    enforce(endpoint, True)
    try:
        rc, output, _recap = ansible.playbook("site.yml", extra_vars=variables, env=operator_env(key))
    finally:
        enforce(endpoint, False)
    admin = dict(variables, trainkit_aws_access_key="testing", trainkit_aws_secret_key="testing")
    cleanup_rc, cleanup, _recap = ansible.playbook("playbooks/teardown.yml", extra_vars=admin)
    return (rc, output), (cleanup_rc, cleanup)
