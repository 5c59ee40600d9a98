# -*- coding: utf-8 -*-
"""Fixtures that more than one integration test file uses: the endpoint that enforces IAM, and the two site runs made
on it once for two files each: test_operator_policy.py proves the operator policy with them, test_playbooks.py and
test_eksctl.py what site.yml and teardown.yml build and remove with the local and the eksctl provider. A site run
with real training takes minutes of both cores; each is made once."""

import contextlib
import os

import pytest

import enforced
from harness import Ansible
from harness import cfn_lint
from harness import cluster_resources
from harness import fsx_encrypted
from harness import launch_template_volumes
from harness import of_cluster
from harness import prowler_scan
from harness import stages_alone
from harness import LocalAWS
from harness import mpi_operator_slot
from harness import open_to_the_world
from harness import tagged_leftovers
from harness import unique
from harness import vpcs_of


@pytest.fixture(scope="session")
def strict_aws(local_k8s, tmp_path_factory):
    """A local endpoint of its own (one per worker): enforcement would lock every other test's callers out. Its
    EKS clusters live on the worker's control plane."""
    endpoint = LocalAWS(str(tmp_path_factory.mktemp("strict-aws")))
    endpoint.start(control_plane=local_k8s.workdir)
    yield endpoint
    enforced.enforce(endpoint, False)
    endpoint.stop()


@pytest.fixture(scope="session")
def strict_ansible(strict_aws, tmp_path_factory):
    return Ansible(strict_aws.url, str(tmp_path_factory.mktemp("strict-ansible")))


# public subnets for the NAT gateway and load balancers, private ones for the nodes (as inventories/aws has them)
PRIVATE_NETWORK = [
    {"az": "us-west-2a", "cidr": "172.20.1.0/24", "public": True},
    {"az": "us-west-2b", "cidr": "172.20.2.0/24", "public": True},
    {"az": "us-west-2a", "cidr": "172.20.16.0/20", "public": False},
    {"az": "us-west-2b", "cidr": "172.20.32.0/20", "public": False},
]


# the local inventory's node groups, the GPU one on spot capacity of two GPU types (issue 25: site.yml renders eksctl's
# spot and instanceTypes, and the nodes show as spot)
SPOT_GPU_NODEGROUPS = [
    {"name": "cpu", "instance_type": "m5.xlarge", "count": 2},
    {
        "name": "gpu",
        "instance_types": ["g5.xlarge", "g6.xlarge"],
        "spot": True,
        "count": 2,
        "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
    },
]


@pytest.fixture(scope="session")
def eksctl_site_run(strict_aws, strict_ansible, local_k8s, tmp_path_factory):
    """site.yml with trainkit_cluster_provider=eksctl, run as the least-privilege operator (twice: the second run
    changes nothing), then teardown.yml without route53:DeleteHostedZone, then teardown.yml: identity -> network ->
    EKS by the real eksctl (its cluster on the local control plane, its node groups as simulated nodes) -> storage ->
    training. Both tests that read it carry xdist_group("eksctl_site_run"), so that one worker makes it once."""
    cluster = unique("le")
    workdir = tmp_path_factory.mktemp("eksctl-site")
    eks = strict_aws.client("eks")

    def inspect(run):
        clusters = eks.list_clusters()["clusters"]
        built = cluster in clusters
        ec2 = strict_aws.client("ec2")
        [vpc] = vpcs_of(ec2, cluster)
        private = sorted(
            s["SubnetId"]
            for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
            if not s["MapPublicIpOnLaunch"]
        )
        groups = eks.list_nodegroups(clusterName=cluster)["nodegroups"] if built else []
        findings = prowler_scan(strict_aws.url, str(workdir))
        # as the operator who ran site.yml: eksctl names the kubeconfig's user after the caller
        alone = stages_alone(strict_ansible, run.variables, env=run.env)
        with contextlib.closing(local_k8s.client()) as kube:
            _s, listing = kube.request(
                "GET", "/api/v1/nodes", query={"labelSelector": "alpha.eksctl.io/cluster-name=" + cluster}
            )
        return {
            # what EKS says of each node group's capacity, and what its nodes say
            "nodegroup_capacity": dict(
                (
                    g,
                    [
                        eks.describe_nodegroup(clusterName=cluster, nodegroupName=g)["nodegroup"].get(k)
                        for k in ("capacityType", "instanceTypes")
                    ],
                )
                for g in groups
            ),
            "node_capacity": sorted(
                (
                    n["metadata"]["labels"]["eks.amazonaws.com/nodegroup"],
                    n["metadata"]["labels"]["node.kubernetes.io/instance-type"],
                    n["metadata"]["labels"]["eks.amazonaws.com/capacityType"],
                )
                for n in listing["items"]
            ),
            "prowler": of_cluster(findings, cluster_resources(strict_aws.client, cluster)),
            "fsx_encrypted": fsx_encrypted(strict_aws.client("fsx"), cluster),
            "launch_template_volumes": launch_template_volumes(ec2, cluster),
            "stages_alone": alone,
            "private_subnets": private,
            "nodegroup_subnets": dict(
                (g, sorted(eks.describe_nodegroup(clusterName=cluster, nodegroupName=g)["nodegroup"]["subnets"]))
                for g in groups
            ),
            "nat_gateways": [
                g["State"]
                for g in ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["NatGateways"]
            ],
            "clusters": clusters,
            "nodegroups": sorted(eks.list_nodegroups(clusterName=cluster)["nodegroups"]) if built else [],
            "kubeconfig": (workdir / "credentials" / (cluster + ".kubeconfig")).exists(),
            "open_to_the_world": open_to_the_world(strict_aws.client("ec2")),
            "templates": [os.path.basename(t) for t in strict_aws.templates("eksctl-" + cluster)],
            "cfn_lint": cfn_lint(strict_aws.templates("eksctl-" + cluster)),
            "endpoint": eks.describe_cluster(name=cluster)["cluster"]["resourcesVpcConfig"] if built else None,
        }

    return enforced.EnforcedRun(
        strict_aws,
        strict_ansible,
        workdir,
        "eksctl",
        cluster,
        # EKS's guidance: nodes in private subnets behind NAT (inventories/aws's network)
        {
            "cluster_local_workdir": local_k8s.workdir,
            "network_subnets": PRIVATE_NETWORK,
            "trainkit_nodegroups": SPOT_GPU_NODEGROUPS,
        },
        "route53:DeleteHostedZone",
        inspect,
    )


@pytest.fixture(scope="session")
def local_site_run(strict_aws, strict_ansible, tmp_path_factory):
    """site.yml on the local inventory's defaults (the local provider, EFS and FSx), run as the least-privilege
    operator twice (the second changes nothing), then - with enforcement off and the endpoint's own key -
    site.yml and teardown.yml in check mode, then teardown.yml without ec2:DeleteVpc (it removes everything else,
    then fails), then teardown.yml. Both tests that read it carry xdist_group("local_site_run")."""
    cluster = unique("site")
    workdir = tmp_path_factory.mktemp("local-site")
    outputs = workdir / "k8s" / "volumes" / "default" / "efsvol" / "fit-a-line" / "output"

    def inspect(run):
        built = sorted(tagged_leftovers(strict_aws.client, cluster))
        vpcs = [v["VpcId"] for v in vpcs_of(strict_aws.client("ec2"), cluster)]
        findings = prowler_scan(strict_aws.url, str(workdir))
        scanned = {
            "prowler": of_cluster(findings, cluster_resources(strict_aws.client, cluster)),
            "fsx_encrypted": fsx_encrypted(strict_aws.client("fsx"), cluster),
            "open_to_the_world": open_to_the_world(strict_aws.client("ec2")),
            "stages_alone": stages_alone(strict_ansible, run.variables, env=run.env),
        }
        mark = strict_aws.mark()
        check_site = strict_ansible.playbook("site.yml", extra_vars=run.admin(), check=True)
        check_teardown = strict_ansible.playbook("playbooks/teardown.yml", extra_vars=run.admin(), check=True)
        return {
            "built": built,
            "vpcs": vpcs,
            "outputs": sorted(p.name for p in outputs.iterdir()) if outputs.is_dir() else [],
            "check_site": check_site,
            "check_teardown": check_teardown,
            "check_changes": strict_aws.changes(mark),
            "after_check": sorted(tagged_leftovers(strict_aws.client, cluster)),
            **scanned,
        }

    with mpi_operator_slot():
        return enforced.EnforcedRun(
            strict_aws,
            strict_ansible,
            workdir,
            "local",
            cluster,
            {"cluster_local_workdir": str(workdir / "k8s")},
            "ec2:DeleteVpc",
            inspect,
        )
