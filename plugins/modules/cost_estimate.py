#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cost_estimate
short_description: The hourly cost of what a training setup will create, from the AWS Price List API
version_added: 0.4.0
description:
  - Read-only. Makes no change and always returns C(changed=false).
  - Prices the setup's node groups (their largest size, on-demand; a spot group at the on-demand price of its dearest
    type, the most its spot capacity can cost), its NAT gateways, the EKS control plane and an FSx for Lustre file system's storage, from
    the AWS Price List API (C(pricing:GetProducts), on-demand terms, USD). EFS is billed by what it stores, so its
    price per GB-month is listed but not added up.
  - An estimate, not a bill - data transfer, EBS volumes, NAT gateway traffic and the like are left out.
  - Never fails the play for want of prices - without access to the Price List API (permission, network), or when
    a product is not found, it says so in RV(message) and each item's C(note), and the run goes on.
  - The Price List attributes it matches are in the module's source (C(PRODUCTS)); docs/capacity.md lists them.
author:
  - trainkit.aws contributors (@trainkit)
options:
  nodegroups:
    description:
      - The node groups, as C(trainkit_nodegroups) gives them (C(name), C(instance_type) or C(instance_types), the
        sizes C(count), C(desired_capacity), C(min_size), C(max_size), C(spot)); other keys are left alone.
    type: list
    elements: dict
    default: []
  subnets:
    description: The network's subnets (C(az), C(public)), to count its NAT gateways.
    type: list
    elements: dict
    default: []
  nat_gateways:
    description: How the private subnets reach the internet (trainkit.aws.vpc_network's O(nat_gateways)).
    type: str
    choices: [single, per_zone, none]
    default: single
  eks_clusters:
    description: How many EKS control planes the setup creates (1 with the eksctl provider).
    type: int
    default: 0
  fsx:
    description:
      - The FSx for Lustre file system, when the setup has one - C(deployment_type) (C(SCRATCH_2), C(PERSISTENT_1),
        ...), C(storage_capacity) in GiB and C(per_unit_storage_throughput) (PERSISTENT types).
    type: dict
  efs:
    description: Whether the setup has an EFS file system (its price per GB-month is listed).
    type: bool
    default: false
  pricing_region:
    description: The region of the Price List API's endpoint (it has few - us-east-1, eu-central-1, ap-south-1).
    type: str
    default: us-east-1
extends_documentation_fragment:
  - trainkit.aws.aws
attributes:
  check_mode:
    support: full
    description: The module only reads; check mode prices the same.
  diff_mode:
    support: none
    description: Nothing changes.
"""

EXAMPLES = r"""
- name: Preflight | What the setup will cost by the hour
  trainkit.aws.cost_estimate:
    nodegroups:
      - {name: cpu, instance_type: m5.xlarge, count: 2}
      - {name: gpu, instance_type: g5.xlarge, count: 2}
    subnets: [{az: us-west-2a, public: true}, {az: us-west-2a, public: false}]
    eks_clusters: 1
    fsx: {deployment_type: SCRATCH_2, storage_capacity: 1200}
  register: cost
"""

RETURN = r"""
items:
  description: One row per priced thing.
  returned: always
  type: list
  elements: dict
  contains:
    item:
      description: What it is (a node group and its types, NAT gateways, the EKS control plane, FSx, EFS).
      type: str
    quantity:
      description: How many (instances, gateways, clusters), or GiB for storage.
      type: float
    unit:
      description: The price's unit (C(Hrs), C(GB-Mo)).
      type: str
    unit_price_usd:
      description: The on-demand price per unit, or null when none was found.
      type: float
    hourly_usd:
      description: quantity x unit price, by the hour (GB-Mo / 730), or null when not added up.
      type: float
    note:
      description: Why it is not priced or not added up, or that spot capacity costs less.
      type: str
hourly_usd:
  description: The sum of the items' hourly_usd.
  returned: always
  type: float
monthly_usd:
  description: hourly_usd x 730 (AWS's hours in a month).
  returned: always
  type: float
complete:
  description: Whether every item was priced.
  returned: always
  type: bool
message:
  description: The estimate in one line, and what it could not price.
  returned: always
  type: str
table:
  description: The items as text lines, for the play's output.
  returned: always
  type: list
  elements: str
"""

import json

from ansible_collections.trainkit.aws.plugins.module_utils import quotas
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate

HOURS_PER_MONTH = 730.0
LINUX = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}


class NoAccess(Exception):
    """The Price List API cannot be read (permission, network, an error of its own)."""


class PriceList:
    def __init__(self, client, region):
        self.client = client
        self.region = region

    def find(self, service_code, unit, match=None, **attributes):
        """The on-demand price per ``unit`` (USD) of the first product with these attributes (and ``match(product
        attributes)``), or None."""
        filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": self.region}]
        filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(attributes.items())]
        try:
            documents = paginate(self.client, "get_products", "PriceList", ServiceCode=service_code, Filters=filters)
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc)
            if code in ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException"):
                raise NoAccess("pricing:GetProducts was refused ({0})".format(code))
            if code:
                raise NoAccess("the Price List API answered {0}".format(code))
            raise NoAccess("the Price List API cannot be reached ({0})".format(exc))
        for raw in documents:
            doc = json.loads(raw) if isinstance(raw, str) else raw
            if match is not None and not match(doc["product"].get("attributes", {})):
                continue
            for term in doc.get("terms", {}).get("OnDemand", {}).values():
                for dimension in term.get("priceDimensions", {}).values():
                    if dimension.get("unit", "").lower() == unit.lower() and "USD" in dimension.get("pricePerUnit", {}):
                        return float(dimension["pricePerUnit"]["USD"])
        return None


def fsx_match(fsx):
    """Picks the Lustre storage product of the deployment type (the Price List's deploymentOption, e.g.
    Scratch_2, Persistent_1) and, for a persistent type, its throughput per TiB."""
    wanted = fsx["deployment_type"].replace("_", "").lower()

    def match(attributes):
        option = attributes.get("deploymentOption", "").replace("_", "").replace("-", "").lower()
        if option != wanted:
            return False
        throughput = fsx.get("per_unit_storage_throughput")
        return not throughput or str(attributes.get("throughputCapacity")) == str(throughput)

    return match


def estimate(module):
    p = module.params
    prices = PriceList(module.client("pricing", region=p["pricing_region"]), module.region)
    items = []

    def add(item, quantity, unit, lookup, per_month=False, summed=True, note=None):
        items.append(
            {
                "item": item,
                "quantity": float(quantity),
                "unit": unit,
                "lookup": lookup,
                "per_month": per_month,
                "summed": summed,
                "note": note,
            }
        )

    for group in p["nodegroups"]:
        types = quotas.group_types(group)
        spot = quotas.is_spot(group)
        add(
            "node group {0} ({1}{2})".format(group["name"], " | ".join(types), ", spot" if spot else ""),
            quotas.group_size(group),
            "Hrs",
            [("AmazonEC2", "Hrs", None, dict(LINUX, instanceType=t)) for t in types],
            note="spot: at most this, the on-demand price of its dearest type" if spot else None,
        )
    nats = len(quotas.nat_zones(p["subnets"], p["nat_gateways"]))
    if nats:
        add(
            "NAT gateways",
            nats,
            "Hrs",
            (
                "AmazonEC2",
                "Hrs",
                lambda a: a.get("usagetype", "").endswith("NatGateway-Hours"),
                {"productFamily": "NAT Gateway"},
            ),
            note="plus its traffic, by the GB",
        )
    if p["eks_clusters"]:
        add(
            "EKS control plane",
            p["eks_clusters"],
            "Hrs",
            ("AmazonEKS", "Hrs", lambda a: a.get("usagetype", "").endswith("AmazonEKS-Hours:perCluster"), {}),
        )
    if p["fsx"]:
        fsx = p["fsx"]
        add(
            "FSx for Lustre ({0})".format(fsx["deployment_type"]),
            fsx.get("storage_capacity") or 0,
            "GB-Mo",
            ("AmazonFSx", "GB-Mo", fsx_match(fsx), {"fileSystemType": "Lustre", "productFamily": "Storage"}),
            per_month=True,
        )
    if p["efs"]:
        add(
            "EFS (per GB stored)",
            1,
            "GB-Mo",
            ("AmazonEFS", "GB-Mo", None, {"storageClass": "General Purpose", "productFamily": "Storage"}),
            per_month=True,
            summed=False,
            note="billed by what it stores: not added up",
        )
    problem = None
    for item in items:
        lookups = item.pop("lookup")
        price = None
        if problem is None:
            try:
                found = [
                    prices.find(service_code, unit, match, **attributes)
                    for service_code, unit, match, attributes in (lookups if isinstance(lookups, list) else [lookups])
                ]
            except NoAccess as exc:
                problem = str(exc)
            else:
                # several types (a spot group): the dearest, once all are found
                price = None if None in found else max(found)
        item["unit_price_usd"] = price
        if price is None:
            item["note"] = problem or "no price found in the Price List"
            item["hourly_usd"] = None
        elif item["summed"]:
            hourly = item["quantity"] * price
            item["hourly_usd"] = round(hourly / HOURS_PER_MONTH if item["per_month"] else hourly, 4)
        else:
            item["hourly_usd"] = None
        item.pop("per_month")
    summed = [i for i in items if i.pop("summed") and i["hourly_usd"] is not None]
    hourly = round(sum(i["hourly_usd"] for i in summed), 4)
    complete = all(i["unit_price_usd"] is not None for i in items)
    message = "About ${0:,.2f} an hour (${1:,.0f} a month of 730 hours) on demand, from the AWS Price List".format(
        hourly, hourly * HOURS_PER_MONTH
    )
    if problem:
        message = "No cost estimate: {0}. The run goes on.".format(problem)
    elif not complete:
        message += "; not priced: " + ", ".join(i["item"] for i in items if i["unit_price_usd"] is None)
    return {
        "items": items,
        "hourly_usd": hourly,
        "monthly_usd": round(hourly * HOURS_PER_MONTH, 2),
        "complete": complete and not problem,
        "message": message,
        "table": table(items, hourly, message),
    }


def table(items, hourly, message):
    lines = ["{0:<44} {1:>8} {2:>6} {3:>12} {4:>10}".format("item", "quantity", "unit", "USD/unit", "USD/hour")]
    for item in items:
        lines.append(
            "{0:<44} {1:>8g} {2:>6} {3:>12} {4:>10}{5}".format(
                item["item"][:44],
                item["quantity"],
                item["unit"],
                "-" if item["unit_price_usd"] is None else "{0:g}".format(item["unit_price_usd"]),
                "-" if item["hourly_usd"] is None else "{0:.4f}".format(item["hourly_usd"]),
                "  ({0})".format(item["note"]) if item["note"] else "",
            )
        )
    lines.append("{0:<44} {1:>8} {2:>6} {3:>12} {4:>10.4f}".format("total", "", "", "", hourly))
    lines.append(message)
    return lines


def main():
    module = AWSModule(
        argument_spec=dict(
            nodegroups=dict(type="list", elements="dict", default=[]),
            subnets=dict(type="list", elements="dict", default=[]),
            nat_gateways=dict(type="str", choices=["single", "per_zone", "none"], default="single"),
            eks_clusters=dict(type="int", default=0),
            fsx=dict(type="dict"),
            efs=dict(type="bool", default=False),
            pricing_region=dict(type="str", default="us-east-1"),
        ),
        supports_check_mode=True,
    )
    problems = []
    for index, group in enumerate(module.params["nodegroups"]):
        if not group.get("name") or not quotas.group_types(group):
            problems.append("nodegroups[{0}]: give name and instance_type or instance_types".format(index))
    fsx = module.params["fsx"]
    if fsx is not None and not fsx.get("deployment_type"):
        problems.append("fsx: give deployment_type (and storage_capacity)")
    for subnet in module.params["subnets"]:
        if not subnet.get("az"):
            problems.append("subnets: every subnet needs its az")
    module.fail_on_problems(problems)
    result = estimate(module)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
