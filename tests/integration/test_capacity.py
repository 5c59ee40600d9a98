# -*- coding: utf-8 -*-
"""The capacity and quota preflight (trainkit.aws.capacity_check, run by the preflight role before anything is
created): against an endpoint of its own whose realism profile plants an account with no G-instance quota and two
Elastic IPs, site.yml stops in the preflight - naming the quota code and the request-service-quota-increase command,
or the zones that offer an instance type - and the endpoint's request log shows no call that creates anything.

Offerings are moto's data (taken from AWS): g5.xlarge in us-west-2a to 2c and not 2d, which these tests use."""

import json
import re
import socket

import pytest

from harness import Ansible
from harness import LocalAWS
from harness import unique

PROFILE = {"name": "small-account", "quotas": {"ec2/L-DB2E81BA": 0, "ec2/L-0263D0A3": 2}}
# what a call that creates or changes something starts with (the request log's operation names)
CHANGES = re.compile(
    r"^(Create|Allocate|Run|Put|Import|Associate|Attach|Authorize|Tag|Register|Modify|Update|Delete|Release)"
)
CPU_ONLY = [{"name": "cpu", "instance_type": "m5.xlarge", "count": 2}]


@pytest.fixture(scope="module")
def small_account(tmp_path_factory):
    state = tmp_path_factory.mktemp("small-account")
    profile = state / "small-account.json"
    profile.write_text(json.dumps(PROFILE))
    aws = LocalAWS(str(state / "state"))
    aws.start(realism=str(profile))
    yield aws
    aws.stop()


def site(small_account, tmp_path, check=False, tags=None, **extra):
    """site.yml of the local inventory against the small account; returns (rc, output, the calls it made)."""
    ansible = Ansible(small_account.url, str(tmp_path))
    variables = {"trainkit_cluster_name": unique("quota"), "trainkit_credentials_dir": str(tmp_path)}
    variables.update(extra)
    mark = small_account.mark()
    rc, output, _recap = ansible.playbook("site.yml", extra_vars=variables, check=check, tags=tags)
    return rc, " ".join(output.split()), [r["operation"] for r in small_account.requests(mark)]


def test_a_zero_g_instance_quota_stops_site_before_any_create(small_account, tmp_path):
    # the local inventory's node groups: two m5.xlarge, two g5.xlarge (4 vCPUs each) on demand
    rc, output, calls = site(small_account, tmp_path)
    assert rc != 0, output[-3000:]
    assert "ec2 L-DB2E81BA (G and VT vCPUs, on-demand) is 0: node groups gpu need 8 with 0 in use" in output
    assert (
        "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
        "--desired-value 8 --region us-west-2" in output
    ), output[-3000:]
    assert "GetServiceQuota" in calls and "DescribeInstanceTypeOfferings" in calls
    assert [c for c in calls if CHANGES.match(c)] == []


def test_an_instance_type_not_offered_in_a_zone_stops_site_naming_the_zones_that_offer_it(small_account, tmp_path):
    subnets = [
        {"az": "us-west-2a", "cidr": "172.20.1.0/24", "public": True},
        {"az": "us-west-2d", "cidr": "172.20.4.0/24", "public": True},
    ]
    spot_gpus = [{"name": "gpu", "instance_type": "g5.xlarge", "spot": True, "count": 1}]  # the spot quota is 64
    rc, output, calls = site(small_account, tmp_path, trainkit_nodegroups=spot_gpus, network_subnets=subnets)
    assert rc != 0, output[-3000:]
    assert (
        "node group gpu: g5.xlarge is not offered in us-west-2d (g5.xlarge is offered in us-west-2a, us-west-2b, "
        "us-west-2c)" in output
    ), output[-3000:]
    assert "Ask AWS for" not in output  # the spot G quota holds one g5.xlarge: the zone is the only problem
    assert [c for c in calls if CHANGES.match(c)] == []


def test_elastic_ips_below_the_nat_gateways_stop_site(small_account, tmp_path):
    """Two private zones with a NAT gateway each need two addresses; the account has one of its two already."""
    ec2 = small_account.client("ec2")
    other = ec2.allocate_address(Domain="vpc")  # someone else's, not the cluster's
    try:
        subnets = [
            {"az": "us-west-2a", "cidr": "172.20.1.0/24", "public": True},
            {"az": "us-west-2b", "cidr": "172.20.2.0/24", "public": True},
            {"az": "us-west-2a", "cidr": "172.20.16.0/20", "public": False},
            {"az": "us-west-2b", "cidr": "172.20.32.0/20", "public": False},
        ]
        rc, output, calls = site(
            small_account,
            tmp_path,
            trainkit_nodegroups=CPU_ONLY,
            network_subnets=subnets,
            network_nat_gateways="per_zone",
        )
    finally:
        ec2.release_address(AllocationId=other["AllocationId"])
    assert rc != 0, output[-3000:]
    assert "ec2 L-0263D0A3 (EC2-VPC Elastic IPs) is 2: the addresses of the NAT gateways need 2 with 1 in use" in output
    assert "--quota-code L-0263D0A3 --desired-value 3 --region us-west-2" in output, output[-3000:]
    assert [c for c in calls if CHANGES.match(c)] == []


def test_a_setup_within_the_quotas_passes_the_check_and_prints_the_table(small_account, tmp_path):
    rc, output, calls = site(small_account, tmp_path, check=True, tags=["identity"], trainkit_nodegroups=CPU_ONLY)
    assert rc == 0, output[-3000:]
    table = output.split("Capacity and quotas - need, in use, quota", 1)[1][:2000]
    assert "L-1216C47A Standard (A, C, D, H, I, M, R, T, Z) vCPUs, on-demand 8 0 1152 node groups cpu" in table
    assert "L-F678F1CE VPCs per Region 1 1 5 the network" in table  # the endpoint's default VPC is in use
    assert calls.count("GetServiceQuota") == 2, calls  # the two quotas the setup needs, read once
    assert [c for c in calls if CHANGES.match(c)] == []


def test_without_the_price_list_the_estimate_says_so_and_the_run_goes_on(small_account, tmp_path):
    """The Price List API out of reach (here: nothing listens where it should answer): no estimate, no failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:{0}".format(sock.getsockname()[1])  # bound, never listening: refused
        args = {"nodegroups": CPU_ONLY, "endpoint_url": closed, "max_attempts": 1, "region": "us-west-2"}
        result = Ansible(small_account.url, str(tmp_path)).module("cost_estimate", args)
    assert result.rc == 0 and result["changed"] is False, result.output[-2000:]
    assert result["complete"] is False and result["hourly_usd"] == 0
    assert result["message"].startswith("No cost estimate: the Price List API cannot be reached"), result["message"]
    assert result["message"].endswith("The run goes on.")


def test_the_estimate_prices_each_part_from_the_price_list(small_account, tmp_path):
    args = {
        "nodegroups": [
            {"name": "cpu", "instance_type": "m5.xlarge", "count": 2},
            {"name": "gpu", "instance_types": ["g5.xlarge", "g6.xlarge"], "spot": True, "max_size": 3},
        ],
        "subnets": [{"az": "us-west-2a", "public": True}, {"az": "us-west-2a", "public": False}],
        "eks_clusters": 1,
        "fsx": {"deployment_type": "PERSISTENT_1", "storage_capacity": 2400, "per_unit_storage_throughput": 50},
        "efs": True,
        "region": "us-west-2",
    }
    result = Ansible(small_account.url, str(tmp_path)).module("cost_estimate", args, check=True)
    assert result.rc == 0 and result["complete"] is True, result.output[-2000:]
    hourly = dict((i["item"], i["hourly_usd"]) for i in result["items"])
    assert hourly == {
        "node group cpu (m5.xlarge)": 0.384,
        "node group gpu (g5.xlarge | g6.xlarge, spot)": 3.018,  # the dearest type's on-demand price, 3 nodes
        "NAT gateways": 0.045,
        "EKS control plane": 0.1,
        "FSx for Lustre (PERSISTENT_1)": round(2400 * 0.145 / 730, 4),
        "EFS (per GB stored)": None,
    }
    assert result["hourly_usd"] == round(0.384 + 3.018 + 0.045 + 0.1 + round(2400 * 0.145 / 730, 4), 4)


def test_an_efa_group_of_a_type_without_efa_stops_site_before_any_call_or_in_the_capacity_check(
    small_account, tmp_path
):
    # a type the collection knows: refused with the other variables, before any AWS call
    known = [{"name": "gpu", "instance_type": "g5.xlarge", "efa": True, "zones": ["us-west-2a"], "count": 2}]
    rc, output, calls = site(small_account, tmp_path, trainkit_nodegroups=known)
    assert rc != 0, output[-3000:]
    assert (
        "trainkit_nodegroups[0] (gpu): efa needs instance types with EFA (EC2's EfaSupported); g5.xlarge has none"
        in (output)
    ), output[
        -3000:
    ]
    assert [c for c in calls if c.startswith("Describe") or CHANGES.match(c)] == [], calls
    # one it does not know: EC2 says (DescribeInstanceTypes, NetworkInfo.EfaSupported), in the capacity check
    unknown = [{"name": "cpu", "instance_type": "m6i.xlarge", "efa": True, "zones": ["us-west-2a"]}]
    rc, output, calls = site(small_account, tmp_path, trainkit_nodegroups=unknown)
    assert rc != 0, output[-3000:]
    assert "node group cpu: efa needs instance types with EFA (EC2's EfaSupported); m6i.xlarge has none" in output
    assert "DescribeInstanceTypes" in calls and [c for c in calls if CHANGES.match(c)] == [], calls


def test_kube_aws_controllers_and_etcd_count_against_the_quotas_beside_the_node_pools(small_account, tmp_path):
    """kube-aws runs its control plane on the account's instances: its controllers and etcd (t2.medium, kube-aws's
    default) need vCPUs of the standard quota and a zone that offers their type, and are priced."""
    rc, output, calls = site(
        small_account,
        tmp_path,
        check=True,
        tags=["identity"],
        trainkit_nodegroups=CPU_ONLY,
        trainkit_cluster_provider="kube_aws",
        cluster_kube_aws_controller_count=2,
    )
    assert rc == 0, output[-3000:]
    table = output.split("Capacity and quotas - need, in use, quota", 1)[1][:2000]
    # 2 m5.xlarge (4 vCPUs) + 2 controllers and 1 etcd member (t2.medium, 2 vCPUs)
    assert (
        "L-1216C47A Standard (A, C, D, H, I, M, R, T, Z) vCPUs, on-demand 14 0 1152 "
        "node groups cpu, kube-aws-controllers, kube-aws-etcd" in table
    ), table
    assert "node group kube-aws-controllers (t2.medium) 2" in output and "node group kube-aws-etcd" in output
    assert [c for c in calls if CHANGES.match(c)] == []
