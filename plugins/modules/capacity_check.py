#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: capacity_check
short_description: Checks, before anything is created, that the region offers the node groups' instance types and
  that the account's quotas hold what a training setup will add
version_added: 0.4.0
description:
  - Read-only. Makes no change, in check mode or not, and always returns C(changed=false).
  - B(Offerings) - every node group's instance types in every zone the group may use
    (C(ec2:DescribeInstanceTypeOfferings)). A group of one type fails for a zone that does not offer it; a group of
    several types fails for a zone that offers none of them. The message names the zones that do.
  - B(vCPU quotas) - EC2 limits running instances by vCPUs per instance family, on-demand and spot apart. Each node
    group needs its largest size (max_size, desired_capacity or count) times the vCPUs of its largest type
    (C(ec2:DescribeInstanceTypes)); what already runs in the region (C(ec2:DescribeInstances), pending and running)
    is in use, except the instances of this cluster, which the need already counts.
  - B(EFA) - a group with C(efa=true) needs instance types with EFA (C(ec2:DescribeInstanceTypes),
    C(NetworkInfo.EfaSupported)) and one zone, as trainkit.aws.eksctl_cluster's O(trainkit.aws.eksctl_cluster#module:nodegroups[].efa)
    does.
  - B(Network and cluster quotas) - VPCs per Region, NAT gateways per Availability Zone and EC2-VPC Elastic IPs (one
    per NAT gateway) for what the network will create, and EKS clusters, each against what the account already has;
    what this cluster already has (its tags, its name) needs nothing more.
  - Quota values come from Service Quotas (C(servicequotas:GetServiceQuota), the applied value; AWS's default,
    C(servicequotas:GetAWSDefaultServiceQuota), when none is applied). A shortfall fails the module, naming the
    quota code and the exact C(aws service-quotas request-service-quota-increase) command for the value needed.
  - The codes are in C(plugins/module_utils/quotas.py); a family without a known code is reported as not checked.
author:
  - trainkit.aws contributors (@trainkit)
options:
  cluster_name:
    description: The cluster the setup is for; what already carries its tags or name counts as its own.
    type: str
    required: true
  nodegroups:
    description:
      - The node groups, as C(trainkit_nodegroups) gives them. Of each it reads C(name), C(instance_type) or
        C(instance_types), the sizes C(count), C(desired_capacity), C(min_size) and C(max_size) (the need counts the
        largest given, 1 when none is), C(spot) (counted against the family's spot quota), C(efa) and C(zones)
        (default - the zones of the subnets it goes into, O(subnets)); other keys (labels, taints, ...) are left alone.
    type: list
    elements: dict
    default: []
  subnets:
    description:
      - The network's subnets, as C(network_subnets) gives them (trainkit.aws.vpc_network's O(subnets)). Node groups
        go into the private ones when there are any (eksctl's C(privateNetworking)), else into the public ones, and
        may use their zones unless a group names its own.
    type: list
    elements: dict
    default: []
    suboptions:
      az:
        description: The subnet's zone.
        type: str
        required: true
      public:
        description: Whether the subnet is public.
        type: bool
        default: true
      cidr:
        description: Its CIDR block (not used here).
        type: str
  nat_gateways:
    description:
      - How the private subnets reach the internet (trainkit.aws.vpc_network's O(nat_gateways)) - V(single) one NAT
        gateway in the first public subnet's zone, V(per_zone) one in each zone with private subnets, V(none) none.
        Each NAT gateway needs an Elastic IP. None without private subnets.
    type: str
    choices: [single, per_zone, none]
    default: single
  vpcs:
    description: How many VPCs the setup creates.
    type: int
    default: 1
  eks_clusters:
    description: How many EKS clusters the setup creates (1 with the eksctl provider).
    type: int
    default: 0
extends_documentation_fragment:
  - trainkit.aws.aws
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode runs the same checks.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
"""

EXAMPLES = r"""
- name: Preflight | The region's offerings and the account's quotas
  trainkit.aws.capacity_check:
    cluster_name: paddle-demo
    nodegroups:
      - {name: cpu, instance_type: m5.xlarge, count: 2}
      - {name: gpu, instance_types: [g5.xlarge, g6.xlarge], spot: true, count: 2}
    subnets:
      - {az: us-west-2a, cidr: 172.20.1.0/24, public: true}
      - {az: us-west-2a, cidr: 172.20.16.0/20, public: false}
      - {az: us-west-2b, cidr: 172.20.32.0/20, public: false}
    nat_gateways: single
    eks_clusters: 1
  register: capacity

- name: Preflight | Show the table
  ansible.builtin.debug:
    msg: "{{ capacity.table }}"
"""

RETURN = r"""
quotas:
  description: One row per quota the setup needs, whether it falls short or not.
  returned: always
  type: list
  elements: dict
  contains:
    service_code:
      description: The Service Quotas service code (C(ec2), C(vpc), C(eks)).
      type: str
    quota_code:
      description: The quota's code, or null for an instance family without a known code (then C(ok) is null).
      type: str
      sample: L-DB2E81BA
    quota_name:
      description: What the quota limits, and where (a zone, for NAT gateways).
      type: str
    need:
      description: What the setup adds (vCPUs, VPCs, NAT gateways, addresses, clusters).
      type: float
    in_use:
      description: What the account already uses of it, this cluster's own resources left out.
      type: float
    quota:
      description: The quota's value.
      type: float
    ok:
      description: Whether in_use plus need fits the quota.
      type: bool
    for:
      description: The node groups (or the network, or the cluster) that need it.
      type: str
offerings:
  description: For each instance type of the node groups, the zones of the region that offer it.
  returned: always
  type: dict
  sample: {g5.xlarge: [us-west-2a, us-west-2b, us-west-2c]}
table:
  description: The quota rows as text lines (need / in use / quota), for the play's output.
  returned: always
  type: list
  elements: str
problems:
  description: What falls short, each with what to do about it.
  returned: on failure
  type: list
  elements: str
"""

from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils import quotas
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate

OURS = ("eks:cluster-name", "alpha.eksctl.io/cluster-name", "KubernetesCluster", "trainkit:cluster")


def input_problems(params):
    zones = quotas.node_zones(params["subnets"])
    problems = []
    for index, group in enumerate(params["nodegroups"]):
        label = "nodegroups[{0}] ({1})".format(index, group.get("name"))
        if not group.get("name"):
            problems.append(label + ": give the group a name")
        types = group.get("instance_types")
        if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
            problems.append(label + ": instance_types must be a list of instance types")
        elif not quotas.group_types(group):
            problems.append(label + ": give instance_type or instance_types")
        for key in ("count", "desired_capacity", "min_size", "max_size"):
            value = group.get(key)
            if value is None:
                continue
            try:
                group[key] = int(value)
            except (TypeError, ValueError):
                problems.append("{0}: {1} must be a whole number, not {2!r}".format(label, key, value))
                continue
            if group[key] < 0:
                problems.append("{0}: {1} must be 0 or more, not {2}".format(label, key, value))
        if not (group.get("zones") or zones):
            problems.append(label + ": no zones to check - give subnets (the network's) or the group's zones")
    for key in ("vpcs", "eks_clusters"):
        if params[key] < 0:
            problems.append("{0} must be 0 or more, not {1}".format(key, params[key]))
    return problems


def ours(tags, cluster):
    tags = dict((t["Key"], t["Value"]) for t in tags or [])
    return tags.get("kubernetes.io/cluster/" + cluster) is not None or any(tags.get(k) == cluster for k in OURS)


def instance_vcpus(ec2, types, efa=None):
    """{instance type: default vCPUs}; an unknown type fails, naming it. ``efa``, a dict, gets each type's EFA
    interfaces (0 without EFA: NetworkInfo.EfaSupported false)."""
    out = {}
    wanted = sorted(set(types))
    for start in range(0, len(wanted), 100):
        try:
            found = paginate(ec2, "describe_instance_types", "InstanceTypes", InstanceTypes=wanted[start : start + 100])
        except ClientError as exc:
            if error_code(exc) == "InvalidInstanceType":
                raise TrainkitError(
                    "The region has no such instance type: {0}".format(exc.response["Error"].get("Message", "")),
                    hint="check the node groups' instance_type and instance_types",
                )
            raise
        for item in found:
            out[item["InstanceType"]] = item["VCpuInfo"]["DefaultVCpus"]
            if efa is not None:
                efa[item["InstanceType"]] = instance_types.described_efa(item)
    return out


def offered_zones(ec2, types):
    offered = dict((t, set()) for t in types)
    if types:
        for item in paginate(
            ec2,
            "describe_instance_type_offerings",
            "InstanceTypeOfferings",
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": sorted(types)}],
        ):
            offered.setdefault(item["InstanceType"], set()).add(item["Location"])
    return offered


def offering_problems(groups, zones, offered):
    problems = []
    for group in groups:
        types = quotas.group_types(group)
        for zone in group.get("zones") or zones:
            having = [t for t in types if zone in offered.get(t, ())]
            if having:
                continue
            where = "; ".join(
                "{0} is offered in {1}".format(t, ", ".join(sorted(offered.get(t, ()))) or "no zone of the region")
                for t in types
            )
            problems.append(
                "node group {0}: {1} {2} not offered in {3} ({4}). Give the group zones: [...] that offer it, or "
                "other types".format(
                    group["name"], " and ".join(types), "is" if len(types) == 1 else "are", zone, where
                )
            )
    return problems


class Quotas:
    """Service Quotas values: the applied one, else AWS's default."""

    def __init__(self, client):
        self.client = client

    def value(self, service_code, quota_code):
        try:
            return self.client.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]["Value"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchResourceException":
                raise
        quota = self.client.get_aws_default_service_quota(ServiceCode=service_code, QuotaCode=quota_code)
        return quota["Quota"]["Value"]


def vcpus_in_use(ec2, cluster, vcpus):
    """{(quota code, spot): vCPUs} of the region's pending and running instances, this cluster's left out."""
    running = []
    for reservation in paginate(
        ec2,
        "describe_instances",
        "Reservations",
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}],
    ):
        running.extend(i for i in reservation["Instances"] if not ours(i.get("Tags"), cluster))
    unknown = set(i["InstanceType"] for i in running) - set(vcpus)
    if unknown:
        vcpus.update(instance_vcpus(ec2, unknown))
    used = {}
    for instance in running:
        family = quotas.family_of(instance["InstanceType"])
        if family is None:
            continue
        spot = instance.get("InstanceLifecycle") == "spot"
        code = family[2] if spot else family[1]
        options = instance.get("CpuOptions") or {}
        count = options.get("CoreCount", 0) * options.get("ThreadsPerCore", 0) or vcpus[instance["InstanceType"]]
        used[(code, spot)] = used.get((code, spot), 0) + count
    return used


def network_rows(module, ec2, cluster):
    """(service code, quota code, name, need, in use, for) of the VPCs, NAT gateways, addresses and EKS clusters."""
    p = module.params
    rows = []
    vpcs = paginate(ec2, "describe_vpcs", "Vpcs")
    mine = [v for v in vpcs if ours(v.get("Tags"), cluster)]
    rows.append(quotas.VPCS + (max(0, p["vpcs"] - len(mine)), len(vpcs) - len(mine), "the network"))
    wanted_zones = quotas.nat_zones(p["subnets"], p["nat_gateways"])
    if wanted_zones:
        subnets = dict((s["SubnetId"], s["AvailabilityZone"]) for s in paginate(ec2, "describe_subnets", "Subnets"))
        gateways = paginate(
            ec2,
            "describe_nat_gateways",
            "NatGateways",
            Filter=[{"Name": "state", "Values": ["pending", "available"]}],
        )
        by_zone = {}
        for gateway in gateways:
            zone = subnets.get(gateway.get("SubnetId"))
            entry = by_zone.setdefault(zone, [0, 0])
            entry[1 if ours(gateway.get("Tags"), cluster) else 0] += 1
        for zone in sorted(set(wanted_zones)):
            wanted = wanted_zones.count(zone)
            others, own = by_zone.get(zone, [0, 0])
            service, code, name = quotas.NAT_GATEWAYS_PER_ZONE
            rows.append((service, code, "{0} ({1})".format(name, zone), max(0, wanted - own), others, "the network"))
        addresses = ec2.describe_addresses()["Addresses"]
        own = sum(1 for a in addresses if ours(a.get("Tags"), cluster))
        rows.append(
            quotas.ELASTIC_IPS
            + (max(0, len(wanted_zones) - own), len(addresses) - own, "the addresses of the NAT gateways")
        )
    if p["eks_clusters"]:
        clusters = paginate(module.client("eks"), "list_clusters", "clusters")
        own = 1 if cluster in clusters else 0
        rows.append(quotas.EKS_CLUSTERS + (max(0, p["eks_clusters"] - own), len(clusters) - own, "the cluster"))
    return rows


def format_table(rows):
    lines = ["{0:<11} {1:<56} {2:>8} {3:>8} {4:>8}  {5}".format("code", "quota", "need", "in use", "quota", "for")]
    for row in rows:
        lines.append(
            "{0:<11} {1:<56} {2:>8g} {3:>8g} {4:>8}  {5}{6}".format(
                row["quota_code"] or "-",
                row["quota_name"][:56],
                row["need"],
                row["in_use"],
                "?" if row["quota"] is None else "{0:g}".format(row["quota"]),
                row["for"],
                (
                    ""
                    if row["ok"] is not False
                    else "  <- short by {0:g}".format(row["in_use"] + row["need"] - row["quota"])
                ),
            )
        )
    return lines


def check(module):
    p = module.params
    cluster = p["cluster_name"]
    ec2 = module.client("ec2")
    groups = p["nodegroups"]
    types = sorted(set(t for g in groups for t in quotas.group_types(g)))
    efa = {}
    vcpus = instance_vcpus(ec2, types, efa) if types else {}
    offered = offered_zones(ec2, types)
    problems = []
    for group in groups:
        problems += instance_types.efa_problems(group, "node group {0}".format(group["name"]), efa.get)
    problems += offering_problems(groups, quotas.node_zones(p["subnets"]), offered)
    service_quotas = Quotas(module.client("service-quotas"))
    used = vcpus_in_use(ec2, cluster, vcpus) if groups else {}
    rows = []
    for (code, spot), need in sorted(quotas.vcpu_needs(groups, vcpus).items(), key=lambda i: (i[0][0] or "", i[0][1])):
        purchase = "spot" if spot else "on-demand"
        if code is None:
            rows.append(
                {
                    "service_code": "ec2",
                    "quota_code": None,
                    "quota_name": "{0} vCPUs of {1} (no known quota code: not checked)".format(
                        purchase, ", ".join(need["types"])
                    ),
                    "need": float(need["vcpus"]),
                    "in_use": 0.0,
                    "quota": None,
                    "ok": None,
                    "for": ", ".join(need["groups"]),
                }
            )
            continue
        rows.append(
            {
                "service_code": "ec2",
                "quota_code": code,
                "quota_name": "{0} vCPUs, {1}".format(need["family"], purchase),
                "need": float(need["vcpus"]),
                "in_use": float(used.get((code, spot), 0)),
                "quota": service_quotas.value("ec2", code),
                "for": "node groups " + ", ".join(need["groups"]),
            }
        )
    for service, code, name, need, in_use, purpose in network_rows(module, ec2, cluster):
        rows.append(
            {
                "service_code": service,
                "quota_code": code,
                "quota_name": name,
                "need": float(need),
                "in_use": float(in_use),
                "quota": service_quotas.value(service, code) if need else None,
                "for": purpose,
            }
        )
    for row in rows:
        if row["quota_code"] is not None:
            row["ok"] = True if row["quota"] is None else row["in_use"] + row["need"] <= row["quota"]
            if row["ok"] is False:
                wanted = row["in_use"] + row["need"]
                problems.append(
                    "{0} {1} ({2}) is {3:g}: {4} need {5:g} with {6:g} in use. Ask AWS for {7:g}: {8}".format(
                        row["service_code"],
                        row["quota_code"],
                        row["quota_name"],
                        row["quota"],
                        row["for"],
                        row["need"],
                        row["in_use"],
                        wanted,
                        quotas.increase_command(row["service_code"], row["quota_code"], wanted, module.region),
                    )
                )
    result = {
        "quotas": rows,
        "offerings": dict((t, sorted(z)) for t, z in offered.items()),
        "table": format_table(rows),
    }
    return problems, result


def main():
    module = AWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            nodegroups=dict(type="list", elements="dict", default=[]),
            subnets=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    az=dict(type="str", required=True), public=dict(type="bool", default=True), cidr=dict(type="str")
                ),
            ),
            nat_gateways=dict(type="str", choices=["single", "per_zone", "none"], default="single"),
            vpcs=dict(type="int", default=1),
            eks_clusters=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    module.fail_on_problems(input_problems(module.params))
    try:
        problems, result = check(module)
    except (ClientError, BotoCoreError, TrainkitError) as exc:
        hint = None
        if isinstance(exc, ClientError) and error_code(exc) in ("AccessDenied", "AccessDeniedException"):
            hint = (
                "the capacity check reads EC2 offerings and instances and Service Quotas; grant those read actions "
                "(docs/operator-policy.md) or set preflight_capacity_check: false"
            )
        module.fail_aws(exc, msg="Could not check the region's capacity and the account's quotas.", hint=hint)
    if problems:
        module.fail_json(
            msg="Not enough capacity or quota for this setup, nothing was created: " + " | ".join(problems),
            problems=problems,
            changed=False,
            **result,
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
