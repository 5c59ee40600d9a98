#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vpc_network
short_description: The network of a training cluster - VPC, subnets, internet gateway, routes, security groups
version_added: 0.1.0
description:
  - Creates, updates or deletes the whole network of one cluster as one resource - a VPC with DNS support and DNS
    hostnames on, subnets in the given availability zones, an internet gateway, route tables and their
    associations, and a master and a worker security group with the intra-cluster rules.
  - Everything is found again by the cluster tags (no local state), so any playbook can run on its own.
  - Security group rules are owned by this module - ingress rules not described below are removed.
    Worker to worker - all traffic. Master to master - all traffic. Worker to master - TCP O(api_port).
    Master to worker - TCP 10250 (kubelet). Nothing is opened to C(0.0.0.0/0) unless listed in O(ssh_cidrs)
    or O(api_cidrs).
  - In check mode the ids AWS assigns on creation are returned as placeholders such as C(vpc-(known after apply)),
    so that later tasks of a C(--check) run can go on.
  - O(state=absent) refuses to delete a VPC that still holds resources this module did not create (EFS mount
    targets, FSx file systems, instances, network interfaces, other security groups or subnets), naming each one,
    and then deletes in dependency order - security groups, route tables, internet gateway, subnets, VPC.
author:
  - trainkit.aws contributors (@trainkit)
options:
  cluster_name:
    description:
      - The cluster the network belongs to; the VPC is found by its tag C(trainkit:cluster=<cluster_name>).
      - Must start with a letter, hold only letters, digits and C(-), and be at most 28 characters.
    type: str
    required: true
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
  cidr_block:
    description:
      - The VPC's IPv4 CIDR block, C(/16) to C(/28). Required with O(state=present).
      - The CIDR of an existing VPC cannot be changed; delete the network first.
    type: str
  subnets:
    description:
      - The subnets, each inside O(cidr_block), not overlapping, in an availability zone of the region.
      - Subnets are matched to existing ones by CIDR; adding one to the list creates it in place.
    type: list
    elements: dict
    default: []
    suboptions:
      az:
        description: Availability zone name, for example C(us-west-2a).
        type: str
        required: true
      cidr:
        description: The subnet's CIDR block.
        type: str
        required: true
      public:
        description:
          - A public subnet routes C(0.0.0.0/0) to the internet gateway and gives instances public IPs; a private
            one gets a route table without a default route.
        type: bool
        default: true
  purge_subnets:
    description: Delete the cluster's subnets that are no longer listed in O(subnets).
    type: bool
    default: true
  api_port:
    description: The Kubernetes API server port workers reach masters on.
    type: int
    default: 443
  ssh_cidrs:
    description:
      - CIDR blocks allowed to reach TCP 22 on masters and workers (for example a bastion or an office network).
      - Empty by default; C(0.0.0.0/0) is only opened when listed here explicitly.
    type: list
    elements: str
    default: []
  api_cidrs:
    description: CIDR blocks allowed to reach O(api_port) on the masters. Empty by default.
    type: list
    elements: str
    default: []
  wait_timeout:
    description: Seconds to wait for the VPC and subnets to become available.
    type: int
    default: 300
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
notes:
  - The O(cluster_name) is required here, so the cluster tags are always set on every resource of the network.
  - Supports C(check_mode) and C(diff).
"""

EXAMPLES = r"""
- name: Network | Create the cluster network
  trainkit.aws.vpc_network:
    cluster_name: paddle-demo
    cidr_block: 172.20.0.0/16
    subnets:
      - {az: us-west-2a, cidr: 172.20.1.0/24}
      - {az: us-west-2b, cidr: 172.20.2.0/24}
      - {az: us-west-2c, cidr: 172.20.3.0/24}
    ssh_cidrs: [203.0.113.0/24]
    tags:
      team: ml-platform
  register: network

- name: Network | Delete it (after the storage teardown)
  trainkit.aws.vpc_network:
    cluster_name: paddle-demo
    state: absent
"""

RETURN = r"""
vpc_id:
  description: The VPC's id.
  returned: when the network exists
  type: str
  sample: vpc-0a1b2c3d4e5f67890
cidr_block:
  description: The VPC's CIDR block.
  returned: when the network exists
  type: str
  sample: 172.20.0.0/16
subnet_ids:
  description: The subnet ids, in the order of O(subnets).
  returned: when the network exists
  type: list
  elements: str
  sample: [subnet-0123456789abcdef0, subnet-0123456789abcdef1]
subnets:
  description: The subnets, in the order of O(subnets).
  returned: when the network exists
  type: list
  elements: dict
  contains:
    subnet_id:
      description: The subnet's id.
      type: str
    az:
      description: Availability zone.
      type: str
    cidr:
      description: CIDR block.
      type: str
    public:
      description: Whether it routes to the internet gateway.
      type: bool
security_group_ids:
  description: The ids of the master and worker security groups.
  returned: when the network exists
  type: dict
  contains:
    master:
      description: The master security group's id.
      type: str
    worker:
      description: The worker security group's id.
      type: str
internet_gateway_id:
  description: The internet gateway's id.
  returned: when the network exists
  type: str
route_table_ids:
  description: The ids of the network's route tables (public first, then private when there are private subnets).
  returned: when the network exists
  type: list
  elements: str
tags:
  description: The VPC's tags.
  returned: when the network exists
  type: dict
leftovers:
  description:
    - With O(state=absent) in check mode, what the VPC still holds that this module did not create (a real run
      fails naming them until they are deleted).
  returned: in check mode with O(state=absent), when the VPC holds such resources
  type: list
  elements: str
"""

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import current_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import create_group
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import sync_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import wait_groups
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import undo
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
)
ELB_ROLE_TAG = {True: "kubernetes.io/role/elb", False: "kubernetes.io/role/internal-elb"}
ROLE_TAG = "trainkit:role"


def cached(method):
    """Read once per state: a lookup is answered from the cache until the module changes something (mark)."""

    def read(self):
        if method.__name__ not in self.cache:
            self.cache[method.__name__] = method(self)
        return self.cache[method.__name__]

    read.__name__ = method.__name__
    read.__doc__ = method.__doc__
    return read


class Network:
    """The cluster's network as it is in AWS, and the steps that make it as wanted.

    Each lookup is made once and kept until the module changes something, so an idempotent run reads every
    part of the network once (AWS calls are slow, throttled and counted).
    """

    def __init__(self, module):
        self.module = module
        self.ec2 = module.client("ec2")
        self.cluster = module.params["cluster_name"]
        self.changed = False
        self.vpc = None
        self.cache = {}

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
            self.cache["current_vpc"] = self.vpc
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
        """Our route tables by kind ('public'/'private'), found by their role tag."""
        tables = paginate(self.ec2, "describe_route_tables", "RouteTables", Filters=self.vpc_filter())
        found = {}
        for table in tables:
            role = tag_dict(table.get("Tags")).get(ROLE_TAG)
            if role in ("public", "private"):
                found[role] = table
        return found, tables

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
        """Record a change (made now, or just about to be): later lookups read AWS again."""
        if changed:
            self.changed = True
            if not self.module.check_mode:
                self.cache.clear()


def attached_to(igw, vpc_id):
    return any(a.get("VpcId") == vpc_id for a in igw.get("Attachments", []))


# -- security group rules -------------------------------------------------------
def wanted_rules(params, group_ids):
    """The exact ingress rules of each group, as (protocol, from_port, to_port, kind, source) tuples."""
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
        net.cache["current_vpc"] = wait_visible(
            net.ec2.describe_vpcs,
            p["wait_timeout"],
            "VPC {0} to be available".format(net.vpc["VpcId"]),
            ("InvalidVpcID.NotFound",),
            ready=lambda found: found["Vpcs"][0]["State"] == "available",
            VpcIds=[net.vpc["VpcId"]],
        )["Vpcs"][0]
        # a new VPC has AWS's defaults: DNS support on, DNS hostnames off
        net.cache["dns_attributes"] = {"enable_dns_support": True, "enable_dns_hostnames": False}
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
    net.cache["dns_attributes"] = fixed  # what the calls above made it
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


def ensure_route_tables(net, p, subnets, igw_id):
    tables, _all = net.route_tables()
    kinds = ["public"] if any(s["public"] for s in p["subnets"]) else []
    if any(not s["public"] for s in p["subnets"]):
        kinds.append("private")
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
            default = [r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
            if not default or default[0].get("GatewayId") != igw_id:
                net.mark(True)
                if not net.module.check_mode:
                    call = net.ec2.replace_route if default else net.ec2.create_route
                    net.use(
                        call, RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id
                    )
    # associations: every listed subnet to the table of its kind
    _tables, all_tables = net.route_tables()
    associations = {}
    for table in all_tables:
        for assoc in table.get("Associations", []):
            if assoc.get("SubnetId"):
                associations[assoc["SubnetId"]] = (table["RouteTableId"], assoc["RouteTableAssociationId"])
    for spec in p["subnets"]:
        subnet = subnets.get(spec["cidr"])
        table = tables.get("public" if spec["public"] else "private")
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
    return [tables[k]["RouteTableId"] for k in kinds if k in tables]


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
    wanted = wanted_rules(p, ids)
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
        "route_table_ids": [tables[k]["RouteTableId"] for k in ("public", "private") if k in tables],
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
    kinds = sorted(set("public" if s["public"] else "private" for s in p["subnets"]), reverse=True)
    tables = list(before.get("route_table_ids") or [])
    tables += [placeholder("rtb-", kind) for kind in kinds[len(tables) :]]
    return dict(
        before,
        vpc_id=before.get("vpc_id") or placeholder("vpc-"),
        cidr_block=p["cidr_block"],
        subnets=subnets,
        subnet_ids=[s["subnet_id"] for s in subnets],
        security_group_ids=groups,
        internet_gateway_id=before.get("internet_gateway_id") or placeholder("igw-"),
        route_table_ids=tables,
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


def ensure_present(module):
    p = module.params
    net = Network(module)
    net.find_vpc()
    before = describe_network(net)
    check_zones(net, p)
    creating = net.vpc is None
    ensure_vpc(net, p)
    if net.vpc is None:  # check mode, nothing exists yet
        return True, before, predicted(before, p, net), check_mode_result(before, p)
    try:
        igw_id = ensure_internet_gateway(net, p)
        subnets = ensure_subnets(net, p)
        ensure_route_tables(net, p, subnets, igw_id)
        ensure_security_groups(net, p)
    except (ClientError, BotoCoreError, TrainkitError):
        if creating:  # do not leave a half-built network behind
            undo(module, "the network of " + net.cluster, lambda: delete_network(net))
        raise
    if module.check_mode:
        return net.changed, before, predicted(before, p, net), check_mode_result(before, p)
    after = describe_network(net, p)
    return net.changed, before, after, after


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


def ensure_absent(module):
    net = Network(module)
    if net.find_vpc() is None:
        return False, {}, {}, {}
    before = describe_network(net)
    groups, _all = net.security_groups()
    leftovers = foreign_resources(net, set(g["GroupId"] for g in groups.values()))
    if leftovers and module.check_mode:
        # a --check teardown has not really deleted the storage before this step: say what a real run needs
        module.warn(
            "VPC {0} still holds {1}; a real run deletes the network only once they are gone (the storage "
            "teardown, which playbooks/teardown.yml runs first, removes EFS and FSx).".format(
                net.vpc["VpcId"], "; ".join(leftovers)
            )
        )
        return True, before, {}, {"leftovers": leftovers}
    if leftovers:
        raise TrainkitError(
            "VPC {0} of cluster {1} still holds resources trainkit.aws.vpc_network did not create: {2}.".format(
                net.vpc["VpcId"], net.cluster, "; ".join(leftovers)
            ),
            hint="delete those first - for EFS/FSx run the storage teardown (playbooks/teardown.yml removes storage "
            "before the network), for others delete them in AWS - then run this again",
            leftovers=leftovers,
        )
    if not module.check_mode:
        delete_network(net)
    return True, before, {}, {}


def delete_network(net):
    """Delete what this module creates in the VPC, in dependency order, then the VPC."""
    ec2 = net.ec2
    groups, _all = net.security_groups()
    for group in groups.values():  # the groups refer to each other: revoke first, then delete
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    for group in groups.values():
        ec2.delete_security_group(GroupId=group["GroupId"])
    tables, _all = net.route_tables()
    for table in tables.values():
        for assoc in table.get("Associations", []):
            if not assoc.get("Main"):
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    for igw in net.internet_gateways():  # the attached one and any left detached by an interrupted run
        for attachment in igw.get("Attachments", []):
            ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=attachment["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    for subnet in net.subnets():
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=net.vpc["VpcId"])


def main():
    argument_spec = dict(
        cluster_name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        cidr_block=dict(type="str"),
        subnets=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                az=dict(type="str", required=True),
                cidr=dict(type="str", required=True),
                public=dict(type="bool", default=True),
            ),
        ),
        purge_subnets=dict(type="bool", default=True),
        api_port=dict(type="int", default=443),
        ssh_cidrs=dict(type="list", elements="str", default=[]),
        api_cidrs=dict(type="list", elements="str", default=[]),
        wait_timeout=dict(type="int", default=300),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if p["state"] == "present":
        problems = validate_present(module, module.region)
    else:
        problems = validate.cluster_name(p["cluster_name"])
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "the network of cluster " + p["cluster_name"])


if __name__ == "__main__":
    main()
