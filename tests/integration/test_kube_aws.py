# -*- coding: utf-8 -*-
"""kube_aws_cluster with the real kube-aws v0.16.4 (tools/kube-aws-build, from ../shared/third_party) against the
local AWS endpoint, which kube-aws (aws-sdk-go v1, deaf to endpoint settings) reaches through its HTTPS proxy.

The stacks are kube-aws's own: a root stack with nested network, etcd, control plane and node pool stacks
(auto scaling groups, a load balancer, IAM roles), built from the identity and network modules' KMS key, bucket,
key pair and VPC. Tests skip, saying why, when there is neither a kube-aws binary nor its source tarball.
"""

import json
import os
import stat
import subprocess

import boto3
import pytest
import yaml

from harness import Ansible
from harness import LocalAWS
from harness import REPO
from harness import cfn_lint
from harness import cluster_resources
from harness import concurrently
from harness import of_cluster
from harness import open_to_the_world
from harness import prowler_clean
from harness import prowler_scan
from harness import resource_counts
from harness import stages_alone
from harness import tagged_leftovers
from harness import unique

# slow: the real kube-aws renders, validates and applies its CloudFormation stacks (~1 min a test)
pytestmark = [pytest.mark.kube_aws, pytest.mark.slow]

KUBE_AWS = os.path.join(REPO, "tools", "kube-aws-build")
AMI = "ami-0123456789abcdef0"


@pytest.fixture(scope="module")
def kube_aws_path():
    result = subprocess.run([KUBE_AWS, "--if-source"], capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    if not lines:
        pytest.skip("no kube-aws: " + result.stderr.strip().splitlines()[-1])
    return lines[-1]


def proxy_args(local_aws):
    """What kube-aws needs to reach the local endpoint: its HTTPS proxy and that proxy's CA."""
    env = local_aws.env()
    return {"https_proxy": env["TRAINKIT_LOCAL_AWS_PROXY"], "aws_ca_bundle": env["TRAINKIT_LOCAL_AWS_CA_BUNDLE"]}


@pytest.fixture(scope="module")
def footing(ansible, local_aws, tmp_path_factory):
    """The identity and network steps' KMS key, bucket, key pair and VPC that a kube-aws cluster is built on."""
    cluster = unique("ka")
    keys = tmp_path_factory.mktemp("keys")
    subnets = [{"az": "us-west-2a", "cidr": "172.20.1.0/24"}, {"az": "us-west-2b", "cidr": "172.20.2.0/24"}]
    # four independent resources: made at once
    kms, bucket, pair, network = concurrently(
        ansible.module,
        ("kms_key", {"alias": cluster + "-assets", "cluster_name": cluster}),
        ("s3_bucket", {"name": cluster + "-assets", "cluster_name": cluster}),
        ("key_pair", {"name": cluster, "private_key_path": str(keys / "key.pem")}),
        ("vpc_network", {"cluster_name": cluster, "cidr_block": "172.20.0.0/16", "subnets": subnets}),
    )
    for step in (kms, bucket, pair, network):
        assert not step.failed, step.output
    yield {
        "cluster": cluster,
        "kms_key_arn": kms["key_arn"],
        "bucket": cluster + "-assets",
        "key_name": cluster,
        "vpc_id": network["vpc_id"],
        "subnets": network["subnets"],
    }
    concurrently(
        ansible.module,
        ("vpc_network", {"cluster_name": cluster, "state": "absent"}),
        ("s3_bucket", {"name": cluster + "-assets", "state": "absent", "force": True}),
        ("key_pair", {"name": cluster, "state": "absent"}),
        ("kms_key", {"alias": cluster + "-assets", "state": "absent"}),
    )


def cluster_args(footing, local_aws, kube_aws_path, asset_dir, name=None, **extra):
    name = name or footing["cluster"]
    args = {
        "cluster_name": name,
        "asset_dir": str(asset_dir),
        "key_name": footing["key_name"],
        "kms_key_arn": footing["kms_key_arn"],
        "s3_uri": "s3://{0}/kube-aws".format(footing["bucket"]),
        "external_dns_name": name + ".k8s.example.internal",
        "no_record_set": True,
        "api_access_cidrs": ["203.0.113.0/24"],
        "ami_id": AMI,
        "vpc_id": footing["vpc_id"],
        "subnets": footing["subnets"],
        "node_pools": [
            {"name": "cpu", "instance_type": "m5.xlarge", "count": 2},
            {
                "name": "gpu",
                "instance_type": "p3.2xlarge",
                "count": 1,
                "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
            },
        ],
        "tags": {"team": "ml"},
        "kube_aws_path": kube_aws_path,
    }
    args.update(proxy_args(local_aws))
    args.update(extra)
    return dict((k, v) for k, v in args.items() if v not in (None, []) or k == "node_pools")


def stacks_of(cfn, cluster):
    return dict(
        (s["StackName"], s)
        for s in cfn.describe_stacks()["Stacks"]
        if s["StackName"] == cluster or s["StackName"].startswith(cluster + "-")
    )


def groups_of(autoscaling, cluster):
    return dict(
        (g["AutoScalingGroupName"], g)
        for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        if g["AutoScalingGroupName"].startswith(cluster + "-")
    )


@pytest.mark.xdist_group("kube_aws_footing")  # shares the module's identity and network
def test_bad_input_fails_before_kube_aws_runs(ansible, local_aws, footing, kube_aws_path, tmp_path):
    asset_dir = tmp_path / "assets"
    mark = local_aws.mark()
    underscore = ansible.module(
        "kube_aws_cluster", cluster_args(footing, local_aws, kube_aws_path, asset_dir, name="bad_name")
    )
    assert underscore.failed and "must start with a letter and hold only letters, digits and '-'" in underscore["msg"]
    long_pool = cluster_args(footing, local_aws, kube_aws_path, asset_dir)
    long_pool["node_pools"] = [{"name": "p" + "x" * 100, "instance_type": "m5.large"}]
    too_long = ansible.module("kube_aws_cluster", long_pool)
    assert too_long.failed and "over IAM's 64: shorten cluster_name or the node pool name" in too_long["msg"]
    no_ami = cluster_args(footing, local_aws, kube_aws_path, asset_dir)
    del no_ami["ami_id"]
    missing = ansible.module("kube_aws_cluster", no_ami)
    assert missing.failed and "ami_id is required" in missing["msg"]
    deaf = cluster_args(footing, local_aws, kube_aws_path, asset_dir)
    del deaf["https_proxy"]
    unproxied = ansible.module("kube_aws_cluster", deaf)
    assert unproxied.failed and "kube-aws ignores endpoint_url" in unproxied["msg"]
    # kube-aws opens the API load balancer to 0.0.0.0/0 unless told whom to admit
    everyone = ansible.module(
        "kube_aws_cluster", cluster_args(footing, local_aws, kube_aws_path, asset_dir, api_access_cidrs=[])
    )
    assert everyone.failed and "give api_access_cidrs or api_security_group_ids" in everyone["msg"]
    assert local_aws.requests(mark) == [], "nothing was asked of AWS"

    # an S3 URI of another region, found by a read before kube-aws runs
    elsewhere = unique("ka-east")
    east = boto3.client(
        "s3",
        endpoint_url=local_aws.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    east.create_bucket(Bucket=elsewhere)
    mark = local_aws.mark()
    crossed = ansible.module(
        "kube_aws_cluster",
        cluster_args(footing, local_aws, kube_aws_path, asset_dir, s3_uri="s3://{0}/kube-aws".format(elsewhere)),
    )
    assert crossed.failed and "is in us-east-1, not in the cluster's region us-west-2" in crossed["msg"]
    assert local_aws.changes(mark) == [] and not [
        r for r in local_aws.requests(mark) if r["service"] == "cloudformation"
    ]
    assert not asset_dir.exists(), "kube-aws never ran"
    east.delete_bucket(Bucket=elsewhere)


@pytest.mark.xdist_group("kube_aws_footing")
def test_kube_aws_cluster_life(ansible, local_aws, footing, kube_aws_path, tmp_path):
    cfn, autoscaling, elb = local_aws.client("cloudformation"), local_aws.client("autoscaling"), local_aws.client("elb")
    cluster = footing["cluster"]
    asset_dir = tmp_path / "assets"
    args = cluster_args(footing, local_aws, kube_aws_path, asset_dir)

    before = resource_counts(local_aws.client)
    mark = local_aws.mark()
    checked = ansible.module("kube_aws_cluster", args, check=True, diff=True)
    assert checked.changed and not checked.failed, checked.output
    assert checked["diff"]["before"] == "" and "instanceType: p3.2xlarge" in checked["diff"]["after"]
    assert checked["commands"][0].startswith("init ") and checked["commands"][-2:] == ["validate", "apply --force"]
    assert local_aws.changes(mark) == [], "check mode changes nothing"
    assert not asset_dir.exists()

    created = ansible.module("kube_aws_cluster", args)
    assert created.changed and not created.failed, created.output
    uploaded = local_aws.client("s3").list_objects_v2(Bucket=footing["bucket"], Prefix="kube-aws/")["Contents"]
    assert all(o["Key"].startswith("kube-aws/kube-aws/clusters/{0}/".format(cluster)) for o in uploaded), uploaded
    assert created["stack_name"] == cluster and created[
        "controller_endpoint"
    ] == "https://{0}.k8s.example.internal".format(cluster)
    stacks = stacks_of(cfn, cluster)
    logical = sorted(s["logical_id"] for s in created["stacks"] if s["logical_id"])
    assert logical == ["Controlplane", "Etcd", "Network", "NodepoolCpu", "NodepoolGpu"] or logical == [
        "Controlplane",
        "Cpu",
        "Etcd",
        "Gpu",
        "Network",
    ], logical
    assert len(stacks) == 6 and all(s["StackStatus"] == "CREATE_COMPLETE" for s in stacks.values()), stacks
    assert {"Key": "team", "Value": "ml"} in stacks[cluster]["Tags"]
    groups = groups_of(autoscaling, cluster)
    by_size = sorted((g["DesiredCapacity"], g["VPCZoneIdentifier"]) for g in groups.values())
    assert [pair[0] for pair in by_size] == [1, 1, 1, 2], groups  # etcd, controller, gpu, cpu
    subnets = sorted(s["subnet_id"] for s in footing["subnets"])
    assert all(set(zone.split(",")) <= set(subnets) for _size, zone in by_size), "in the network step's subnets"
    workers = [g for name, g in groups.items() if "-Nodepool" in name or "-Cpu-" in name or "-Gpu-" in name]
    assert len(workers) == 2 and all(sorted(g["VPCZoneIdentifier"].split(",")) == subnets for g in workers), groups
    [balancer] = [
        b
        for b in elb.describe_load_balancers()["LoadBalancerDescriptions"]
        if b["LoadBalancerName"].startswith(cluster + "-")
    ]
    assert balancer["VPCId"] == footing["vpc_id"] and sorted(balancer["Subnets"]) == subnets
    config = yaml.safe_load((asset_dir / "cluster.yaml").read_text())
    assert config["kmsKeyArn"] == footing["kms_key_arn"] and config["keyName"] == footing["key_name"]
    assert config["kubeAwsPlugins"]["dashboard"]["enabled"] is False
    credentials = asset_dir / "credentials"
    assert stat.S_IMODE(os.stat(credentials).st_mode) == 0o700
    assert all(
        stat.S_IMODE(os.lstat(credentials / name).st_mode) == 0o600
        for name in os.listdir(credentials)
        if not os.path.islink(credentials / name)
    )
    assert "PRIVATE KEY" not in json.dumps(created)
    kubeconfig = yaml.safe_load(open(created["kubeconfig"]))
    assert kubeconfig["clusters"][0]["cluster"]["server"] == created["controller_endpoint"]

    mark = local_aws.mark()
    written = os.stat(asset_dir / "cluster.yaml").st_mtime_ns
    again = ansible.module("kube_aws_cluster", args)
    assert not again.changed and not again.failed, again.output
    assert again["commands"] == [] and local_aws.changes(mark) == []
    assert os.stat(asset_dir / "cluster.yaml").st_mtime_ns == written, "cluster.yaml was not rewritten"

    scaled_args = json.loads(json.dumps(args))
    scaled_args["node_pools"][0]["count"] = 3
    mark = local_aws.mark()
    preview = ansible.module("kube_aws_cluster", scaled_args, check=True, diff=True)
    assert preview.changed and "count: 3" in preview["diff"]["after"] and "count: 3" not in preview["diff"]["before"]
    assert local_aws.changes(mark) == [] and "count: 2" in (asset_dir / "cluster.yaml").read_text()
    scaled = ansible.module("kube_aws_cluster", scaled_args)
    assert scaled.changed and not scaled.failed, scaled.output
    assert scaled["commands"] == ["validate", "apply --force"]
    assert sorted(g["DesiredCapacity"] for g in groups_of(autoscaling, cluster).values()) == [1, 1, 1, 3]
    assert stacks_of(cfn, cluster)[cluster]["StackStatus"] == "UPDATE_COMPLETE", "waited for the update"
    assert "count: 3" in (asset_dir / "cluster.yaml").read_text()
    assert not ansible.module("kube_aws_cluster", scaled_args).changed

    assert ansible.module("kube_aws_cluster", dict(args, state="absent"), check=True).changed
    assert stacks_of(cfn, cluster)[cluster]["StackStatus"] == "UPDATE_COMPLETE"
    removed = ansible.module("kube_aws_cluster", dict(args, state="absent"))
    assert removed.changed and not removed.failed, removed.output
    assert removed["commands"] == ["destroy --force"]
    # kube-aws destroy returns at once; the stacks (nested ones last) take their time: the module waited
    assert stacks_of(cfn, cluster) == {}
    assert groups_of(autoscaling, cluster) == {}
    vpc_groups = local_aws.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [footing["vpc_id"]]}]
    )["SecurityGroups"]
    nested = [s["name"] for s in created["stacks"] if s["logical_id"]]
    assert not [g["GroupName"] for g in vpc_groups if g["GroupName"].startswith(tuple(nested))], "nothing left"
    assert (
        resource_counts(local_aws.client) == before
    ), "the stacks' instances, volumes, addresses, roles and policies went too"
    s3 = local_aws.client("s3")
    assert not s3.list_objects_v2(Bucket=footing["bucket"], Prefix="kube-aws/").get("Contents"), "assets removed"
    gone = ansible.module("kube_aws_cluster", dict(args, state="absent"))
    assert not gone.changed and not gone.failed, gone.output


def test_site_with_the_kube_aws_provider_then_teardown(ansible, local_aws, inventory_env, kube_aws_path, tmp_path):
    """site.yml through the cluster stage with trainkit_cluster_provider=kube_aws on the local endpoint: identity ->
    network -> kube-aws's stacks from their KMS key, bucket, key pair, VPC, subnets and private zone; a second run
    changes nothing; teardown.yml leaves no stack and nothing tagged."""
    cluster = unique("kas")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_cluster_provider": "kube_aws",
        "trainkit_credentials_dir": str(tmp_path),
        "cluster_kube_aws_path": kube_aws_path,
    }
    stages = ["identity", "network", "cluster"]
    mark = local_aws.mark()
    rc, output, recap = ansible.playbook("site.yml", extra_vars=extra, env=inventory_env, tags=stages)
    assert rc == 0 and recap["changed"] > 0, output[-5000:]
    assert not [r for r in local_aws.requests(mark) if r["service"] in ("efs", "fsx")], "storage did not run"
    cfn = local_aws.client("cloudformation")
    [root] = cfn.describe_stacks(StackName=cluster)["Stacks"]
    assert root["StackStatus"] == "CREATE_COMPLETE"
    assert {"Key": "trainkit:cluster", "Value": cluster} in root["Tags"], "the cluster's tags are the stack tags"
    config = yaml.safe_load((tmp_path / "kube-aws" / cluster / "cluster.yaml").read_text())
    assert config["apiEndpoints"][0]["loadBalancer"]["hostedZone"]["id"], "the network step's private zone"
    assert config["apiEndpoints"][0]["dnsName"].startswith("api.")
    zone_id = config["apiEndpoints"][0]["loadBalancer"]["hostedZone"]["id"]
    records = local_aws.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert config["apiEndpoints"][0]["dnsName"] + "." in [r["Name"] for r in records], "kube-aws's API record"
    assert config["s3URI"].startswith("s3://" + cluster)
    flat = " ".join(output.split())
    assert "no Kubernetes API answers" in flat, "the rehearsal says what it leaves out"
    # the root template kube-aws sent to CloudFormation passes cfn-lint (a validator we did not write)
    assert local_aws.templates(cluster) and cfn_lint(local_aws.templates(cluster)) == []

    rc, output, recap = ansible.playbook("site.yml", extra_vars=extra, env=inventory_env, tags=stages)
    lines = output.splitlines()
    changed = [lines[i - 1] for i, line in enumerate(lines) if line.startswith("changed") and i > 0]
    assert rc == 0 and recap["changed"] == 0, changed or output[-3000:]

    # each stage on its own (cluster.yml alone is the README's way to scale node pools) finds what the earlier
    # stages built and changes nothing
    for stage, (rc, changed, tail) in stages_alone(
        ansible, extra, ("identity", "network", "cluster"), env=inventory_env
    ).items():
        assert rc == 0 and changed == 0, (stage, tail)

    # kube-aws's stacks open nothing to the world (ours fills Prowler's gap: groups no interface uses), and Prowler
    # over the account finds nothing wrong with the cluster's resources
    groups = set(g[0] for g in open_to_the_world(local_aws.client("ec2")))
    assert not groups & cluster_resources(local_aws.client, cluster), open_to_the_world(local_aws.client("ec2"))
    findings = of_cluster(prowler_scan(local_aws.url, str(tmp_path)), cluster_resources(local_aws.client, cluster))
    prowler_clean(
        findings,
        ("ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22", "s3_bucket_default_encryption"),
        "prowler-kube-aws-site",
        known={
            # kube-aws v0.16.4's node userdata reads the instance metadata with plain curl (IMDSv1, no token:
            # builtin/files/userdata/cloud-config-etcd and the others): requiring IMDSv2 would stop every node
            "autoscaling_group_launch_configuration_requires_imdsv2": "kube-aws's userdata needs IMDSv1",
            "ec2_instance_imdsv2_enabled": "kube-aws's userdata needs IMDSv1 (its instances)",
            # kube-aws v0.16.4 can encrypt etcd's data volume (etcd.dataVolume.encrypted, pkg/api/data_volume.go)
            # and no root volume: its launch configurations say nothing of encryption. The account's EBS
            # encryption by default covers them (docs/identity-and-network.md)
            "ec2_ebs_volume_encryption": "kube-aws's root volumes follow the account's EBS default",
        },
    )

    rc, output, _recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra, env=inventory_env)
    assert rc == 0, output[-5000:]
    assert not [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith(cluster)]
    assert tagged_leftovers(local_aws.client, cluster) == []


def test_a_run_that_finds_the_stacks_still_updating_waits(kube_aws_path, tmp_path):
    """A run that finds the root stack still UPDATE_IN_PROGRESS (another run's apply, or one interrupted) waits until
    CloudFormation is done before it reports, on an endpoint whose stack updates take 10 s. (The cluster builds its
    own VPC here: no vpc_id, an availability zone.)"""
    profile = tmp_path / "slow-updates.json"
    profile.write_text(json.dumps({"name": "slow-updates", "times": {"cloudformation_stack_update": 10}}))
    endpoint = LocalAWS(str(tmp_path / "aws"))
    endpoint.start(realism=str(profile))
    try:
        runner = Ansible(endpoint.url, str(tmp_path))
        name = unique("kaw")
        ec2, s3 = endpoint.client("ec2"), endpoint.client("s3")
        key_arn = endpoint.client("kms").create_key()["KeyMetadata"]["Arn"]
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        ec2.create_key_pair(KeyName=name)
        footing = {"cluster": name, "kms_key_arn": key_arn, "bucket": name, "key_name": name}
        args = cluster_args(
            dict(footing, vpc_id=None, subnets=[]),
            endpoint,
            kube_aws_path,
            tmp_path / "assets",
            availability_zone="us-west-2a",
            node_pools=[{"name": "cpu", "instance_type": "m5.large", "count": 1}],
        )
        before = resource_counts(endpoint.client)
        created = runner.module("kube_aws_cluster", args)
        assert created.changed and not created.failed, created.output
        assert resource_counts(endpoint.client)["vpcs"] == before["vpcs"] + 1, "kube-aws's own VPC"
        cfn = endpoint.client("cloudformation")
        [root] = cfn.describe_stacks(StackName=name)["Stacks"]
        cfn.update_stack(StackName=name, UsePreviousTemplate=True, Tags=root["Tags"])
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"

        waited = runner.module("kube_aws_cluster", args)
        assert not waited.changed and not waited.failed, waited.output
        assert waited["stacks"][0]["status"] == "UPDATE_COMPLETE", waited["stacks"]
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"

        removed = runner.module("kube_aws_cluster", dict(args, state="absent"))
        assert removed.changed and not removed.failed, removed.output
        assert not [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"].startswith(name)]
        assert (
            resource_counts(endpoint.client) == before
        ), "kube-aws's own VPC, its gateway and route tables went with the stacks"
    finally:
        endpoint.stop()
