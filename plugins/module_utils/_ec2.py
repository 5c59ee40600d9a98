# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security groups owned by one module: found by name and tags, ingress brought to an exact rule set.

A rule is a tuple (protocol, from_port, to_port, kind, source) with kind 'sg' (a group id) or 'cidr'.
"""

from __future__ import annotations

from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_visible
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_with_waiter
from ansible_collections.trainkit.aws.plugins.module_utils.tags import CLUSTER_TAG
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict

RULE_TIMEOUT = 120
# Lustre's LNet ports. AWS's FSx for Lustre guide ("File system access control with Amazon VPC"): the file system's
# group admits TCP 988 and 1018-1023 from the clients and from itself, and the clients' group admits the same ports
# from the file system's group - Lustre servers open connections to their clients as well.
LUSTRE_PORTS = [(988, 988), (1018, 1023)]


def lustre_client_rules(fsx_group_id):
    """The rules a Lustre client's group (the workers') needs: the LNet ports from the file system's group."""
    return set(("tcp", low, high, "sg", fsx_group_id) for low, high in LUSTRE_PORTS)


def add_rules(ec2, group_id, rules, check_mode):
    """Make sure a group another module owns has ``rules`` (and leave its others alone). Returns whether any was
    missing."""
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return sync_rules(ec2, group, current_rules(group) | set(rules), check_mode)


def current_rules(group):
    """A group's ingress as a set of rule tuples."""
    rules = set()
    for perm in group.get("IpPermissions", []):
        proto = str(perm["IpProtocol"])
        ports = (None, None) if proto == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        for pair in perm.get("UserIdGroupPairs", []):
            rules.add((proto,) + ports + ("sg", pair["GroupId"]))
        for ip_range in perm.get("IpRanges", []):
            rules.add((proto,) + ports + ("cidr", ip_range["CidrIp"]))
        for ip_range in perm.get("Ipv6Ranges", []):
            rules.add((proto,) + ports + ("cidr6", ip_range["CidrIpv6"]))
        for prefix in perm.get("PrefixListIds", []):
            rules.add((proto,) + ports + ("prefix", prefix["PrefixListId"]))
    return rules


def ip_permission(rule):
    """One rule tuple as an EC2 IpPermission."""
    proto, from_port, to_port, kind, source = rule
    perm = {"IpProtocol": proto}
    if proto != "-1":
        perm.update(FromPort=from_port, ToPort=to_port)
    key = {"sg": ("UserIdGroupPairs", "GroupId"), "cidr": ("IpRanges", "CidrIp")}
    key.update({"cidr6": ("Ipv6Ranges", "CidrIpv6"), "prefix": ("PrefixListIds", "PrefixListId")})
    list_key, item_key = key[kind]
    perm[list_key] = [{item_key: source}]
    return perm


def sync_rules(ec2, group, wanted, check_mode):
    """Make a group's ingress exactly ``wanted`` (a set of rule tuples): revoke the extra, authorize the missing.

    The one rule-sync path of every module that owns security groups. Returns whether anything differs.
    """
    current = current_rules(group)
    missing, extra = sorted(wanted - current, key=str), sorted(current - wanted, key=str)
    if not check_mode:
        if extra:
            rule_call(ec2.revoke_security_group_ingress, group["GroupId"], extra, "InvalidPermission.NotFound")
        if missing:
            rule_call(ec2.authorize_security_group_ingress, group["GroupId"], missing, "InvalidPermission.Duplicate")
    return bool(missing or extra)


def rule_call(call, group_id, rules, already):
    """Authorize/revoke rules; a rule already there (or already gone) is what was wanted.

    That happens when a request of an interrupted run was still in flight when the group was read again.
    """
    try:
        # a group found by its tags may be moments old: calls by id can miss it for a while
        wait_visible(
            call,
            RULE_TIMEOUT,
            "security group {0} to be known".format(group_id),
            ("InvalidGroup.NotFound",),
            GroupId=group_id,
            IpPermissions=[ip_permission(r) for r in rules],
        )
    except ClientError as exc:
        if error_code(exc) != already:
            raise
        if len(rules) > 1:  # one of them was done already: the others one at a time, so they still happen
            for rule in rules:
                rule_call(call, group_id, [rule], already)


def create_group(ec2, vpc_id, name, description, tags, timeout):
    """Create a group tagged in the same call, and wait until EC2 finds it (new groups are not found at once).

    ``timeout=None``: no wait here; the caller waits for several new groups at once (wait_groups).
    """
    group_id = ec2.create_security_group(
        GroupName=name,
        Description=description,
        VpcId=vpc_id,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": boto3_tag_list(dict(tags, Name=name))}],
    )["GroupId"]
    if timeout is not None:
        wait_groups(ec2, [group_id], timeout)
    return {"GroupId": group_id, "GroupName": name, "IpPermissions": [], "Tags": []}


def wait_groups(ec2, group_ids, timeout):
    wait_with_waiter(ec2, "security_group_exists", timeout, delay=1, GroupIds=list(group_ids))


def find_cluster_vpc(ec2, cluster):
    """The id of the VPC tagged with the cluster (by vpc_network), or None."""
    vpcs = paginate(ec2, "describe_vpcs", "Vpcs", Filters=[{"Name": "tag:" + CLUSTER_TAG, "Values": [cluster]}])
    return vpcs[0]["VpcId"] if vpcs else None


def find_group(ec2, vpc_id, name):
    if is_placeholder(vpc_id):  # check mode before the network exists
        return None
    groups = paginate(
        ec2,
        "describe_security_groups",
        "SecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}],
    )
    return groups[0] if groups else None


def ensure_group(ec2, vpc_id, name, description, tags, rules_for, check_mode, timeout=300):
    """Create the group if missing and make its ingress exactly ``rules_for(group_id)``.

    Returns (changed, group_id); group_id is None in check mode when the group does not exist yet.
    """
    group = find_group(ec2, vpc_id, name)
    changed = created = False
    if group is None:
        created = True
        changed = True
        if check_mode:
            return True, None
        group = create_group(ec2, vpc_id, name, description, tags, timeout)
    changed |= sync_rules(ec2, group, rules_for(group["GroupId"]), check_mode)
    missing_tags = dict((k, v) for k, v in tags.items() if tag_dict(group.get("Tags")).get(k) != v)
    if missing_tags and not created:
        changed = True
        if not check_mode:
            ec2.create_tags(Resources=[group["GroupId"]], Tags=boto3_tag_list(missing_tags))
    return changed, group["GroupId"]


def delete_group(ec2, vpc_id, name):
    """Delete the group if it exists (its ingress first, which may name other groups). Returns whether it existed."""
    group = find_group(ec2, vpc_id, name) if vpc_id else None
    if group is None:
        return False
    if group.get("IpPermissions"):
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
    ec2.delete_security_group(GroupId=group["GroupId"])
    return True
