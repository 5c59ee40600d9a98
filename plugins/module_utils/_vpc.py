# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network model of vpc_network: the cluster's VPC, subnets, gateways, NAT gateways and their addresses, route
tables and security groups as they are in AWS (``Network``, each lookup made once), and the steps that bring them to
what the module's options ask for, or remove them."""

from __future__ import annotations

import functools

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import current_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import create_group
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import lustre_client_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import sync_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import wait_groups
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_for
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_visible
from ansible_collections.trainkit.aws.plugins.module_utils.tags import CLUSTER_TAG
from ansible_collections.trainkit.aws.plugins.module_utils.tags import apply_tag_diff
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import diff_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import ec2_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict

KUBELET_PORT = 10250
NOT_FOUND = (
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidNatGatewayID.NotFound",
    "NatGatewayNotFound",
    "InvalidAllocationID.NotFound",
)
ELB_ROLE_TAG = {True: "kubernetes.io/role/elb", False: "kubernetes.io/role/internal-elb"}
ROLE_TAG = "trainkit:role"
NAT_TAG = "trainkit:nat"  # which NAT gateway an Elastic IP or NAT gateway is: "shared" or the zone it serves
LIVE_NAT_STATES = ("pending", "available")


def cached(method):
    """Read once per state: a lookup is answered from the cache until something changes the network."""

    def read(self):
        if method.__name__ not in self.cache:
            self.cache[method.__name__] = method(self)
        return self.cache[method.__name__]

    read.__name__ = method.__name__
    read.__doc__ = method.__doc__
    return read


class ChangesForget:
    """The EC2 client as the Network uses it: a call that changes something (any but describe_, get_, list_ and
    can_) first drops every lookup the Network keeps, so no answer outlives a change, whoever makes the call."""

    READS = ("describe_", "get_", "list_", "can_")

    def __init__(self, client, cache):
        self._client = client
        self._cache = cache

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if name.startswith(self.READS) or not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def changing(*args, **kwargs):
            self._cache.clear()
            return attribute(*args, **kwargs)

        return changing


class Network:
    """The cluster's network as it is in AWS, and the steps that make it as wanted.

    Each lookup is made once and kept until a call changes the network (``ec2`` forgets them then), so an
    idempotent run reads every part of the network once (AWS calls are slow, throttled and counted). What a step
    knows without asking - a VPC it just saw become available - it tells ``remember``.
    """

    def __init__(self, module):
        self.module = module
        self._cache = {}
        self.ec2 = ChangesForget(module.client("ec2"), self._cache)
        self.cluster = module.params["cluster_name"]
        self.changed = False
        self.vpc = None

    @property
    def cache(self):  # what @cached reads and fills
        return self._cache

    def remember(self, lookup, value):
        """The answer a lookup (a @cached method's name) gives until the next change."""
        self._cache[lookup] = value
        return value

    def forget(self, lookup):
        self._cache.pop(lookup, None)

    # -- lookups -----------------------------------------------------------
    def vpc_filter(self):
        return [{"Name": "vpc-id", "Values": [self.vpc["VpcId"]]}]

    def find_vpc(self):
        vpcs = paginate(
            self.ec2, "describe_vpcs", "Vpcs", Filters=[{"Name": "tag:" + CLUSTER_TAG, "Values": [self.cluster]}]
        )
        if len(vpcs) > 1:
            raise TrainkitError(
                "Several VPCs carry the tag {0}={1}: {2}.".format(
                    CLUSTER_TAG, self.cluster, ", ".join(v["VpcId"] for v in vpcs)
                ),
                hint="delete or re-tag the extra VPCs so each cluster has exactly one",
            )
        self.vpc = vpcs[0] if vpcs else None
        if self.vpc is not None:
            self.remember("current_vpc", self.vpc)
        return self.vpc

    @cached
    def current_vpc(self):
        """The VPC as it is now (find_vpc's answer until something changed)."""
        return self.ec2.describe_vpcs(VpcIds=[self.vpc["VpcId"]])["Vpcs"][0]

    @cached
    def subnets(self):
        return paginate(self.ec2, "describe_subnets", "Subnets", Filters=self.vpc_filter())

    def our_subnets(self):
        return [s for s in self.subnets() if tag_dict(s.get("Tags")).get(CLUSTER_TAG) == self.cluster]

    @cached
    def internet_gateways(self):
        """The cluster's gateways (by tag): attached to its VPC, or left detached by an interrupted run."""
        return paginate(
            self.ec2,
            "describe_internet_gateways",
            "InternetGateways",
            Filters=[{"Name": "tag:" + CLUSTER_TAG, "Values": [self.cluster]}],
        )

    @cached
    def internet_gateway(self):
        """The VPC's gateway: the cluster's own (attached first), else one attached by someone else."""
        vpc_id = self.vpc["VpcId"]
        ours = sorted(self.internet_gateways(), key=lambda g: not attached_to(g, vpc_id))
        if ours and (attached_to(ours[0], vpc_id) or not ours[0].get("Attachments")):
            return ours[0]
        igws = paginate(
            self.ec2,
            "describe_internet_gateways",
            "InternetGateways",
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
        )
        return igws[0] if igws else None

    @cached
    def route_tables(self):
        """Our route tables by kind ('public', 'private', or 'private-<az>' per zone), found by their role tag."""
        tables = paginate(self.ec2, "describe_route_tables", "RouteTables", Filters=self.vpc_filter())
        found = {}
        for table in tables:
            role = tag_dict(table.get("Tags")).get(ROLE_TAG) or ""
            if role in ("public", "private") or role.startswith("private-"):
                found[role] = table
        return found, tables

    @cached
    def vpc_nat_gateways(self):
        """Every NAT gateway in the VPC that is not gone yet (pending, available, deleting; AWS lists deleted and
        failed ones for an hour more) - the cluster's and anyone else's."""
        return paginate(
            self.ec2,
            "describe_nat_gateways",
            "NatGateways",
            Filter=self.vpc_filter() + [{"Name": "state", "Values": list(LIVE_NAT_STATES) + ["deleting"]}],
        )

    def nat_gateways(self):
        """The cluster's NAT gateways in the VPC that are not gone yet."""
        return [g for g in self.vpc_nat_gateways() if tag_dict(g.get("Tags")).get(CLUSTER_TAG) == self.cluster]

    @cached
    def addresses(self):
        """The cluster's NAT Elastic IPs, by their tags (an address has no VPC until it is associated)."""
        found = self.ec2.describe_addresses(Filters=[{"Name": "tag:" + CLUSTER_TAG, "Values": [self.cluster]}])
        return [a for a in found["Addresses"] if NAT_TAG in tag_dict(a.get("Tags"))]

    @cached
    def security_groups(self):
        groups = paginate(self.ec2, "describe_security_groups", "SecurityGroups", Filters=self.vpc_filter())
        found = {}
        for group in groups:
            role = tag_dict(group.get("Tags")).get(ROLE_TAG)
            if role in ("master", "worker") and tag_dict(group.get("Tags")).get(CLUSTER_TAG) == self.cluster:
                found[role] = group
        return found, groups

    @cached
    def dns_attributes(self):
        vpc_id = self.vpc["VpcId"]
        support = self.ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")
        hostnames = self.ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")
        return {
            "enable_dns_support": support["EnableDnsSupport"]["Value"],
            "enable_dns_hostnames": hostnames["EnableDnsHostnames"]["Value"],
        }

    # -- tags ----------------------------------------------------------------
    def ensure_tags(self, resource_id, current, wanted, purge):
        return sync_tags(self.module.check_mode, current, wanted, purge, ec2_tagger(self.ec2, resource_id))[0]

    def tag_spec(self, resource_type, name, extra=None):
        tags = dict(cluster_tags(self.cluster), Name=name)
        tags.update(extra or {})
        return [{"ResourceType": resource_type, "Tags": boto3_tag_list(tags)}]

    def use(self, call, **kwargs):
        """Make a call that names resources of the network, retrying while EC2 does not see them yet.

        A resource this run created was waited for already; one found by its tags may have been created moments
        ago by a run that was interrupted, and EC2's describe-by-filter can list it before calls by id find it.
        """
        return wait_visible(
            call,
            self.module.params["wait_timeout"],
            "EC2 to know the resources of {0}".format(call.__name__),
            NOT_FOUND,
            **kwargs,
        )

    def mark(self, changed):
        """Record that the run changes the network (in check mode: would change it)."""
        if changed:
            self.changed = True


def attached_to(igw, vpc_id):
    return any(a.get("VpcId") == vpc_id for a in igw.get("Attachments", []))


# -- security group rules -------------------------------------------------------
def wanted_rules(params, group_ids, lustre_group=None):
    """The exact ingress rules of each group, as (protocol, from_port, to_port, kind, source) tuples; with the
    cluster's FSx for Lustre group (fsx_lustre's), the workers admit Lustre's connections from it."""
    master, worker = group_ids.get("master"), group_ids.get("worker")
    api = params["api_port"]
    rules = {
        "master": {("-1", None, None, "sg", master), ("tcp", api, api, "sg", worker)},
        "worker": {("-1", None, None, "sg", worker), ("tcp", KUBELET_PORT, KUBELET_PORT, "sg", master)},
    }
    for cidr in params["api_cidrs"]:
        rules["master"].add(("tcp", api, api, "cidr", cidr))
    for cidr in params["ssh_cidrs"]:
        rules["master"].add(("tcp", 22, 22, "cidr", cidr))
        rules["worker"].add(("tcp", 22, 22, "cidr", cidr))
    if lustre_group:
        rules["worker"] |= lustre_client_rules(lustre_group)
    return rules


def describe_rule(rule, names):
    proto, from_port, to_port, kind, source = rule
    what = (
        "all traffic"
        if proto == "-1"
        else "{0} {1}".format(proto, from_port if from_port == to_port else "{0}-{1}".format(from_port, to_port))
    )
    return "{0} from {1}".format(what, names.get(source, source))


# -- present --------------------------------------------------------------------
def validate_present(module, region):
    p = module.params
    problems = validate.cluster_name(p["cluster_name"])
    if p["cidr_block"] is None:
        problems.append("cidr_block is required with state=present; e.g. '172.20.0.0/16'")
    else:
        problems += validate.subnets(p["cidr_block"], p["subnets"], region)
    problems += validate.nat_gateways(p["nat_gateways"], p["subnets"])
    problems += validate.cidr_list(p["ssh_cidrs"], "ssh_cidrs") + validate.cidr_list(p["api_cidrs"], "api_cidrs")
    if not 1 <= p["api_port"] <= 65535:
        problems.append("api_port {0} is not a TCP port (1-65535)".format(p["api_port"]))
    problems += validate.tags(p["tags"])
    return problems


def ensure_vpc(net, p):
    wanted, purge = desired_tags(p["tags"], net.cluster, p["purge_tags"], extra={"Name": net.cluster})
    if net.vpc is None:
        if net.module.check_mode:
            return True
        net.vpc = net.ec2.create_vpc(
            CidrBlock=p["cidr_block"],
            TagSpecifications=[{"ResourceType": "vpc", "Tags": boto3_tag_list(wanted)}],
        )["Vpc"]
        net.mark(True)
        # a new VPC is not found at once (InvalidVpcID.NotFound), and botocore's vpc_available waiter has no
        # acceptor for that: one wait for both, found and available
        net.remember(
            "current_vpc",
            wait_visible(
                net.ec2.describe_vpcs,
                p["wait_timeout"],
                "VPC {0} to be available".format(net.vpc["VpcId"]),
                ("InvalidVpcID.NotFound",),
                ready=lambda found: found["Vpcs"][0]["State"] == "available",
                VpcIds=[net.vpc["VpcId"]],
            )["Vpcs"][0],
        )
        # a new VPC has AWS's defaults: DNS support on, DNS hostnames off
        net.remember("dns_attributes", {"enable_dns_support": True, "enable_dns_hostnames": False})
    elif net.vpc["CidrBlock"] != p["cidr_block"]:
        raise TrainkitError(
            "The VPC {0} of cluster {1} has CIDR {2}, not {3}; a VPC's CIDR cannot change.".format(
                net.vpc["VpcId"], net.cluster, net.vpc["CidrBlock"], p["cidr_block"]
            ),
            hint="set cidr_block to {0}, or delete the network (state=absent) and create it again".format(
                net.vpc["CidrBlock"]
            ),
        )
    else:
        net.mark(net.ensure_tags(net.vpc["VpcId"], tag_dict(net.vpc.get("Tags")), wanted, purge))
    attributes = net.dns_attributes()
    fixed = dict(attributes)
    for attribute, key in (("EnableDnsSupport", "enable_dns_support"), ("EnableDnsHostnames", "enable_dns_hostnames")):
        if not attributes[key]:
            net.mark(True)
            if not net.module.check_mode:
                net.ec2.modify_vpc_attribute(VpcId=net.vpc["VpcId"], **{attribute: {"Value": True}})
                fixed[key] = True
    net.remember("dns_attributes", fixed)  # what the calls above made it
    return False


def ensure_internet_gateway(net, p):
    """The VPC's gateway; one left detached by an interrupted run is attached rather than duplicated."""
    igw = net.internet_gateway()
    if igw is not None and attached_to(igw, net.vpc["VpcId"]):
        return igw["InternetGatewayId"]
    net.mark(True)
    if net.module.check_mode:
        return igw["InternetGatewayId"] if igw else None
    if igw is None:
        igw = net.ec2.create_internet_gateway(TagSpecifications=net.tag_spec("internet-gateway", net.cluster + "-igw"))[
            "InternetGateway"
        ]
        wait_visible(
            net.ec2.describe_internet_gateways,
            p["wait_timeout"],
            "internet gateway {0} to be visible".format(igw["InternetGatewayId"]),
            ("InvalidInternetGatewayID.NotFound", "InvalidInternetGateway.NotFound"),
            InternetGatewayIds=[igw["InternetGatewayId"]],
        )
    net.use(net.ec2.attach_internet_gateway, InternetGatewayId=igw["InternetGatewayId"], VpcId=net.vpc["VpcId"])
    return igw["InternetGatewayId"]


def ensure_subnets(net, p):
    """Create missing subnets, delete unlisted ones (purge_subnets); returns {cidr: subnet} for the wanted ones."""
    existing = dict((s["CidrBlock"], s) for s in net.subnets())
    wanted_cidrs = set(spec["cidr"] for spec in p["subnets"])
    result = {}
    new = {}
    for spec in p["subnets"]:  # before any change: a subnet cannot move
        subnet = existing.get(spec["cidr"])
        if subnet is not None and subnet["AvailabilityZone"] != spec["az"]:
            raise TrainkitError(
                "Subnet {0} ({1}) is in {2}, not {3}; a subnet cannot move.".format(
                    subnet["SubnetId"], spec["cidr"], subnet["AvailabilityZone"], spec["az"]
                ),
                hint="set az to {0}, or give the new subnet another CIDR".format(subnet["AvailabilityZone"]),
            )
    for spec in p["subnets"]:
        subnet = existing.get(spec["cidr"])
        if subnet is None:
            net.mark(True)
            if net.module.check_mode:
                continue
            name = "{0}-{1}-{2}".format(net.cluster, "public" if spec["public"] else "private", spec["az"])
            new[spec["cidr"]] = net.ec2.create_subnet(
                VpcId=net.vpc["VpcId"],
                CidrBlock=spec["cidr"],
                AvailabilityZone=spec["az"],
                TagSpecifications=net.tag_spec("subnet", name, {ELB_ROLE_TAG[spec["public"]]: "1"}),
            )["Subnet"]
    if new:  # one wait for all of them: new subnets are not found at once
        wait_visible(
            net.ec2.describe_subnets,
            p["wait_timeout"],
            "subnets {0} to be available".format(", ".join(s["SubnetId"] for s in new.values())),
            ("InvalidSubnetID.NotFound",),
            ready=lambda found: all(s["State"] == "available" for s in found["Subnets"]),
            SubnetIds=[s["SubnetId"] for s in new.values()],
        )
    for spec in p["subnets"]:
        subnet = existing.get(spec["cidr"]) or new.get(spec["cidr"])
        if subnet is None:  # check mode
            continue
        if spec["cidr"] not in new:  # an existing subnet: its tags may need mending
            net.mark(
                net.ensure_tags(
                    subnet["SubnetId"],
                    tag_dict(subnet.get("Tags")),
                    dict(cluster_tags(net.cluster), **{ELB_ROLE_TAG[spec["public"]]: "1"}),
                    False,
                )
            )
        if bool(subnet.get("MapPublicIpOnLaunch")) != spec["public"]:
            net.mark(True)
            if not net.module.check_mode:
                net.use(
                    net.ec2.modify_subnet_attribute,
                    SubnetId=subnet["SubnetId"],
                    MapPublicIpOnLaunch={"Value": spec["public"]},
                )
        result[spec["cidr"]] = subnet
    if p["purge_subnets"]:
        for cidr, subnet in existing.items():
            if cidr not in wanted_cidrs and tag_dict(subnet.get("Tags")).get(CLUSTER_TAG) == net.cluster:
                net.mark(True)
                if not net.module.check_mode:
                    delete_subnet(net, subnet)
    return result


def delete_subnet(net, subnet):
    tables, _all = net.route_tables()
    for table in tables.values():
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId") == subnet["SubnetId"]:
                net.ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    try:
        net.ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    except ClientError as exc:
        net.module.fail_aws(
            exc,
            msg="Could not delete subnet {0} ({1}), no longer listed in subnets.".format(
                subnet["SubnetId"], subnet["CidrBlock"]
            ),
            hint="something still uses it (an EFS mount target, an instance); "
            "delete that first or list the subnet again",
        )


# -- NAT gateways ---------------------------------------------------------------------
def nat_plan(p):
    """The NAT gateways wanted: {key: CIDRs of the public subnets it may live in}, the key "shared" (single) or the
    zone it serves (per_zone). Empty when no subnet is private or nat_gateways is none."""
    private_zones = sorted(set(s["az"] for s in p["subnets"] if not s["public"]))
    if p["nat_gateways"] == "none" or not private_zones:
        return {}
    public = [s for s in p["subnets"] if s["public"]]
    if p["nat_gateways"] == "single":
        return {"shared": [s["cidr"] for s in public]}
    return dict((az, [s["cidr"] for s in public if s["az"] == az]) for az in private_zones)


def table_kind(spec, p):
    """The route table a subnet belongs to: public, private, or private-<az> (one per zone with per_zone NAT)."""
    if spec["public"]:
        return "public"
    return "private-" + spec["az"] if p["nat_gateways"] == "per_zone" else "private"


def table_kinds(p):
    """The route tables wanted, public first, then the private ones in zone order."""
    kinds = set(table_kind(spec, p) for spec in p["subnets"])
    return (["public"] if "public" in kinds else []) + sorted(kinds - {"public"})


def nat_key(kind, p):
    """The NAT gateway a private route table's default route goes to (None: no default route)."""
    if p["nat_gateways"] == "none" or kind == "public":
        return None
    return kind[len("private-") :] if kind.startswith("private-") else "shared"


def ensure_nat_gateways(net, p, subnets):
    """A NAT gateway per key of nat_plan, found by its tags (pending or available) or created, each waited for
    until available. An Elastic IP left free by an interrupted run (allocated, tagged, no NAT gateway made yet) is
    used rather than a second one allocated. Returns {key: NAT gateway}."""
    live = [g for g in net.nat_gateways() if g["State"] in LIVE_NAT_STATES]
    chosen = {}
    for key, cidrs in sorted(nat_plan(p).items()):
        homes = [subnets[c]["SubnetId"] for c in cidrs if c in subnets]
        found = [g for g in live if tag_dict(g.get("Tags")).get(NAT_TAG) == key and g["SubnetId"] in homes]
        if found:
            chosen[key] = found[0]
            continue
        net.mark(True)
        if net.module.check_mode or not homes:  # check mode (the subnet may be still to create)
            continue
        chosen[key] = create_nat_gateway(net, p, key, homes[0])
    pending = [g["NatGatewayId"] for g in chosen.values() if g["State"] != "available"]
    if pending and not net.module.check_mode:
        ready = dict((g["NatGatewayId"], g) for g in wait_nat_gateways(net, p, pending, "available"))
        chosen = dict((key, ready.get(g["NatGatewayId"], g)) for key, g in chosen.items())
    return chosen


def create_nat_gateway(net, p, key, subnet_id):
    name = "{0}-nat-{1}".format(net.cluster, key)
    extra = {NAT_TAG: key}
    free = [a for a in net.addresses() if tag_dict(a.get("Tags")).get(NAT_TAG) == key and not a.get("AssociationId")]
    if free:
        allocation_id = free[0]["AllocationId"]
    else:  # tagged in the same call: an interrupted run's address is found again, and torn down
        allocation_id = net.ec2.allocate_address(
            Domain="vpc", TagSpecifications=net.tag_spec("elastic-ip", name, extra)
        )["AllocationId"]
    return net.use(
        net.ec2.create_nat_gateway,
        SubnetId=subnet_id,
        AllocationId=allocation_id,
        TagSpecifications=net.tag_spec("natgateway", name, extra),
    )["NatGateway"]


def wait_nat_gateways(net, p, ids, state):
    """Wait until every NAT gateway in ids is in state (available: minutes on AWS; a failed one fails the run with
    AWS's reason). A gateway AWS no longer lists counts as deleted."""

    def check():
        try:
            found = net.ec2.describe_nat_gateways(NatGatewayIds=ids)["NatGateways"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND and state == "available":
                return None  # just created, not visible yet
            if error_code(exc) in NOT_FOUND:
                return [{"State": "deleted"}]
            raise
        if state == "available":
            for gateway in found:
                if gateway["State"] in ("failed", "deleting", "deleted"):
                    raise TrainkitError(
                        "NAT gateway {0} is {1}: {2}".format(
                            gateway["NatGatewayId"],
                            gateway["State"],
                            gateway.get("FailureMessage") or "no reason given",
                        ),
                        hint="a NAT gateway needs the VPC's internet gateway attached and a free Elastic IP (quota: 5 "
                        "per region by default); fix that and run again",
                    )
            done = len(found) == len(ids) and all(g["State"] == "available" for g in found)
        else:  # a gateway AWS no longer lists is gone too
            done = all(g["State"] in ("deleted", "failed") for g in found)
        return (found or [{"State": state}]) if done else None

    return wait_for(check, p["wait_timeout"], "NAT gateway(s) {0} to be {1}".format(", ".join(ids), state), 1.0, 10.0)


def delete_nat_gateways(net, p, gateways, keep_addresses=()):
    """Delete NAT gateways and wait until AWS has deleted them (until then their Elastic IPs stay associated and
    the internet gateway cannot be detached), then release the cluster's NAT addresses no gateway uses."""
    for gateway in gateways:
        if gateway["State"] != "deleting":
            net.ec2.delete_nat_gateway(NatGatewayId=gateway["NatGatewayId"])
    if gateways:
        wait_nat_gateways(net, p, [g["NatGatewayId"] for g in gateways], "deleted")
    net.forget("addresses")
    for address in net.addresses():
        if address["AllocationId"] in keep_addresses or address.get("AssociationId"):
            continue
        # AWS may list the address as associated for a moment after its gateway is deleted
        wait_visible(
            net.ec2.release_address,
            p["wait_timeout"],
            "Elastic IP {0} to be free".format(address.get("PublicIp")),
            ("InvalidIPAddress.InUse",),
            AllocationId=address["AllocationId"],
        )


def retire_nat_gateways(net, p, chosen):
    """Delete the cluster's NAT gateways no route needs any more, and release free NAT addresses."""
    keep = set(g["NatGatewayId"] for g in chosen.values())
    old = [g for g in net.nat_gateways() if g["NatGatewayId"] not in keep]
    used = set(a.get("AllocationId") for g in chosen.values() for a in g.get("NatGatewayAddresses", []))
    free = [a for a in net.addresses() if a["AllocationId"] not in used and not a.get("AssociationId")]
    if not old and not free:
        return
    net.mark(True)
    if not net.module.check_mode:
        delete_nat_gateways(net, p, old, keep_addresses=used)


def ensure_route_tables(net, p, subnets, igw_id, nats=None):
    tables, _all = net.route_tables()
    nats = nats or {}
    kinds = table_kinds(p)
    for kind in kinds:
        table = tables.get(kind)
        if table is None:
            net.mark(True)
            if net.module.check_mode:
                continue
            table = net.ec2.create_route_table(
                VpcId=net.vpc["VpcId"],
                TagSpecifications=net.tag_spec("route-table", "{0}-{1}".format(net.cluster, kind), {ROLE_TAG: kind}),
            )["RouteTable"]
            wait_visible(
                net.ec2.describe_route_tables,
                p["wait_timeout"],
                "route table {0} to be visible".format(table["RouteTableId"]),
                ("InvalidRouteTableID.NotFound",),
                RouteTableIds=[table["RouteTableId"]],
            )
            tables[kind] = table
        if kind == "public" and igw_id:
            ensure_default_route(net, table, GatewayId=igw_id)
        if kind != "public":
            ensure_nat_route(net, table, nats.get(nat_key(kind, p)), nat_key(kind, p))
    # associations: every listed subnet to the table of its kind
    _tables, all_tables = net.route_tables()
    associations = {}
    for table in all_tables:
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId"):
                associations[assoc["SubnetId"]] = (table["RouteTableId"], assoc["RouteTableAssociationId"])
    for spec in p["subnets"]:
        subnet = subnets.get(spec["cidr"])
        table = tables.get(table_kind(spec, p))
        if subnet is None or table is None:
            continue
        current = associations.get(subnet["SubnetId"])
        if current and current[0] == table["RouteTableId"]:
            continue
        net.mark(True)
        if net.module.check_mode:
            continue
        if current:
            net.use(
                net.ec2.replace_route_table_association, AssociationId=current[1], RouteTableId=table["RouteTableId"]
            )
        else:
            net.use(net.ec2.associate_route_table, RouteTableId=table["RouteTableId"], SubnetId=subnet["SubnetId"])
    # tables of a former layout (single <-> per_zone, no private subnets any more): their subnets moved above
    current, _all = net.route_tables()  # read again: the associations above moved
    for kind, table in current.items():
        if kind not in kinds:
            net.mark(True)
            if not net.module.check_mode:
                delete_route_table(net, table)
    return [tables[k]["RouteTableId"] for k in kinds if k in tables]


def ensure_nat_route(net, table, gateway, key):
    """A private table's default route: to its NAT gateway, or none (nat_gateways none; a route to one of our
    NAT gateways is removed, a route someone else added is left alone)."""
    if key is None:
        default = default_route(table)
        if default and default.get("NatGatewayId") in set(g["NatGatewayId"] for g in net.nat_gateways()):
            net.mark(True)
            if not net.module.check_mode:
                net.ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
        return
    if gateway is None:  # check mode: the gateway is still to be created
        net.mark(True)
        return
    ensure_default_route(net, table, NatGatewayId=gateway["NatGatewayId"])


def default_route(table):
    """A route table's route for 0.0.0.0/0, or None."""
    return next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"), None)


def ensure_default_route(net, table, **target):
    """The table's 0.0.0.0/0 route to ``target`` (GatewayId= an internet gateway, NatGatewayId= a NAT gateway),
    created or replaced - also when it points there but AWS reports it as a blackhole."""
    default = default_route(table)
    if default and all(default.get(k) == v for k, v in target.items()) and default.get("State") != "blackhole":
        return
    net.mark(True)
    if not net.module.check_mode:
        call = net.ec2.replace_route if default else net.ec2.create_route
        net.use(call, RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", **target)


def delete_route_table(net, table):
    for assoc in table.get("Associations", []):
        if not assoc.get("Main"):
            net.ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    net.ec2.delete_route_table(RouteTableId=table["RouteTableId"])


def ensure_security_groups(net, p):
    groups, _all = net.security_groups()
    created = []
    for role in ("master", "worker"):
        if role in groups:
            continue
        net.mark(True)
        if net.module.check_mode:
            continue
        groups[role] = create_group(
            net.ec2,
            net.vpc["VpcId"],
            "{0}-{1}".format(net.cluster, role),
            "trainkit {0} nodes of cluster {1}".format(role, net.cluster),
            dict(cluster_tags(net.cluster), **{ROLE_TAG: role}),
            None,
        )
        created.append(groups[role]["GroupId"])
    if created:  # one wait for both: new groups are not found at once
        wait_groups(net.ec2, created, p["wait_timeout"])
    if len(groups) < 2:  # check mode, groups still to be created
        return dict((role, g["GroupId"]) for role, g in groups.items())
    ids = dict((role, g["GroupId"]) for role, g in groups.items())
    _groups, in_vpc = net.security_groups()
    lustre = [
        g["GroupId"]
        for g in in_vpc
        if g["GroupName"] == net.cluster + "-fsx" and tag_dict(g.get("Tags")).get(CLUSTER_TAG) == net.cluster
    ]
    wanted = wanted_rules(p, ids, lustre[0] if lustre else None)
    for role, group in groups.items():
        net.mark(sync_rules(net.ec2, group, wanted[role], net.module.check_mode))
    return ids


def describe_network(net, p=None):
    """The network's summary: the module's result and the diff's before/after."""
    if net.vpc is None:
        return {}
    subnets = dict((s["CidrBlock"], s) for s in net.subnets())
    specs = (
        p["subnets"]
        if p
        else [
            {"cidr": s["CidrBlock"], "az": s["AvailabilityZone"], "public": bool(s.get("MapPublicIpOnLaunch"))}
            for s in sorted(subnets.values(), key=lambda s: s["CidrBlock"])
        ]
    )
    listed = []
    for spec in specs:
        subnet = subnets.get(spec["cidr"])
        if subnet is not None:
            listed.append(
                {
                    "subnet_id": subnet["SubnetId"],
                    "az": subnet["AvailabilityZone"],
                    "cidr": subnet["CidrBlock"],
                    "public": bool(subnet.get("MapPublicIpOnLaunch")),
                }
            )
    groups, _all = net.security_groups()
    tables, _all = net.route_tables()
    igw = net.internet_gateway()
    zones = dict((s["SubnetId"], s["AvailabilityZone"]) for s in subnets.values())
    nats = []
    for gateway in net.nat_gateways():
        address = (gateway.get("NatGatewayAddresses") or [{}])[0]
        nats.append(
            {
                "nat_gateway_id": gateway["NatGatewayId"],
                "subnet_id": gateway["SubnetId"],
                "az": zones.get(gateway["SubnetId"]),
                "allocation_id": address.get("AllocationId"),
                "public_ip": address.get("PublicIp"),
                "state": gateway["State"],
            }
        )
    ids = dict((role, g["GroupId"]) for role, g in groups.items())
    names = dict((g["GroupId"], role) for role, g in groups.items())
    vpc = net.current_vpc()
    result = {
        "vpc_id": vpc["VpcId"],
        "cidr_block": vpc["CidrBlock"],
        "subnets": listed,
        "subnet_ids": [s["subnet_id"] for s in listed],
        "security_group_ids": ids,
        "security_group_rules": dict(
            (role, sorted(describe_rule(r, names) for r in current_rules(g))) for role, g in groups.items()
        ),
        "internet_gateway_id": igw["InternetGatewayId"] if igw else None,
        "route_table_ids": [tables[k]["RouteTableId"] for k in sorted(tables, key=lambda k: (k != "public", k))],
        "nat_gateways": sorted(nats, key=lambda n: (n["az"] or "", n["nat_gateway_id"])),
        "tags": tag_dict(vpc.get("Tags")),
    }
    result.update(net.dns_attributes())
    return result


def predicted(before, p, net):
    """What the network will look like after a check-mode run (for the diff)."""
    wanted, purge = desired_tags(p["tags"], net.cluster, p["purge_tags"], extra={"Name": net.cluster})
    to_set, to_unset = diff_tags(before.get("tags"), wanted, purge)
    names = {"master": "master", "worker": "worker"}
    rules = wanted_rules(p, names)
    return {
        "cidr_block": p["cidr_block"],
        "enable_dns_support": True,
        "enable_dns_hostnames": True,
        "subnets": [{"az": s["az"], "cidr": s["cidr"], "public": s["public"]} for s in p["subnets"]],
        "nat_gateways": [{"serves": key} for key in sorted(nat_plan(p))],
        "security_group_rules": dict((role, sorted(describe_rule(r, names) for r in rules[role])) for role in rules),
        "tags": apply_tag_diff(before.get("tags"), to_set, to_unset),
    }


def check_mode_result(before, p):
    """The result of a check-mode run: what exists, and placeholders for the ids AWS would assign."""
    existing = dict((s["cidr"], s) for s in before.get("subnets", []))
    subnets = []
    for spec in p["subnets"]:
        found = existing.get(spec["cidr"])
        subnet_id = found["subnet_id"] if found else placeholder("subnet-", spec["cidr"])
        subnets.append({"subnet_id": subnet_id, "az": spec["az"], "cidr": spec["cidr"], "public": spec["public"]})
    groups = dict(before.get("security_group_ids") or {})
    for role in ("master", "worker"):
        groups.setdefault(role, placeholder("sg-", role))
    kinds = table_kinds(p)
    tables = list(before.get("route_table_ids") or [])
    tables += [placeholder("rtb-", kind) for kind in kinds[len(tables) :]]
    live = [n for n in before.get("nat_gateways", []) if n["state"] in LIVE_NAT_STATES]
    nats = live[: len(nat_plan(p))]
    nats += [
        {"nat_gateway_id": placeholder("nat-", key), "az": None if key == "shared" else key, "state": "pending"}
        for key in sorted(nat_plan(p))[len(nats) :]
    ]
    return dict(
        before,
        vpc_id=before.get("vpc_id") or placeholder("vpc-"),
        cidr_block=p["cidr_block"],
        subnets=subnets,
        subnet_ids=[s["subnet_id"] for s in subnets],
        security_group_ids=groups,
        internet_gateway_id=before.get("internet_gateway_id") or placeholder("igw-"),
        route_table_ids=tables,
        nat_gateways=nats,
    )


def check_zones(net, p):
    """Fail before any change when a subnet to create names a zone the account cannot use (a read-only call)."""
    existing = set(s["CidrBlock"] for s in net.subnets()) if net.vpc is not None else set()
    new_zones = set(s["az"] for s in p["subnets"] if s["cidr"] not in existing)
    if not new_zones:  # every subnet exists: its zone is known good (and an idempotent run saves the call)
        return
    zones = net.ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])
    available = sorted(z["ZoneName"] for z in zones["AvailabilityZones"])
    unknown = sorted(new_zones - set(available))
    if unknown:
        raise TrainkitError(
            "Availability zone(s) {0} are not available to this account in {1}.".format(
                ", ".join(unknown), net.module.region
            ),
            hint="use one of: {0}".format(", ".join(available)),
        )


# -- absent -----------------------------------------------------------------------
def foreign_resources(net, our_groups):
    """Resources in the VPC this module did not create, as sentences naming each one."""
    vpc_id = net.vpc["VpcId"]
    subnets = net.subnets()
    subnet_ids = set(s["SubnetId"] for s in subnets)
    found, explained_enis = [], set()
    efs = net.module.client("efs")
    try:
        for fs in paginate(efs, "describe_file_systems", "FileSystems"):
            for target in efs.describe_mount_targets(FileSystemId=fs["FileSystemId"]).get("MountTargets", []):
                if target["SubnetId"] in subnet_ids:
                    explained_enis.add(target.get("NetworkInterfaceId"))
                    found.append(
                        "EFS mount target {0} of file system {1} in subnet {2}".format(
                            target["MountTargetId"], fs["FileSystemId"], target["SubnetId"]
                        )
                    )
    except ClientError as exc:
        if "AccessDenied" not in str(exc):
            raise
    try:
        fsx = net.module.client("fsx")
        for fs in paginate(fsx, "describe_file_systems", "FileSystems"):
            if subnet_ids.intersection(fs.get("SubnetIds", [])) and fs.get("Lifecycle") != "DELETING":
                explained_enis.update(fs.get("NetworkInterfaceIds", []))
                found.append("FSx file system {0}".format(fs["FileSystemId"]))
    except ClientError as exc:
        if "AccessDenied" not in str(exc):
            raise
    ours = set(g["NatGatewayId"] for g in net.nat_gateways())
    for gateway in net.vpc_nat_gateways():
        explained_enis.update(a.get("NetworkInterfaceId") for a in gateway.get("NatGatewayAddresses", []))
        if gateway["NatGatewayId"] not in ours:
            found.append("NAT gateway {0} in subnet {1}".format(gateway["NatGatewayId"], gateway["SubnetId"]))
    reservations = paginate(
        net.ec2,
        "describe_instances",
        "Reservations",
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped", "shutting-down"]},
        ],
    )
    for reservation in reservations:
        for instance in reservation["Instances"]:
            explained_enis.update(i["NetworkInterfaceId"] for i in instance.get("NetworkInterfaces", []))
            found.append("instance {0}".format(instance["InstanceId"]))
    for eni in paginate(
        net.ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
    ):
        if eni["NetworkInterfaceId"] not in explained_enis:
            found.append(
                "network interface {0} ({1})".format(
                    eni["NetworkInterfaceId"], eni.get("Description") or eni.get("InterfaceType")
                )
            )
    for group in paginate(net.ec2, "describe_security_groups", "SecurityGroups", Filters=net.vpc_filter()):
        if group["GroupName"] != "default" and group["GroupId"] not in our_groups:
            found.append("security group {0} ({1})".format(group["GroupId"], group["GroupName"]))
    for subnet in subnets:
        if tag_dict(subnet.get("Tags")).get(CLUSTER_TAG) != net.cluster:
            found.append("subnet {0} ({1})".format(subnet["SubnetId"], subnet["CidrBlock"]))
    return found


def delete_network(net):
    """Delete what this module creates in the VPC, in dependency order, then the VPC."""
    ec2 = net.ec2
    # first the NAT gateways, until AWS has deleted them: until then their addresses stay mapped, and neither the
    # addresses can be released nor the internet gateway detached
    delete_nat_gateways(net, net.module.params, net.nat_gateways())
    groups, _all = net.security_groups()
    for group in groups.values():  # the groups refer to each other: revoke first, then delete
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    for group in groups.values():
        ec2.delete_security_group(GroupId=group["GroupId"])
    tables, _all = net.route_tables()
    for table in tables.values():
        delete_route_table(net, table)
    for igw in net.internet_gateways():  # the attached one and any left detached by an interrupted run
        for attachment in igw.get("Attachments", []):
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=attachment["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    for subnet in net.subnets():
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=net.vpc["VpcId"])
