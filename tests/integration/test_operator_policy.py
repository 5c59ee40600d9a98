# -*- coding: utf-8 -*-
"""The operators' least-privilege policy, proven by enforcement on the local endpoint.

A user holding only the recorded policy runs site.yml and teardown.yml to the end; the run's calls are exactly the
recorded actions; and the same run with one action taken out of the policy fails with AccessDenied naming that
action (tests/harness/enforced.py). The enforced site runs are the ones test_playbooks.py and test_eksctl.py check
as the site runs of the local and the eksctl provider (the local_site_run and eksctl_site_run fixtures of
conftest.py): with real training, or eksctl's own waits, they are the longest runs of the suite, so each is made
once for both files.
"""

import boto3
import pytest
from botocore.config import Config

from enforced import enforce
from enforced import operator
from enforced import removal_fails
from harness import REGION
from harness import tagged_leftovers
from harness import unique

pytestmark = pytest.mark.aws_enforced


def assert_least_privilege(run):
    """What an enforced run proves of the recorded policy."""
    assert run.site.rc == 0, run.site.output[-5000:]
    assert run.again.rc == 0 and run.again.recap["changed"] == 0, run.again.output[-5000:]
    assert run.short.rc != 0, run.short.output[-3000:]
    # (the YAML callback folds long lines: compare with the whitespace collapsed)
    assert "not authorized to perform: " + run.taken_out in " ".join(run.short.output.split()), run.short.output[-3000:]
    assert run.teardown.rc == 0, run.teardown.output[-5000:]
    assert run.scoped == [], run.scoped
    assert run.leftovers == []
    # exactly the recorded actions: none missing (the run would have failed), none granted but unused
    assert run.missing == [] and run.unused == [], (run.missing, run.unused)


def assert_removal_fails(strict_aws, strict_ansible, tmp_path, provider, taken_out, extra):
    """site.yml with one action taken out of the policy fails with AccessDenied naming it; cleaned up after."""
    cluster = unique("deny")
    (rc, output), (cleanup_rc, cleanup) = removal_fails(
        strict_aws, strict_ansible, tmp_path, provider, cluster, taken_out, extra
    )
    assert rc != 0, output[-3000:]
    assert "not authorized to perform: " + taken_out in " ".join(output.split()), output[-3000:]
    # what the failed run left is removed by an unrestricted teardown
    assert cleanup_rc == 0, cleanup[-3000:]
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


@pytest.mark.slow  # site.yml twice and teardown.yml twice as the operator, with real training: ~4 minutes
@pytest.mark.xdist_group("local_site_run")  # the run test_playbooks.py's site test checks too: one worker makes it
def test_least_privilege_local_provider(local_site_run):
    assert_least_privilege(local_site_run)


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
@pytest.mark.slow  # site.yml until the refused call, then teardown.yml: ~30 s each
def test_an_action_taken_out_fails_naming_it(strict_aws, strict_ansible, tmp_path, taken_out):
    assert_removal_fails(
        strict_aws, strict_ansible, tmp_path, "local", taken_out, {"cluster_local_workdir": str(tmp_path / "k8s")}
    )


@pytest.mark.slow  # the real eksctl's site.yml twice and teardown.yml twice: ~7 minutes, mostly eksctl's waits
@pytest.mark.eksctl
@pytest.mark.xdist_group("eksctl_site_run")  # the run test_eksctl.py's site test checks too: one worker makes it
def test_least_privilege_eksctl_provider(eksctl_site_run):
    assert_least_privilege(eksctl_site_run)


@pytest.mark.slow  # site.yml up to eksctl's refused call, then teardown.yml: ~75 s each
@pytest.mark.eksctl
@pytest.mark.parametrize("taken_out", ["eks:DescribeClusterVersions", "cloudformation:CreateStack"])
def test_an_eksctl_action_taken_out_fails_naming_it(strict_aws, strict_ansible, local_k8s, tmp_path, taken_out):
    assert_removal_fails(
        strict_aws, strict_ansible, tmp_path, "eksctl", taken_out, {"cluster_local_workdir": local_k8s.workdir}
    )
