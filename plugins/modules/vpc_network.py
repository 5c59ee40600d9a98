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
    hostnames on, subnets in the given availability zones, an internet gateway, NAT gateways for the private
    subnets (with their Elastic IPs), route tables and their associations, and a master and a worker security group
    with the intra-cluster rules.
  - Private subnets (C(public=false)) get no public IPs and a default route through a NAT gateway in a public
    subnet - one for the whole VPC, or one per zone (O(nat_gateways)) - so that nodes there reach the EKS endpoint,
    ECR and S3, as EKS's network guidance has them. Each NAT gateway's Elastic IP is tagged when it is allocated,
    so a run interrupted between the allocation and the NAT gateway finds and uses it, and the teardown releases it.
  - Everything is found again by the cluster tags (no local state), so any playbook can run on its own.
  - Security group rules are owned by this module - ingress rules not described below are removed.
    Worker to worker - all traffic. Master to master - all traffic. Worker to master - TCP O(api_port).
    Master to worker - TCP 10250 (kubelet). While the cluster's FSx for Lustre group C(<cluster_name>-fsx) exists
    (M(trainkit.aws.fsx_lustre)'s), Lustre's TCP 988 and 1018-1023 from it to the workers - Lustre servers
    connect to their clients too. Nothing is opened to C(0.0.0.0/0) unless listed in O(ssh_cidrs) or O(api_cidrs).
  - In check mode the ids AWS assigns on creation are returned as placeholders such as C(vpc-(known after apply)),
    so that later tasks of a C(--check) run can go on.
  - O(state=absent) refuses to delete a VPC that still holds resources this module did not create (EFS mount
    targets, FSx file systems, instances, network interfaces, other security groups or subnets), naming each one,
    and then deletes in dependency order - NAT gateways (waiting until they are deleted, which takes minutes on AWS)
    and their Elastic IPs, security groups, route tables, internet gateway, subnets, VPC.
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
            one gives none and routes C(0.0.0.0/0) to a NAT gateway (see O(nat_gateways)).
        type: bool
        default: true
  nat_gateways:
    description:
      - How the private subnets reach the internet. C(single) - one NAT gateway, in the first public subnet, for
        every private subnet (eksctl's default, C(vpc.nat.gateway=Single)). C(per_zone) - one in a public subnet of
        each zone that has private subnets, each zone's private subnets routed through their own (eksctl's
        C(HighlyAvailable); a zone's outage leaves the others their way out). C(none) - no NAT gateway and no default
        route for the private subnets (bring VPC endpoints or your own route).
      - Only made when some subnet is private. Each NAT gateway costs by the hour and by the gigabyte.
    type: str
    choices: [single, per_zone, none]
    default: single
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
  description:
    - The ids of the network's route tables - public first, then the private ones (one, or with
      O(nat_gateways=per_zone) one per zone in zone order) when there are private subnets.
  returned: when the network exists
  type: list
  elements: str
nat_gateways:
  description: The NAT gateways of the private subnets, in zone order.
  returned: when the network exists
  type: list
  elements: dict
  contains:
    nat_gateway_id:
      description: The NAT gateway's id.
      type: str
    subnet_id:
      description: The public subnet it lives in.
      type: str
    az:
      description: Its availability zone.
      type: str
    allocation_id:
      description: The allocation id of its Elastic IP.
      type: str
    public_ip:
      description: Its Elastic IP address.
      type: str
    state:
      description: C(pending), C(available), C(deleting) (a teardown under way), ...
      type: str
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
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import Network
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import check_mode_result
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import check_zones
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import delete_nat_gateways
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import delete_network
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import describe_network
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ensure_internet_gateway
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ensure_nat_gateways
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ensure_route_tables
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ensure_security_groups
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ensure_subnets
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ensure_vpc
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import foreign_resources
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import predicted
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import retire_nat_gateways
from ansible_collections.trainkit.aws.plugins.module_utils._vpc import validate_present
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import undo


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
        nats = ensure_nat_gateways(net, p, subnets)
        ensure_route_tables(net, p, subnets, igw_id, nats)
        retire_nat_gateways(net, p, nats)  # after the routes moved off them
        ensure_security_groups(net, p)
    except (ClientError, BotoCoreError, TrainkitError):
        if creating:  # do not leave a half-built network behind
            undo(module, "the network of " + net.cluster, lambda: delete_network(net))
        raise
    if module.check_mode:
        return net.changed, before, predicted(before, p, net), check_mode_result(before, p)
    after = describe_network(net, p)
    return net.changed, before, after, after


def ensure_absent(module):
    net = Network(module)
    if net.find_vpc() is None:
        # the VPC went first in an earlier, interrupted teardown: its NAT addresses may still be allocated
        free = [a for a in net.addresses() if not a.get("AssociationId")]
        if free and not module.check_mode:
            delete_nat_gateways(net, module.params, [])
        return bool(free), {}, {}, {}
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
        nat_gateways=dict(type="str", default="single", choices=["single", "per_zone", "none"]),
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
