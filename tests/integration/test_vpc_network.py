# -*- coding: utf-8 -*-
"""vpc_network against the local AWS endpoint: check mode, create, re-run, update, blocked delete, delete."""

from harness import eventually
from harness import ingress
from harness import unique
from harness import vpcs_of

SUBNETS = [
    {"az": "us-west-2a", "cidr": "172.20.1.0/24"},
    {"az": "us-west-2b", "cidr": "172.20.2.0/24"},
    {"az": "us-west-2c", "cidr": "172.20.3.0/24", "public": False},
]


def dns_attribute(ec2, vpc_id, name):
    key = name[0].upper() + name[1:]
    return ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=name)[key]["Value"]


def test_vpc_network_lifecycle(ansible, boto):
    ec2 = boto("ec2")
    cluster = unique("net")
    args = {"cluster_name": cluster, "cidr_block": "172.20.0.0/16", "subnets": SUBNETS, "tags": {"team": "ml"}}

    # check mode: reports the change and the would-be network, creates nothing
    result = ansible.module("vpc_network", args, check=True, diff=True)
    assert result.changed and not result.failed, result.output
    assert result["diff"]["before"] == {} and result["diff"]["after"]["cidr_block"] == "172.20.0.0/16"
    assert vpcs_of(ec2, cluster) == []

    # create
    result = ansible.module("vpc_network", args)
    assert result.changed, result.output
    [vpc] = vpcs_of(ec2, cluster)
    assert vpc["VpcId"] == result["vpc_id"] and vpc["CidrBlock"] == "172.20.0.0/16"
    assert dns_attribute(ec2, vpc["VpcId"], "enableDnsSupport") is True
    assert dns_attribute(ec2, vpc["VpcId"], "enableDnsHostnames") is True
    tags = dict((t["Key"], t["Value"]) for t in vpc["Tags"])
    assert tags["trainkit:cluster"] == cluster and tags["KubernetesCluster"] == cluster
    assert tags["kubernetes.io/cluster/" + cluster] == "owned" and tags["team"] == "ml"

    subnets = ec2.describe_subnets(SubnetIds=result["subnet_ids"])["Subnets"]
    by_id = dict((s["SubnetId"], s) for s in subnets)
    assert [(by_id[i]["CidrBlock"], by_id[i]["AvailabilityZone"]) for i in result["subnet_ids"]] == [
        (s["cidr"], s["az"]) for s in SUBNETS
    ]
    assert [s["cidr"] for s in result["subnets"]] == [s["cidr"] for s in SUBNETS]
    for subnet in subnets:
        subnet_tags = dict((t["Key"], t["Value"]) for t in subnet["Tags"])
        assert subnet_tags["trainkit:cluster"] == cluster

    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])
    assert [g["InternetGatewayId"] for g in igws["InternetGateways"]] == [result["internet_gateway_id"]]

    tables = ec2.describe_route_tables(RouteTableIds=result["route_table_ids"])["RouteTables"]
    routed = {}
    for table in tables:
        default = [r.get("GatewayId") for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        for assoc in table["Associations"]:
            if assoc.get("SubnetId"):
                routed[assoc["SubnetId"]] = default
    public_ids, private_id = result["subnet_ids"][:2], result["subnet_ids"][2]
    for subnet_id in public_ids:
        assert routed[subnet_id] == [result["internet_gateway_id"]]
    [nat] = result["nat_gateways"]  # single, in the first public subnet: the private subnet's way out
    assert nat["subnet_id"] == public_ids[0] and nat["state"] == "available"
    assert default_routes(ec2, vpc["VpcId"])[private_id] == (None, nat["nat_gateway_id"]), "out through the NAT"

    master, worker = result["security_group_ids"]["master"], result["security_group_ids"]["worker"]
    groups = dict((g["GroupId"], g) for g in ec2.describe_security_groups(GroupIds=[master, worker])["SecurityGroups"])
    assert ingress(groups[worker]) == {("-1", None, None, worker), ("tcp", 10250, 10250, master)}
    assert ingress(groups[master]) == {("-1", None, None, master), ("tcp", 443, 443, worker)}

    # re-run: nothing to do
    again = ansible.module("vpc_network", args)
    assert not again.changed, again.output
    assert again["vpc_id"] == result["vpc_id"] and again["subnet_ids"] == result["subnet_ids"]

    # update: a fourth subnet, a tag, SSH from one network - check mode first
    updated = dict(args, subnets=SUBNETS + [{"az": "us-west-2d", "cidr": "172.20.4.0/24"}], tags={"team": "research"})
    updated["ssh_cidrs"] = ["203.0.113.0/24"]
    checked = ansible.module("vpc_network", updated, check=True)
    assert checked.changed
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]) == 3
    result = ansible.module("vpc_network", updated)
    assert result.changed, result.output
    assert result["subnet_ids"][:3] == again["subnet_ids"], "existing subnets must be kept in place"
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]) == 4
    [vpc] = vpcs_of(ec2, cluster)
    tags = dict((t["Key"], t["Value"]) for t in vpc["Tags"])
    assert tags["team"] == "research" and tags["trainkit:cluster"] == cluster
    groups = dict((g["GroupId"], g) for g in ec2.describe_security_groups(GroupIds=[master, worker])["SecurityGroups"])
    assert ("tcp", 22, 22, "203.0.113.0/24") in ingress(groups[worker])
    for group in groups.values():
        assert not [r for r in ingress(group) if r[3] == "0.0.0.0/0"], "nothing may be open to the world"
    assert not ansible.module("vpc_network", updated).changed

    # something not ours in the VPC (an EFS mount target): absent fails, naming it, and deletes nothing
    efs = boto("efs")
    file_system = efs.create_file_system(CreationToken=cluster)["FileSystemId"]
    eventually(
        lambda: efs.describe_file_systems(FileSystemId=file_system)["FileSystems"][0]["LifeCycleState"] == "available"
    )
    target = efs.create_mount_target(FileSystemId=file_system, SubnetId=result["subnet_ids"][0])["MountTargetId"]
    blocked = ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"})
    assert blocked.failed
    assert file_system in blocked["msg"] and target in blocked["msg"]
    assert "storage teardown" in blocked["msg"]
    assert len(vpcs_of(ec2, cluster)) == 1
    assert len(ec2.describe_security_groups(GroupIds=[master, worker])["SecurityGroups"]) == 2
    efs.delete_mount_target(MountTargetId=target)
    eventually(lambda: not efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"])
    efs.delete_file_system(FileSystemId=file_system)

    # absent: check mode keeps it, then everything goes, then a second absent has nothing to do
    assert ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}, check=True).changed
    assert len(vpcs_of(ec2, cluster)) == 1
    gone = ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"})
    assert gone.changed, gone.output
    assert vpcs_of(ec2, cluster) == []
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"] == []
    assert ec2.describe_internet_gateways(InternetGatewayIds=[]).get("InternetGateways") is not None
    assert not [
        g
        for g in ec2.describe_internet_gateways()["InternetGateways"]
        if g["InternetGatewayId"] == result["internet_gateway_id"]
    ]
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupId"] in (master, worker)]
    assert not ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}).changed


def test_vpc_network_cidr_cannot_change(ansible, boto):
    cluster = unique("cidr")
    args = {
        "cluster_name": cluster,
        "cidr_block": "10.10.0.0/16",
        "subnets": [{"az": "us-west-2a", "cidr": "10.10.1.0/24"}],
    }
    assert ansible.module("vpc_network", args).changed
    moved = ansible.module("vpc_network", dict(args, cidr_block="10.11.0.0/16", subnets=[]))
    assert moved.failed and "10.10.0.0/16" in moved["msg"] and "cannot change" in moved["msg"]
    assert len(vpcs_of(boto("ec2"), cluster)) == 1
    assert ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}).changed


def test_vpc_network_removes_unlisted_subnet(ansible, boto):
    cluster = unique("shrink")
    two = [{"az": "us-west-2a", "cidr": "10.20.1.0/24"}, {"az": "us-west-2b", "cidr": "10.20.2.0/24"}]
    args = {"cluster_name": cluster, "cidr_block": "10.20.0.0/16", "subnets": two}
    first = ansible.module("vpc_network", args)
    smaller = ansible.module("vpc_network", dict(args, subnets=two[:1]))
    assert smaller.changed and smaller["subnet_ids"] == first["subnet_ids"][:1]
    remaining = boto("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [first["vpc_id"]]}])["Subnets"]
    assert [s["SubnetId"] for s in remaining] == first["subnet_ids"][:1]
    assert ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}).changed


def test_vpc_network_unknown_zone_creates_nothing(ansible, boto):
    cluster = unique("zone")
    args = {
        "cluster_name": cluster,
        "cidr_block": "10.40.0.0/16",
        "subnets": [{"az": "us-west-2z", "cidr": "10.40.1.0/24"}],
    }
    result = ansible.module("vpc_network", args)
    assert result.failed and "us-west-2z" in result["msg"] and "us-west-2a" in result["msg"]
    assert vpcs_of(boto("ec2"), cluster) == []


def default_routes(ec2, vpc_id):
    """{subnet id: (internet gateway id, NAT gateway id)} of each associated subnet's default route."""
    routes = {}
    for table in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]:
        default = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        for assoc in table["Associations"]:
            if assoc.get("SubnetId"):
                routes[assoc["SubnetId"]] = (
                    (default[0].get("GatewayId"), default[0].get("NatGatewayId")) if default else (None, None)
                )
    return routes


def nat_addresses(ec2, cluster):
    return ec2.describe_addresses(Filters=[{"Name": "tag:trainkit:cluster", "Values": [cluster]}])["Addresses"]


def live_nat_gateways(ec2, vpc_id):
    found = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    return [g for g in found if g["State"] in ("pending", "available", "deleting")]


def test_vpc_network_private_subnets_behind_nat(ansible, boto, local_aws):
    """Private subnets: no public IPs, a default route through a NAT gateway (single, then one per zone), the NAT
    gateways waited for while AWS still has them pending, their tagged Elastic IPs released when they go."""
    ec2 = boto("ec2")
    cluster = unique("nat")
    subnets = [
        {"az": "us-west-2a", "cidr": "10.50.1.0/24"},
        {"az": "us-west-2b", "cidr": "10.50.2.0/24"},
        {"az": "us-west-2a", "cidr": "10.50.11.0/24", "public": False},
        {"az": "us-west-2b", "cidr": "10.50.12.0/24", "public": False},
    ]
    args = {"cluster_name": cluster, "cidr_block": "10.50.0.0/16", "subnets": subnets}

    checked = ansible.module("vpc_network", args, check=True)
    assert checked.changed and [n["state"] for n in checked["nat_gateways"]] == ["pending"], checked.output
    mark = local_aws.mark()
    result = ansible.module("vpc_network", args)
    assert result.changed, result.output
    log = [r["operation"] for r in local_aws.requests(mark) if r["service"] == "ec2"]
    created = log.index("CreateNatGateway")
    # the NAT gateway was still pending when the wait began: it took more than one look to see it available
    assert log[created + 1 :].count("DescribeNatGateways") >= 2, log
    assert log.index("CreateRoute", created) > created, "no route to the NAT gateway before it exists"

    public_a, public_b, private_a, private_b = result["subnet_ids"]
    [nat] = result["nat_gateways"]
    assert nat["subnet_id"] == public_a and nat["state"] == "available" and nat["public_ip"]
    routes = default_routes(ec2, result["vpc_id"])
    assert routes[public_a] == routes[public_b] == (result["internet_gateway_id"], None)
    assert routes[private_a] == routes[private_b] == (None, nat["nat_gateway_id"])
    found = dict((s["SubnetId"], s) for s in ec2.describe_subnets(SubnetIds=result["subnet_ids"])["Subnets"])
    assert [found[i]["MapPublicIpOnLaunch"] for i in result["subnet_ids"]] == [True, True, False, False]
    [address] = nat_addresses(ec2, cluster)
    assert address["AllocationId"] == nat["allocation_id"]
    assert dict((t["Key"], t["Value"]) for t in address["Tags"])["trainkit:nat"] == "shared"
    assert not ansible.module("vpc_network", args).changed

    # one NAT gateway per zone: each zone's private subnet leaves through its own; the shared one and its address go
    per_zone = ansible.module("vpc_network", dict(args, nat_gateways="per_zone"))
    assert per_zone.changed, per_zone.output
    nats = dict((n["az"], n) for n in per_zone["nat_gateways"])
    assert sorted(nats) == ["us-west-2a", "us-west-2b"] and nat["nat_gateway_id"] not in per_zone.output
    assert nats["us-west-2a"]["subnet_id"] == public_a and nats["us-west-2b"]["subnet_id"] == public_b
    routes = default_routes(ec2, result["vpc_id"])
    assert routes[private_a] == (None, nats["us-west-2a"]["nat_gateway_id"])
    assert routes[private_b] == (None, nats["us-west-2b"]["nat_gateway_id"])
    assert len(per_zone["route_table_ids"]) == 3  # public, private-us-west-2a, private-us-west-2b
    assert sorted(a["AllocationId"] for a in nat_addresses(ec2, cluster)) == sorted(
        n["allocation_id"] for n in nats.values()
    )
    assert sorted(g["NatGatewayId"] for g in live_nat_gateways(ec2, result["vpc_id"])) == sorted(
        n["nat_gateway_id"] for n in nats.values()
    )
    assert not ansible.module("vpc_network", dict(args, nat_gateways="per_zone")).changed

    # a zone with private subnets but no public one cannot have its own NAT gateway: refused before any change
    lopsided = dict(
        args,
        nat_gateways="per_zone",
        subnets=subnets + [{"az": "us-west-2c", "cidr": "10.50.13.0/24", "public": False}],
    )
    refused = ansible.module("vpc_network", lopsided)
    assert refused.failed and "us-west-2c has no public subnet" in refused["msg"], refused.output
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [result["vpc_id"]]}])["Subnets"]) == 4

    # absent: the NAT gateways are waited for until deleted, then their addresses released, then the rest
    gone = ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"})
    assert gone.changed, gone.output
    assert vpcs_of(ec2, cluster) == [] and nat_addresses(ec2, cluster) == []
    assert live_nat_gateways(ec2, result["vpc_id"]) == []
