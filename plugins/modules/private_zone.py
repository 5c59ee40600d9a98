#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: private_zone
short_description: A Route53 private hosted zone for a cluster's VPC, with its records
version_added: 0.1.0
description:
  - Creates or updates a private hosted zone associated with a VPC and the records in it - for example
    C(paddle.<zone>) pointing at the Kubernetes API endpoint, as kube-aws expects.
  - The zone is found by its name among the account's private zones, and by O(vpc_id) when given.
  - O(state=absent) deletes the zone's records (but the zone's own SOA and NS) and then the zone.
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The zone's domain name, for example V(cluster.internal).
    type: str
    required: true
  state:
    description: Whether the zone should exist.
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description:
      - The VPC the zone is associated with (required to create it), for example the network step's C(vpc_id).
      - When set, only a zone associated with this VPC is taken as the zone.
    type: str
  vpc_region:
    description: The VPC's region. Defaults to the region in use.
    type: str
  comment:
    description: The zone's comment (set when the zone is created).
    type: str
  records:
    description:
      - Records the zone should hold. A O(records[].name) without a trailing dot is relative to the zone
        (V(paddle) becomes C(paddle.<zone>.); V(@) is the zone apex).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The record's name.
        type: str
        required: true
      type:
        description: The record's type.
        type: str
        choices: [A, AAAA, CNAME, TXT, MX, SRV, PTR, CAA, SPF]
        default: A
      value:
        description: The value, or a list of values.
        type: list
        elements: str
        required: true
      ttl:
        description: Time to live, in seconds.
        type: int
        default: 300
  purge_records:
    description: Delete records not listed in O(records) (the zone's own SOA and NS records are always kept).
    type: bool
    default: true
  wait:
    description: Wait until record changes have reached every Route53 server (C(INSYNC)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait with O(wait=true).
    type: int
    default: 300
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Network | Private zone with the API endpoint's name
  trainkit.aws.private_zone:
    name: paddle-demo.internal
    vpc_id: "{{ trainkit_network.vpc_id }}"
    cluster_name: paddle-demo
    records:
      - {name: paddle, type: A, value: 172.20.1.10}
"""

RETURN = r"""
zone_id:
  description: The hosted zone's id (without the C(/hostedzone/) prefix).
  returned: when state is present
  type: str
  sample: Z0123456789ABCDEFGHIJ
name:
  description: The zone's name, with the trailing dot.
  returned: always
  type: str
  sample: paddle-demo.internal.
vpc_ids:
  description: The VPCs the zone is associated with.
  returned: when state is present
  type: list
  elements: str
records:
  description: The zone's records but the apex SOA and NS.
  returned: when state is present
  type: list
  elements: dict
  contains:
    name:
      description: Fully qualified name.
      type: str
    type:
      description: Record type.
      type: str
    ttl:
      description: Time to live.
      type: int
    values:
      description: Values.
      type: list
      elements: str
tags:
  description: The zone's tags.
  returned: when state is present
  type: dict
"""

import time

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_with_waiter
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import route53_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict


def fqdn(name):
    return name.rstrip(".").lower() + "."


def record_fqdn(name, zone):
    if name in ("@", ""):
        return zone
    if name.endswith("."):
        return name.lower()
    return "{0}.{1}".format(name.lower(), zone)


def short_id(zone_id):
    return zone_id.split("/")[-1]


def find_zone(route53, name, vpc_id):
    zone_name = fqdn(name)
    found = []
    for zone in paginate(route53, "list_hosted_zones", "HostedZones"):
        if zone["Name"].lower() != zone_name or not zone.get("Config", {}).get("PrivateZone"):
            continue
        details = route53.get_hosted_zone(Id=zone["Id"])
        vpcs = [v["VPCId"] for v in details.get("VPCs", [])]
        if vpc_id and vpc_id not in vpcs:
            continue
        found.append((zone, vpcs))
    if len(found) > 1:
        raise TrainkitError(
            "Several private zones are named {0}: {1}.".format(
                zone_name, ", ".join(short_id(z["Id"]) for z, _v in found)
            ),
            hint="set vpc_id to pick the zone of one VPC",
        )
    return found[0] if found else (None, [])


def record_key(rrset):
    return (rrset["Name"].lower().replace("\\052", "*"), rrset["Type"])


def current_records(route53, zone_id, zone_name, raw=None):
    """The zone's records as {(name, type): {ttl, values}}; ``raw``, when given, gets each record set as Route53
    returned it (a DELETE must repeat it exactly: an alias record has no TTL and no values)."""
    records = {}
    for rrset in paginate(route53, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id):
        key = record_key(rrset)
        if key[0] == zone_name and key[1] in ("SOA", "NS"):
            continue
        if raw is not None:
            raw[key] = rrset
        records[key] = {
            "ttl": rrset.get("TTL"),
            "values": sorted(r["Value"] for r in rrset.get("ResourceRecords", [])),
        }
    return records


def wanted_records(params, zone_name):
    return dict(
        ((record_fqdn(r["name"], zone_name), r["type"]), {"ttl": r["ttl"], "values": sorted(r["value"])})
        for r in params["records"]
    )


def as_list(records):
    return [
        dict(name=name, type=rtype, ttl=value["ttl"], values=value["values"])
        for (name, rtype), value in sorted(records.items())
    ]


def change_batch(records, action):
    return [
        {
            "Action": action,
            "ResourceRecordSet": {
                "Name": name,
                "Type": rtype,
                "TTL": value["ttl"],
                "ResourceRecords": [{"Value": v} for v in value["values"]],
            },
        }
        for (name, rtype), value in sorted(records.items())
    ]


def apply_changes(module, route53, zone_id, changes):
    if not changes or module.check_mode:
        return
    change = route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    if module.params["wait"]:
        wait_with_waiter(
            route53,
            "resource_record_sets_changed",
            module.params["wait_timeout"],
            delay=5,
            Id=change["ChangeInfo"]["Id"],
        )


def zone_tags(route53, zone_id):
    return tag_dict(
        route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"].get("Tags")
    )


def describe(route53, zone_id, zone_name, vpcs):
    return {
        "zone_id": zone_id,
        "name": zone_name,
        "vpc_ids": vpcs,
        "records": as_list(current_records(route53, zone_id, zone_name)),
        "tags": zone_tags(route53, zone_id),
    }


def ensure_present(module, route53):
    p = module.params
    zone_name = fqdn(p["name"])
    wanted_tags, purge = desired_tags(p["tags"], p["cluster_name"], p["purge_tags"])
    wanted = wanted_records(p, zone_name)
    zone, vpcs = find_zone(route53, p["name"], p["vpc_id"])
    if zone is None:
        if not p["vpc_id"]:
            raise TrainkitError(
                "Private zone {0} does not exist and vpc_id is not set.".format(zone_name),
                hint="set vpc_id (e.g. trainkit_network.vpc_id): a private zone is created for a VPC",
            )
        after = {"name": zone_name, "vpc_ids": [p["vpc_id"]], "records": as_list(wanted), "tags": wanted_tags}
        if module.check_mode:
            return True, {}, after, after
        created = route53.create_hosted_zone(
            Name=zone_name,
            CallerReference="trainkit-{0}-{1}".format(zone_name, time.time()),
            HostedZoneConfig={"Comment": p["comment"] or "", "PrivateZone": True},
            VPC={"VPCRegion": p["vpc_region"] or module.region, "VPCId": p["vpc_id"]},
        )
        zone_id = short_id(created["HostedZone"]["Id"])
        if wanted_tags:
            route53.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId=zone_id, AddTags=boto3_tag_list(wanted_tags)
            )
        apply_changes(module, route53, zone_id, change_batch(wanted, "UPSERT"))
        # the zone is what the calls above made it: no second read
        after = dict(after, zone_id=zone_id)
        return True, {}, after, after

    zone_id = short_id(zone["Id"])
    before = describe(route53, zone_id, zone_name, vpcs)
    raw = {}
    current = current_records(route53, zone_id, zone_name, raw)
    upserts = dict((k, v) for k, v in wanted.items() if current.get(k) != v)
    deletes = {}
    if p["purge_records"]:
        deletes = dict((k, v) for k, v in current.items() if k not in wanted)
    changed = bool(upserts or deletes)
    removals = [{"Action": "DELETE", "ResourceRecordSet": raw[k]} for k in sorted(deletes)]
    apply_changes(module, route53, zone_id, removals + change_batch(upserts, "UPSERT"))
    tags_changed, tags_after = sync_tags(
        module.check_mode, before["tags"], wanted_tags, purge, route53_tagger(route53, zone_id)
    )
    changed |= tags_changed
    if module.check_mode:
        records = dict((k, v) for k, v in current.items() if k not in deletes)
        records.update(upserts)
        after = dict(before, records=as_list(records), tags=tags_after)
        return changed, before, after, after
    after = describe(route53, zone_id, zone_name, vpcs) if changed else before
    return changed, before, after, after


def ensure_absent(module, route53):
    zone_name = fqdn(module.params["name"])
    zone, vpcs = find_zone(route53, module.params["name"], module.params["vpc_id"])
    if zone is None:
        return False, {}, {}, {"name": zone_name}
    zone_id = short_id(zone["Id"])
    before = describe(route53, zone_id, zone_name, vpcs)
    if not module.check_mode:
        raw = {}
        current_records(route53, zone_id, zone_name, raw)
        apply_changes(
            module, route53, zone_id, [{"Action": "DELETE", "ResourceRecordSet": raw[k]} for k in sorted(raw)]
        )
        route53.delete_hosted_zone(Id=zone_id)
    return True, before, {}, {"name": zone_name}


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        vpc_id=dict(type="str"),
        vpc_region=dict(type="str"),
        comment=dict(type="str"),
        records=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                type=dict(
                    type="str", default="A", choices=["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "PTR", "CAA", "SPF"]
                ),
                value=dict(type="list", elements="str", required=True),
                ttl=dict(type="int", default=300),
            ),
        ),
        purge_records=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        cluster_name=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = (
        validate.dns_name(p["name"], "name") + validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"])
    )
    problems += validate.region(p["vpc_region"])
    if p["vpc_id"] and not p["vpc_id"].startswith("vpc-"):
        problems.append("vpc_id {0!r} is not a VPC id such as 'vpc-0123456789abcdef0'".format(p["vpc_id"]))
    seen = set()
    for index, record in enumerate(p["records"]):
        if record["name"] not in ("@",):
            problems += validate.dns_name(record["name"], "records[{0}].name".format(index))
        if not 0 <= record["ttl"] <= 2147483647:
            problems.append("records[{0}].ttl {1} must be 0 or more".format(index, record["ttl"]))
        if not record["value"]:
            problems.append("records[{0}].value is empty".format(index))
        problems += validate.record_values(record, "records[{0}].value".format(index))
        key = (record_fqdn(record["name"], fqdn(p["name"])), record["type"])
        if key in seen:
            problems.append(
                "records[{0}] repeats {1} {2}; give every value of a name and type in one record".format(
                    index, key[0], key[1]
                )
            )
        seen.add(key)
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "private zone " + p["name"], module.client("route53"))


if __name__ == "__main__":
    main()
