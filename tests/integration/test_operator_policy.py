# -*- coding: utf-8 -*-
"""The operators' least-privilege policy, proven by enforcement on the local endpoint.

The endpoint (moto) checks every call against the caller's IAM policies once enforcement is on
(POST /moto-api/reset-auth 0). A user holding only the recorded policy runs site.yml and teardown.yml to the end;
the run's calls are exactly the recorded actions; and the same run with one action taken out of the policy fails
with AccessDenied naming that action. moto evaluates actions, not resources or conditions: the runs use the policy
with every statement on "*", and the scoped policy's resource patterns are checked against the ARNs of what the run
built."""

import importlib.util
import json
import os
import re
import urllib.request

import boto3
import pytest
from botocore.config import Config

from harness import REGION
from harness import REPO
from harness import Ansible
from harness import LocalAWS
from harness import mpi_operator_slot
from harness import unique
from test_playbooks import tagged_leftovers

ACTIONS_FILE = os.path.join(REPO, "roles", "identity", "files", "operator_actions.json")
ACCOUNT = "123456789012"


def load_tool(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = load_tool("operator_policy_tool", os.path.join(REPO, "tools", "operator_policy.py"))
FILTER = TOOL.load_filter()


def recorded(provider):
    with open(ACTIONS_FILE) as handle:
        entry = json.load(handle)[provider]
    return entry["observed"], entry["dependent"]


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


def as_operator(key, cluster, workdir, provider, extra=None):
    """Extra variables that make every AWS call of the run (modules, eksctl, aws eks get-token) use ``key``."""
    return dict(
        {
            "trainkit_cluster_name": cluster,
            "trainkit_cluster_provider": provider,
            "trainkit_aws_access_key": key["AccessKeyId"],
            "trainkit_aws_secret_key": key["SecretAccessKey"],
            "trainkit_credentials_dir": str(workdir / "credentials"),
            "trainkit_storage_backend": "efs",
            "identity_secrets_store": "ssm",
            "identity_operator_policy": True,
            "identity_users": [cluster + "-ops"],
        },
        **(extra or {})
    )


def operator_env(key):
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def strict_aws(local_k8s, tmp_path_factory):
    """A local endpoint of this module's own: enforcement would lock every other test's callers out."""
    endpoint = LocalAWS(str(tmp_path_factory.mktemp("strict-aws")))
    endpoint.start(control_plane=local_k8s.workdir)
    yield endpoint
    enforce(endpoint, False)
    endpoint.stop()


@pytest.fixture(scope="module")
def strict_ansible(strict_aws, tmp_path_factory):
    return Ansible(strict_aws.url, str(tmp_path_factory.mktemp("strict-ansible")))


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


def site_and_teardown(strict_aws, strict_ansible, tmp_path, provider, cluster, extra, taken_out):
    """The enforced run: site.yml twice, then teardown.yml without ``taken_out`` (fails naming it), then teardown.yml."""
    observed, dependent = recorded(provider)
    key = operator(strict_aws, "ops-" + cluster, observed + sorted(dependent))
    short = operator(strict_aws, "short-" + cluster, [a for a in observed + sorted(dependent) if a != taken_out])
    variables = as_operator(key, cluster, tmp_path, provider, extra)
    since = strict_aws.mark()
    enforce(strict_aws, True)
    try:
        rc, output, recap = strict_ansible.playbook("site.yml", extra_vars=variables, env=operator_env(key))
        assert rc == 0, output[-5000:]
        # a second run (what re-runs read that a first run creates instead) is part of the job as well
        rc, output, recap = strict_ansible.playbook("site.yml", extra_vars=variables, env=operator_env(key))
        assert rc == 0 and recap["changed"] == 0, output[-5000:]
        missing = scoped = None
        enforce(strict_aws, False)
        scoped = scoped_resources_cover(strict_aws.client, cluster, provider)
        enforce(strict_aws, True)
        shorted = dict(variables, trainkit_aws_access_key=short["AccessKeyId"])
        shorted["trainkit_aws_secret_key"] = short["SecretAccessKey"]
        rc, failed, _recap = strict_ansible.playbook(
            "playbooks/teardown.yml", extra_vars=shorted, env=operator_env(short)
        )
        assert rc != 0 and "not authorized to perform: " + taken_out in " ".join(failed.split()), failed[-3000:]
        rc, output, recap = strict_ansible.playbook(
            "playbooks/teardown.yml", extra_vars=variables, env=operator_env(key)
        )
        assert rc == 0, output[-5000:]
        # the run's calls: the full key's, and the short one's until it was refused (it did the first deletes)
        observed_now = sorted(set(own_calls(strict_aws, since, key)[0]) | set(own_calls(strict_aws, since, short)[0]))
        missing = sorted(set(observed_now) - set(observed))
        unused = sorted(set(observed) - set(observed_now))
    finally:
        enforce(strict_aws, False)
    assert scoped == [], scoped
    assert tagged_leftovers(strict_aws.client, cluster) == []
    # exactly the recorded actions: none missing (the run would have failed), none granted but unused
    assert missing == [] and unused == [], (missing, unused)


def removal_fails(strict_aws, strict_ansible, tmp_path, provider, taken_out, extra=None):
    """site.yml with one action taken out of the policy: fails with AccessDenied naming it; cleaned up after."""
    observed, dependent = recorded(provider)
    cluster = unique("deny")
    key = operator(strict_aws, "short-" + cluster, [a for a in observed + sorted(dependent) if a != taken_out])
    variables = as_operator(key, cluster, tmp_path, provider, extra)
    enforce(strict_aws, True)
    try:
        rc, output, _recap = strict_ansible.playbook("site.yml", extra_vars=variables, env=operator_env(key))
    finally:
        enforce(strict_aws, False)
    assert rc != 0, output[-3000:]
    # (the YAML callback folds long lines: compare with the whitespace collapsed)
    assert "not authorized to perform: " + taken_out in " ".join(output.split()), output[-3000:]
    # what the failed run left is removed by an unrestricted teardown
    admin = dict(variables, trainkit_aws_access_key="testing", trainkit_aws_secret_key="testing")
    rc, cleanup, _recap = strict_ansible.playbook("playbooks/teardown.yml", extra_vars=admin)
    assert rc == 0, cleanup[-3000:]
    assert tagged_leftovers(strict_aws.client, cluster) == []


def test_enforcement_covers_every_service_the_playbooks_call(strict_aws):
    """Measured: which services the local endpoint really enforces IAM for (docs/operator-policy.md lists them)."""
    key = operator(strict_aws, unique("nobody"), ["sts:GetCallerIdentity"])
    calls = [
        ("ec2", "describe_vpcs"),
        ("iam", "list_roles"),
        ("s3", "list_buckets"),
        ("kms", "list_keys"),
        ("efs", "describe_file_systems"),
        ("fsx", "describe_file_systems"),
        ("route53", "list_hosted_zones"),
        ("cloudformation", "describe_stacks"),
        ("eks", "list_clusters"),
        ("eks", "describe_cluster_versions"),  # served by the endpoint's EKS layer, not moto
        ("ssm", "describe_parameters"),
        ("secretsmanager", "list_secrets"),
        ("autoscaling", "describe_auto_scaling_groups"),
        ("elb", "describe_load_balancers"),
    ]
    denied = {}
    enforce(strict_aws, True)
    try:
        for service, call in calls:
            client = boto3.client(
                service,
                endpoint_url=strict_aws.url,
                region_name=REGION,
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
                config=Config(retries={"max_attempts": 1}),
            )
            try:
                getattr(client, call)()
                denied[service + ":" + call] = None
            except client.exceptions.ClientError as exc:
                denied[service + ":" + call] = (exc.response["Error"]["Code"], exc.response["Error"]["Message"])
        identity = boto3.client(
            "sts",
            endpoint_url=strict_aws.url,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        ).get_caller_identity()
    finally:
        enforce(strict_aws, False)
    assert identity["Arn"].endswith(":user/nobody-" + identity["Arn"].rsplit("nobody-", 1)[-1])
    for call, answer in denied.items():
        assert answer is not None, call + " was allowed"
        code, message = answer
        assert code in ("AccessDenied", "AccessDeniedException"), (call, answer)
        assert "is not authorized to perform: " in message, (call, message)


def test_s3_calls_are_checked_under_the_actions_aws_names(strict_aws):
    """S3's IAM actions are not its API operations (HeadBucket and ListObjectsV2 need s3:ListBucket,
    PutBucketEncryption s3:PutEncryptionConfiguration): the endpoint checks AWS's names, whatever moto's own table
    says (moto 5.2.6 checked the operation's name, so no policy allowed any S3 call)."""
    admin = strict_aws.client("s3")
    bucket = unique("names")
    admin.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    key = operator(strict_aws, unique("lister"), ["s3:ListBucket"])
    s3 = boto3.client(
        "s3",
        endpoint_url=strict_aws.url,
        region_name=REGION,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=Config(retries={"max_attempts": 1}),
    )
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    enforce(strict_aws, True)
    try:
        s3.head_bucket(Bucket=bucket)
        listed = s3.list_objects_v2(Bucket=bucket)
        with pytest.raises(s3.exceptions.ClientError) as denied:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=encryption)
    finally:
        enforce(strict_aws, False)
    admin.delete_bucket(Bucket=bucket)
    assert listed["KeyCount"] == 0
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "is not authorized to perform: s3:PutEncryptionConfiguration" in denied.value.response["Error"]["Message"]


def test_least_privilege_local_provider(strict_aws, strict_ansible, local_k8s, tmp_path):
    with mpi_operator_slot():
        site_and_teardown(
            strict_aws,
            strict_ansible,
            tmp_path,
            "local",
            unique("lp"),
            {"cluster_local_workdir": str(tmp_path / "k8s")},
            "ec2:DeleteVpc",
        )


@pytest.mark.parametrize(
    "taken_out",
    [
        "kms:CreateKey",  # identity, the first call that changes something
        "s3:PutEncryptionConfiguration",  # S3's action names are not its API's (PutBucketEncryption)
        "ssm:PutParameter",  # the private key and the access key go to SSM
        "iam:CreatePolicy",  # the operators' own policies
        "ec2:CreateVpc",  # network
    ],
)
def test_an_action_taken_out_fails_naming_it(strict_aws, strict_ansible, tmp_path, taken_out):
    removal_fails(
        strict_aws, strict_ansible, tmp_path, "local", taken_out, {"cluster_local_workdir": str(tmp_path / "k8s")}
    )


def test_least_privilege_eksctl_provider(strict_aws, strict_ansible, local_k8s, tmp_path):
    site_and_teardown(
        strict_aws,
        strict_ansible,
        tmp_path,
        "eksctl",
        unique("le"),
        {"cluster_local_workdir": local_k8s.workdir},
        "route53:DeleteHostedZone",
    )


@pytest.mark.parametrize("taken_out", ["eks:DescribeClusterVersions", "cloudformation:CreateStack"])
def test_an_eksctl_action_taken_out_fails_naming_it(strict_aws, strict_ansible, local_k8s, tmp_path, taken_out):
    removal_fails(
        strict_aws, strict_ansible, tmp_path, "eksctl", taken_out, {"cluster_local_workdir": local_k8s.workdir}
    )
