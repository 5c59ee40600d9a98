# -*- coding: utf-8 -*-
"""eksctl_cluster with the real eksctl binary (tools/eksctl-build) against the local AWS endpoint.

The endpoint's EKS clusters point at a real local control plane, and an EKS kubeconfig's exec token
(`aws eks get-token`) authenticates there through the token webhook. One slow test (eksctl's own fixed waits are
about 150 s of it) walks a cluster through its whole life; the site.yml run with the eksctl provider is the one
test_operator_policy.py makes as the least-privilege operator (conftest.py's eksctl_site_run).
"""

import json
import os
import subprocess

import pytest
import yaml

from harness import Ansible
from harness import LocalAWS
from harness import REPO
from harness import eventually
from harness import prowler_clean
from harness import tagged_leftovers
from harness import unique
from test_k8s_access import deployment as a_deployment

pytestmark = pytest.mark.eksctl


@pytest.fixture(scope="module")
def eksctl_path():
    result = subprocess.run(
        [os.path.join(REPO, "tools", "eksctl-build")], capture_output=True, text=True, timeout=3000, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def eks_aws(local_k8s, tmp_path_factory):
    """A local AWS endpoint of this module's own, whose EKS clusters live on the local control plane."""
    endpoint = LocalAWS(str(tmp_path_factory.mktemp("eks-aws")))
    endpoint.start(control_plane=local_k8s.workdir)
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def eks_ansible(eks_aws, tmp_path_factory):
    return Ansible(eks_aws.url, str(tmp_path_factory.mktemp("eks-ansible")))


def nodes_of(client, cluster, group):
    _status, listing = client.request(
        "GET",
        "/api/v1/nodes",
        query={
            "labelSelector": "alpha.eksctl.io/cluster-name={0},eks.amazonaws.com/nodegroup={1}".format(cluster, group)
        },
    )
    return listing["items"]


def test_bad_cluster_config_fails_before_eksctl_runs(eks_ansible, eks_aws, eksctl_path, tmp_path):
    mark = eks_aws.mark()
    result = eks_ansible.module(
        "eksctl_cluster",
        {
            "name": unique("bad"),
            "eksctl_path": eksctl_path,
            "nodegroups": [{"name": "gpu", "instance_type": "g5.xlarge"}],
            "extra_config": {"managedNodeGroups": [{"name": "gpu", "instanceType": "g5.xlarge", "volumeSize": "big"}]},
            "kubeconfig": str(tmp_path / "kubeconfig"),
            "public_access_cidrs": ["127.0.0.1/32"],
        },
    )
    assert result.failed
    assert "ClusterConfig managedNodeGroups.0.volumeSize: 'big' is not of type 'integer'" in result["msg"], result[
        "msg"
    ]
    assert eks_aws.requests(mark) == []  # not even a read: eksctl never ran

    # spot groups of several types: the real eksctl validates what is rendered (its schema, then create --dry-run)
    spot = [
        {"name": "spot", "instance_types": ["g5.xlarge", "g6.xlarge"], "spot": True, "desired_capacity": 2},
        {"name": "self", "managed": False, "instance_types": ["g5.xlarge", "g6.xlarge"], "spot": True},
    ]
    checked = eks_ansible.module(
        "eksctl_cluster",
        {
            "name": unique("spot"),
            "eksctl_path": eksctl_path,
            "nodegroups": spot,
            "kubeconfig": str(tmp_path / "spot-kubeconfig"),
            "public_access_cidrs": ["127.0.0.1/32"],
        },
        check=True,
    )
    assert checked.changed and not checked.failed, checked.output
    rendered = yaml.safe_load(checked["config"])
    [managed], [self_managed] = rendered["managedNodeGroups"], rendered["nodeGroups"]
    assert managed["spot"] is True and managed["instanceTypes"] == ["g5.xlarge", "g6.xlarge"]
    assert self_managed["instancesDistribution"]["spotAllocationStrategy"] == "capacity-optimized"
    assert any("create cluster" in c and "--dry-run" in c for c in checked["commands"]), checked["commands"]
    mixed = eks_ansible.module(
        "eksctl_cluster",
        {
            "name": unique("spot"),
            "eksctl_path": eksctl_path,
            "nodegroups": [{"name": "m", "instance_types": ["g5.xlarge", "g5.12xlarge"], "spot": True}],
            "public_access_cidrs": ["127.0.0.1/32"],
        },
    )
    assert mixed.failed and "must have one GPU count" in mixed["msg"], mixed.output

    crossed = eks_ansible.module(
        "eksctl_cluster",
        {
            "name": unique("bad"),
            "eksctl_path": eksctl_path,
            "nodegroups": [{"name": "gpu", "instance_type": "g5.xlarge", "min_size": 3, "desired_capacity": 1}],
        },
    )
    assert crossed.failed and "min_size <= desired_capacity" in crossed["msg"]

    # a public API endpoint without CIDR blocks would be open to everyone: refused, before eksctl runs
    mark = eks_aws.mark()
    public = eks_ansible.module(
        "eksctl_cluster",
        {
            "name": unique("open"),
            "eksctl_path": eksctl_path,
            "nodegroups": [{"name": "gpu", "instance_type": "g5.xlarge"}],
        },
    )
    assert public.failed and "public API endpoint would be open to the whole internet" in public["msg"], public.output
    # a subnet that is not an id: the problem, not a traceback from rendering it
    numbered = eks_ansible.module(
        "eksctl_cluster",
        {"name": unique("bad"), "eksctl_path": eksctl_path, "vpc_id": "vpc-1", "subnets": [123]},
    )
    assert numbered.failed and "(got 123)" in numbered["msg"], numbered.output
    assert "Traceback" not in numbered.output and "TypeError" not in numbered.output
    assert eks_aws.requests(mark) == []


def test_efa_groups_render_efa_enabled_and_a_type_without_efa_is_refused_before_eksctl_runs(
    eks_ansible, eks_aws, eksctl_path, tmp_path
):
    base = {"eksctl_path": eksctl_path, "public_access_cidrs": ["127.0.0.1/32"], "kubeconfig": str(tmp_path / "kc")}
    # a type the collection knows to have no EFA: refused from its table, no call at all
    mark = eks_aws.mark()
    known = eks_ansible.module(
        "eksctl_cluster",
        dict(
            base,
            name=unique("efa"),
            nodegroups=[{"name": "g", "instance_type": "g5.xlarge", "efa": True, "zones": ["us-west-2a"]}],
        ),
    )
    assert known.failed and "g5.xlarge has none" in known["msg"], known.output
    assert eks_aws.requests(mark) == []
    # one it does not know: EC2's DescribeInstanceTypes says (NetworkInfo.EfaSupported), and nothing else is called
    mark = eks_aws.mark()
    unknown = eks_ansible.module(
        "eksctl_cluster",
        dict(
            base,
            name=unique("efa"),
            nodegroups=[{"name": "m", "instance_type": "m6i.large", "efa": True, "zones": ["us-west-2a"]}],
        ),
    )
    assert unknown.failed and "m6i.large has none" in unknown["msg"], unknown.output
    assert [r["operation"] for r in eks_aws.requests(mark)] == ["DescribeInstanceTypes"]
    # EFA types, managed and self-managed: eksctl's schema and its create --dry-run take what is rendered
    groups = [
        {"name": "efa", "instance_type": "p4d.24xlarge", "efa": True, "zones": ["us-west-2b"]},
        {"name": "hpc", "managed": False, "instance_type": "c5n.18xlarge", "efa": True, "zones": ["us-west-2a"]},
    ]
    checked = eks_ansible.module("eksctl_cluster", dict(base, name=unique("efa"), nodegroups=groups), check=True)
    assert checked.changed and not checked.failed, checked.output
    rendered = yaml.safe_load(checked["config"])
    for group in rendered["managedNodeGroups"] + rendered["nodeGroups"]:
        assert group["efaEnabled"] is True and group["labels"]["vpc.amazonaws.com/efa.present"] == "true", group
    assert any("create cluster" in c and "--dry-run" in c for c in checked["commands"]), checked["commands"]


@pytest.mark.slow  # the real eksctl creates, scales and deletes a cluster: ~4.5 min, ~150 s of it eksctl's own waits
def test_eksctl_cluster_life(eks_ansible, eks_aws, local_k8s, eksctl_path, tmp_path):
    ec2 = eks_aws.client("ec2")
    name = unique("eks")
    network = eks_ansible.module(
        "vpc_network",
        {
            "cluster_name": name,
            "cidr_block": "172.20.0.0/16",
            "subnets": [{"az": "us-west-2a", "cidr": "172.20.1.0/24"}, {"az": "us-west-2b", "cidr": "172.20.2.0/24"}],
        },
    )
    assert not network.failed, network.output
    kubeconfig = tmp_path / "kube" / "config"
    args = {
        "name": name,
        "version": "1.34",
        "eksctl_path": eksctl_path,
        "vpc_id": network["vpc_id"],
        "subnets": [{"id": s["subnet_id"], "az": s["az"]} for s in network["subnets"]],
        "security_group_id": network["security_group_ids"]["master"],
        "node_security_group_ids": [network["security_group_ids"]["worker"]],
        "nodegroups": [
            {
                "name": "gpu",
                "instance_type": "g4dn.xlarge",
                "desired_capacity": 1,
                "max_size": 2,
                "labels": {"accelerator": "nvidia"},
            }
        ],
        "tags": {"team": "ml"},
        "kubeconfig": str(kubeconfig),
        "public_access_cidrs": ["127.0.0.1/32"],
    }

    mark = eks_aws.mark()
    checked = eks_ansible.module("eksctl_cluster", args, check=True, diff=True)
    assert checked.changed and not checked.failed, checked.output
    assert "instanceType: g4dn.xlarge" in checked["diff"]["after"] and checked["diff"]["before"] == ""
    assert [c for c in eks_aws.changes(mark) if c.startswith(("cloudformation", "eks"))] == []
    assert not kubeconfig.exists()

    created = eks_ansible.module("eksctl_cluster", args)
    assert created.changed and not created.failed, created.output
    config = yaml.safe_load(created["config"])
    assert config["vpc"]["id"] == network["vpc_id"] and config["managedNodeGroups"][0]["name"] == "gpu"
    with open(local_k8s.kubeconfig) as handle:
        server = yaml.safe_load(handle)["clusters"][0]["cluster"]["server"]
    assert created["endpoint"] == server
    assert [g["name"] for g in created["nodegroups"]] == ["gpu"]
    written = yaml.safe_load(kubeconfig.read_text())
    assert written["users"][0]["user"]["exec"]["command"] in ("aws", "aws-iam-authenticator", "eksctl")
    client = local_k8s.client()
    [node] = nodes_of(client, name, "gpu")
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "1"
    assert node["metadata"]["labels"]["accelerator"] == "nvidia"
    assert node["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "g4dn.xlarge"
    cluster_vpc = eks_aws.client("eks").describe_cluster(name=name)["cluster"]["resourcesVpcConfig"]
    assert sorted(cluster_vpc["subnetIds"]) == sorted(network["subnet_ids"])

    again = eks_ansible.module("eksctl_cluster", args)
    assert not again.changed and not again.failed, again.output

    # the kubeconfig eksctl wrote (exec: aws eks get-token) reaches the control plane through the token webhook
    deployment = a_deployment(name)
    applied = eks_ansible.module("k8s_apply", {"kubeconfig": str(kubeconfig), "definition": deployment})
    assert applied.changed and not applied.failed, applied.output
    found = client.get(deployment)
    assert found["metadata"]["managedFields"][0]["manager"] == "trainkit"

    scaled_args = json.loads(json.dumps(args))
    scaled_args["nodegroups"][0]["desired_capacity"] = 2
    scaled = eks_ansible.module("eksctl_cluster", scaled_args)
    assert scaled.changed and not scaled.failed, scaled.output
    assert [g["desired_capacity"] for g in scaled["nodegroups"]] == [2]
    eventually(lambda: len(nodes_of(client, name, "gpu")) == 2, what="the second node")

    removed = eks_ansible.module("eksctl_cluster", dict(args, state="absent"))
    assert removed.changed and not removed.failed, removed.output
    assert name not in eks_aws.client("eks").list_clusters()["clusters"]
    assert nodes_of(client, name, "gpu") == []
    gone = eks_ansible.module("eksctl_cluster", dict(args, state="absent"))
    assert not gone.changed and not gone.failed, gone.output

    client.delete(deployment)
    deleted = eks_ansible.module("vpc_network", {"cluster_name": name, "state": "absent"})
    assert not deleted.failed, deleted.output
    assert ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [network["vpc_id"]]}])["Vpcs"] == []


@pytest.mark.slow  # site.yml and teardown.yml with the real eksctl: ~7 min (see the fixture)
@pytest.mark.xdist_group("eksctl_site_run")  # the run test_operator_policy.py checks too: one worker makes it
def test_site_with_the_eksctl_provider_trains_and_tears_down(eksctl_site_run, strict_aws):
    """site.yml with trainkit_cluster_provider=eksctl on the local endpoint: identity -> network -> EKS by the real
    eksctl (its cluster on the local control plane, its node groups as simulated nodes) -> storage -> training;
    then teardown.yml leaves nothing tagged, the EKS cluster included. The run is the least-privilege operator's
    (conftest.py's eksctl_site_run), which test_operator_policy.py checks against the recorded policy."""
    run = eksctl_site_run
    assert run.site.rc == 0 and run.site.recap["changed"] > 0, run.site.output[-5000:]
    # the EKS create ran in the background while storage was built: the EFS file system was created after the
    # cluster's stack and before eksctl got to the stacks of the two node groups
    calls = run.calls(run.site)
    stacks = [i for i, c in enumerate(calls) if c == ("cloudformation", "CreateStack")]
    efs = calls.index(("efs", "CreateFileSystem"))
    assert len(stacks) == 3 and stacks[0] < efs < stacks[1], (stacks, efs)
    assert run.cluster in run.after_site["clusters"]
    assert run.after_site["nodegroups"] == ["cpu", "gpu"]
    # the GPU group is on spot capacity of two types: eksctl rendered spot and instanceTypes into its managed node
    # group, EKS reports SPOT, and the cluster's nodes carry eks.amazonaws.com/capacityType=SPOT
    assert run.after_site["nodegroup_capacity"]["gpu"] == ["SPOT", ["g5.xlarge", "g6.xlarge"]], run.after_site
    assert run.after_site["nodegroup_capacity"]["cpu"][0] == "ON_DEMAND", run.after_site
    nodes = run.after_site["node_capacity"]
    assert [n for n in nodes if n[0] == "gpu"] == [("gpu", "g5.xlarge", "SPOT")] * 2, nodes
    assert [n for n in nodes if n[0] == "cpu"] == [("cpu", "m5.xlarge", "ON_DEMAND")] * 2, nodes
    # the network has private subnets (behind one NAT gateway): eksctl put both node groups there, not in the
    # public ones (privateNetworking, rendered from the network fact's public: false)
    private = run.after_site["private_subnets"]
    assert len(private) == 2 and run.after_site["nat_gateways"] == ["available"], run.after_site
    for group, subnets in run.after_site["nodegroup_subnets"].items():
        assert subnets and set(subnets) <= set(private), (group, subnets, private)
    # each stage playbook in a run of its own finds what site.yml built and changes nothing
    for stage, (rc, changed, tail) in run.after_site["stages_alone"].items():
        assert rc == 0 and changed == 0, (stage, rc, changed, tail)
    summary = run.site.output.split("Summary |", 1)[-1]
    # the data split and the 3-worker PaddlePaddle job ran on the EKS node groups' simulated nodes
    assert "status: succeeded" in summary and summary.count(": Succeeded'") == 3, summary[-3000:]
    assert run.after_site["kubeconfig"]

    # the teardown (its first run stops at the one call the operator may not make, the second ends it)
    assert run.teardown.rc == 0, run.teardown.output[-5000:]
    assert run.cluster not in strict_aws.client("eks").list_clusters()["clusters"]
    assert run.leftovers == []


@pytest.mark.slow  # reads the eksctl site run (see test_site_with_the_eksctl_provider_trains_and_tears_down)
@pytest.mark.xdist_group("eksctl_site_run")
def test_the_eksctl_site_opens_nothing_to_the_world(eksctl_site_run):
    """After site.yml with the eksctl provider (its key pair on the nodes, the local inventory's CIDR blocks: none
    for SSH, this machine for the API), no security group rule in the account admits 0.0.0.0/0 or ::/0 - eksctl's
    stacks included, whose node SSH group did for nodes in public subnets - and the EKS API endpoint is public to
    the listed block only, and private inside the VPC; cfn-lint finds no error in eksctl's templates."""
    run = eksctl_site_run
    assert run.site.rc == 0, run.site.output[-3000:]
    assert run.after_site["open_to_the_world"] == []
    endpoint = run.after_site["endpoint"]
    assert endpoint["endpointPublicAccess"] is True and endpoint["publicAccessCidrs"] == ["127.0.0.1/32"], endpoint
    assert endpoint["endpointPrivateAccess"] is True, endpoint
    # every template eksctl sent to CloudFormation (the cluster's stack and one per node group) passes cfn-lint
    assert len(run.after_site["templates"]) >= 3, run.after_site["templates"]
    assert run.after_site["cfn_lint"] == []
    # Prowler over the account: nothing wrong with the cluster's resources - eksctl's groups, its launch templates
    # (IMDSv2 required), the EKS endpoint (not public to everyone, private access on), EFS and S3 encrypted
    seen = (
        "ec2_securitygroup_allow_ingress_from_internet_to_any_port",
        "eks_cluster_not_publicly_accessible",
        "eks_cluster_private_nodes_enabled",
        "efs_encryption_at_rest_enabled",
        "s3_bucket_default_encryption",
        "ec2_launch_template_imdsv2_required",
    )
    prowler_clean(run.after_site["prowler"], seen, "prowler-eksctl-site")
    # ours where the local endpoint makes no node instances: every volume eksctl's launch templates map is encrypted
    volumes = run.after_site["launch_template_volumes"]
    assert volumes and all(encrypted for _name, encrypted in volumes), volumes


@pytest.mark.slow  # identity, network and teardown playbooks: ~1 min
def test_provider_checks_and_a_teardown_that_cannot_reach_the_cluster(eks_ansible, eks_aws, tmp_path):
    cluster = unique("prov")
    # the local provider with a real (non-loopback) AWS endpoint is refused before anything runs
    mark = eks_aws.mark()
    rc, output, _recap = eks_ansible.playbook(
        "playbooks/network.yml",
        extra_vars={
            "trainkit_cluster_name": cluster,
            "trainkit_local_aws": False,
            "trainkit_aws_endpoint_url": "https://ec2.us-west-2.aws.invalid",
        },
    )
    assert rc != 0 and "it cannot serve the VPC, EFS and FSx of a real account" in " ".join(output.split()), output[
        -3000:
    ]
    assert eks_aws.requests(mark) == []

    # no provider at all: the cluster role says which ones there are
    rc, output, _recap = eks_ansible.playbook(
        "playbooks/cluster.yml", extra_vars={"trainkit_cluster_name": cluster, "trainkit_cluster_provider": ""}
    )
    assert rc != 0 and "local" in output and "eksctl" in output, output[-3000:]

    # eksctl with no CIDR blocks for the API endpoint (EKS would open it to 0.0.0.0/0): every playbook refuses
    # before its first change, the identity step's included
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_cluster_provider": "eksctl",
        "trainkit_credentials_dir": str(tmp_path),
        "trainkit_storage_backend": "efs",
        "cluster_eksctl_path": str(tmp_path / "no-eksctl"),
        "cluster_eks_public_access_cidrs": [],
    }
    mark = eks_aws.mark()
    rc, output, _recap = eks_ansible.playbook("playbooks/identity.yml", extra_vars=extra)
    flat = " ".join(output.split())
    assert rc != 0 and "cluster_eks_public_access_cidrs is empty: the cluster's public API endpoint" in flat, flat[
        -3000:
    ]
    assert eks_aws.requests(mark) == []

    # a teardown whose cluster step fails (here: no eksctl binary) still removes storage, network and identity;
    # the endpoint's CIDR blocks do not matter to it
    built = dict(extra)
    del built["cluster_eks_public_access_cidrs"]  # the local inventory's: this machine
    rc, output, _recap = eks_ansible.playbook("playbooks/identity.yml", "playbooks/network.yml", extra_vars=built)
    assert rc == 0, output[-3000:]
    rc, output, _recap = eks_ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0, output[-3000:]
    flat = " ".join(output.split())
    assert "the eksctl cluster {0} was not removed".format(cluster) in flat and "no eksctl binary" in flat
    assert tagged_leftovers(eks_aws.client, cluster) == []


def test_the_unit_tests_copy_of_eksctls_minimum_policy_is_eksctls(eksctl_path):
    """tests/unit/test_operator_policy.py compares the operator policy with eksctl's documented minimum; its copy of
    the named IAM, SSM and KMS actions must be what the pinned eksctl's userdocs say (read from its module source,
    which eksctl_path downloaded to build it)."""
    import re
    import sys

    from harness import load_tool

    sys.path.insert(0, os.path.join(REPO, "tests", "unit"))
    copy = load_tool("unit_operator_policy", os.path.join(REPO, "tests", "unit", "test_operator_policy.py"))
    eksctl = load_tool("local_eksctl_tool", os.path.join(REPO, "tools", "local_eksctl.py"))
    path = os.path.join(eksctl.source_dir(), "userdocs", "src", "usage", "minimum-iam-policies.md")
    with open(path) as handle:
        text = handle.read()
    named = set(re.findall(r'"((?:iam|ssm|kms|logs):[A-Za-z]+)"', text))
    named.discard("iam:AWSServiceName")  # a condition key, not an action
    assert named == set(copy.EKSCTL_IAM_LIMITED_ACCESS + copy.EKSCTL_EKS_ALL_ACCESS) | set(copy.EKSCTL_NOT_NEEDED)
    assert set(re.findall(r'"((?:ec2|cloudformation|eks|autoscaling|elasticloadbalancing|cloudwatch):\*)"', text)) == {
        "ec2:*",
        "cloudformation:*",
        "eks:*",
        "autoscaling:*",
        "elasticloadbalancing:*",
        "cloudwatch:*",
    }
