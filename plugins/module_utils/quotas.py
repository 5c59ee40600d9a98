# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWS quotas a training setup needs, by their Service Quotas codes, and what it needs of each.

EC2 limits running instances by vCPUs per instance family, once for on-demand and once for spot (the Amazon EC2
user guide, "Amazon EC2 service quotas": "Running On-Demand G and VT instances" and so on). The codes below are the
ones Service Quotas names them by (ListServiceQuotas, service code ec2); a family without a known code is reported
as not checked rather than guessed.
"""

from __future__ import annotations

import re

# (family, instance-type prefixes, on-demand quota code, spot quota code or None)
FAMILIES = (
    ("G and VT", ("g", "vt"), "L-DB2E81BA", "L-3819A6DF"),
    ("P", ("p",), "L-417A185B", "L-7212CCBC"),
    ("Trn", ("trn",), "L-2C3B7624", "L-6B0D517C"),
    ("Inf", ("inf",), "L-1945791B", "L-B5D1601B"),
    ("DL", ("dl",), "L-6E869C2A", None),
    ("F", ("f",), "L-74FC7D96", None),
    ("X", ("x",), "L-7295265B", None),
    ("HPC", ("hpc",), "L-F7808C92", None),
    ("High Memory", ("u",), "L-43DA4232", None),
    ("Standard (A, C, D, H, I, M, R, T, Z)", tuple("acdhimrtz"), "L-1216C47A", "L-34B43A08"),
)

# The network's and the cluster's quotas: (service code, quota code, what it counts)
VPCS = ("vpc", "L-F678F1CE", "VPCs per Region")
NAT_GATEWAYS_PER_ZONE = ("vpc", "L-FE5A380F", "NAT gateways per Availability Zone")
ELASTIC_IPS = ("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs")
EKS_CLUSTERS = ("eks", "L-1194D53C", "Clusters")

SERIES = re.compile(r"^(u-|[a-z]+?)(?=\d)")


def family_of(instance_type):
    """(family name, on-demand code, spot code) of an instance type, or None for a family without known codes
    (mac1: Dedicated Hosts only). ``g5.xlarge`` -> G and VT; ``u-6tb1.112xlarge`` -> High Memory; ``im4gn`` ->
    Standard (the I family)."""
    series = instance_type.split(".", 1)[0]
    match = SERIES.match(series)
    if not match:
        return None
    letters = match.group(1).rstrip("-")
    for name, prefixes, on_demand, spot in FAMILIES:
        if letters in prefixes and name != FAMILIES[-1][0]:
            return name, on_demand, spot
    standard = FAMILIES[-1]
    # the standard families, their variants included (im4gn, is4gen, c7gn: the letters after the first are
    # attributes only when the first is a standard family letter and no other family claims the letters)
    if letters[0] in standard[1] and letters not in ("mac",):
        return standard[0], standard[2], standard[3]
    return None


def is_spot(group):
    """Whether a node group (as trainkit_nodegroups gives it, its values maybe strings) asks for spot capacity."""
    value = group.get("spot")
    return str(value).lower() in ("true", "yes", "1", "on") if value is not None else False


def node_zones(subnets):
    """The zones node groups go into: the private subnets' when there are any (eksctl's privateNetworking), else
    the public ones'. A subnet without ``public`` is public (trainkit.aws.vpc_network's default)."""
    private = sorted(set(s["az"] for s in subnets if not s.get("public", True)))
    return private or sorted(set(s["az"] for s in subnets if s.get("public", True)))


def nat_zones(subnets, mode):
    """One zone per NAT gateway the network will have (trainkit.aws.vpc_network's nat_plan): single - the first
    public subnet's, per_zone - each zone with private subnets and a public one; none without private subnets."""
    private = sorted(set(s["az"] for s in subnets if not s.get("public", True)))
    public = [s["az"] for s in subnets if s.get("public", True)]
    if mode == "none" or not private or not public:
        return []
    return public[:1] if mode == "single" else [z for z in private if z in public]


def group_size(group):
    """The most instances a node group may run: its max_size, desired_capacity or count (1 when none is set)."""
    sizes = [group.get(k) for k in ("max_size", "desired_capacity", "count", "min_size")]
    sizes = [s for s in sizes if s is not None]
    return max(sizes) if sizes else 1


def group_types(group):
    return list(group.get("instance_types") or ([group["instance_type"]] if group.get("instance_type") else []))


def vcpu_needs(groups, vcpus):
    """{(quota code, spot): {"family", "vcpus", "groups"}} for node groups, with ``vcpus`` the vCPUs of each
    instance type. A group of several types counts its largest one (any of them may fill the whole group);
    types without known codes are listed under (None, spot)."""
    needs = {}
    for group in groups:
        spot = is_spot(group)
        size = group_size(group)
        for family_types in _by_family(group_types(group)).items():
            family, types = family_types
            code = None if family is None else (family[2] if spot else family[1])
            entry = needs.setdefault(
                (code, spot), {"family": family[0] if family else None, "vcpus": 0, "groups": [], "types": []}
            )
            entry["vcpus"] += size * max(vcpus.get(t, 0) for t in types)
            entry["groups"].append(group["name"])
            entry["types"].extend(t for t in types if t not in entry["types"])
    return needs


def _by_family(types):
    out = {}
    for instance_type in types:
        out.setdefault(family_of(instance_type), []).append(instance_type)
    return out


def increase_command(service_code, quota_code, desired, region):
    """The AWS CLI command that asks AWS for a quota of ``desired``."""
    return (
        "aws service-quotas request-service-quota-increase --service-code {0} --quota-code {1} "
        "--desired-value {2} --region {3}".format(service_code, quota_code, _number(desired), region)
    )


def _number(value):
    return int(value) if float(value).is_integer() else value
