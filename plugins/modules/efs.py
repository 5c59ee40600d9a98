#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: efs
short_description: The cluster's EFS file system with a mount target in every subnet and its NFS security group
version_added: 0.1.0
description:
  - Creates, updates or deletes an encrypted EFS file system for a cluster, a mount target in each of
    O(subnet_ids), an NFS security group that allows TCP 2049 only from the worker security group (and
    O(allowed_cidrs) when given explicitly), an optional lifecycle policy and access points.
  - The file system is found by its creation token C(trainkit-<cluster_name>), which also makes creation
    idempotent after a crash.
  - A subnet added to O(subnet_ids) gets a mount target; a subnet removed loses its mount target.
  - O(state=absent) deletes the access points, the mount targets (waiting until they are gone), the file system and
    its security group - the order the VPC teardown needs.
author:
  - trainkit.aws contributors (@trainkit)
options:
  cluster_name:
    description: The cluster; names the creation token, the security group C(<cluster_name>-efs) and the tags.
    type: str
    required: true
  state:
    description: Whether the file system should exist.
    type: str
    choices: [present, absent]
    default: present
  vpc_id:
    description: The cluster's VPC (for the security group). Required with O(state=present).
    type: str
  subnet_ids:
    description: Subnets that get a mount target (at most one per availability zone).
    type: list
    elements: str
    default: []
  worker_security_group_id:
    description: The workers' security group, the only source allowed to reach NFS. Required with O(state=present).
    type: str
  allowed_cidrs:
    description: CIDR blocks also allowed to reach TCP 2049. Empty by default; nothing is open to the world unless listed.
    type: list
    elements: str
    default: []
  performance_mode:
    description: EFS performance mode (set on creation only).
    type: str
    choices: [generalPurpose, maxIO]
    default: generalPurpose
  throughput_mode:
    description: EFS throughput mode.
    type: str
    choices: [bursting, provisioned, elastic]
    default: bursting
  provisioned_throughput_in_mibps:
    description: MiB/s for O(throughput_mode=provisioned).
    type: float
  encrypted:
    description: Encrypt the file system at rest (set on creation only).
    type: bool
    default: true
  kms_key_id:
    description: The KMS key for encryption, for example the identity step's key. Default - the AWS managed key.
    type: str
  lifecycle_policy:
    description: Move files to Infrequent Access after this long, for example V(AFTER_30_DAYS). Not set - left alone.
    type: str
    choices: [AFTER_1_DAY, AFTER_7_DAYS, AFTER_14_DAYS, AFTER_30_DAYS, AFTER_60_DAYS, AFTER_90_DAYS, NONE]
  access_points:
    description: Access points, found by name (their C(Name) tag); unlisted ones are deleted.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name.
        type: str
        required: true
      path:
        description: Root directory of the access point.
        type: str
        required: true
      uid:
        description: POSIX user id the clients act as, and the owner of a new root directory.
        type: int
        default: 1000
      gid:
        description: POSIX group id.
        type: int
        default: 1000
      permissions:
        description: Octal permissions of a new root directory.
        type: str
        default: "0755"
  wait_timeout:
    description: Seconds to wait for the file system and mount targets to become available (or gone).
    type: int
    default: 600
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Storage | EFS for the cluster
  trainkit.aws.efs:
    cluster_name: paddle-demo
    vpc_id: "{{ trainkit_network.vpc_id }}"
    subnet_ids: "{{ trainkit_network.subnet_ids }}"
    worker_security_group_id: "{{ trainkit_network.security_group_ids.worker }}"
    kms_key_id: "{{ trainkit_identity.kms_key_arn }}"
    lifecycle_policy: AFTER_30_DAYS
  register: efs
"""

RETURN = r"""
file_system_id:
  description: The file system's id.
  returned: when state is present
  type: str
  sample: fs-0123456789abcdef0
dns_name:
  description: The file system's DNS name, what NFS clients mount.
  returned: when state is present
  type: str
  sample: fs-0123456789abcdef0.efs.us-west-2.amazonaws.com
mount_targets:
  description: The mount targets.
  returned: when state is present
  type: list
  elements: dict
  contains:
    mount_target_id:
      description: Id.
      type: str
    subnet_id:
      description: Subnet.
      type: str
    az:
      description: Availability zone.
      type: str
    ip_address:
      description: IP address in the subnet.
      type: str
security_group_id:
  description: The NFS security group's id.
  returned: when state is present
  type: str
access_points:
  description: The access points.
  returned: when state is present
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
    access_point_id:
      description: Id.
      type: str
    path:
      description: Root directory.
      type: str
tags:
  description: The file system's tags.
  returned: when state is present
  type: dict
"""

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import delete_group
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import ensure_group
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import find_cluster_vpc
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import find_group
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import undo
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_for
from ansible_collections.trainkit.aws.plugins.module_utils.tags import apply_tag_diff
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import diff_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import resource_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict

NFS_PORT = 2049


def token(cluster):
    return "trainkit-" + cluster


def group_name(cluster):
    return cluster + "-efs"


def find_fs(efs, cluster):
    found = paginate(efs, "describe_file_systems", "FileSystems", CreationToken=token(cluster))
    return found[0] if found else None


def mount_targets(efs, fs_id):
    return paginate(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs_id)


def access_points(efs, fs_id):
    return paginate(efs, "describe_access_points", "AccessPoints", FileSystemId=fs_id)


def describe(module, efs, fs, group_id):
    fs_id = fs["FileSystemId"]
    return {
        "file_system_id": fs_id,
        "dns_name": "{0}.efs.{1}.amazonaws.com".format(fs_id, module.region),
        "mount_targets": sorted(
            (
                {
                    "mount_target_id": t["MountTargetId"],
                    "subnet_id": t["SubnetId"],
                    "az": t.get("AvailabilityZoneName"),
                    "ip_address": t.get("IpAddress"),
                }
                for t in mount_targets(efs, fs_id)
            ),
            key=lambda t: t["subnet_id"],
        ),
        "security_group_id": group_id,
        "access_points": sorted(
            (
                {
                    "name": tag_dict(a.get("Tags")).get("Name"),
                    "access_point_id": a["AccessPointId"],
                    "path": a.get("RootDirectory", {}).get("Path"),
                }
                for a in access_points(efs, fs_id)
            ),
            key=lambda a: a["name"] or "",
        ),
        "tags": tag_dict(efs.list_tags_for_resource(ResourceId=fs_id).get("Tags")),
    }


def wait_state(efs, fs_id, wanted, timeout):
    def check():
        found = paginate(efs, "describe_file_systems", "FileSystems", FileSystemId=fs_id)
        return found and found[0]["LifeCycleState"] == wanted

    wait_for(check, timeout, "file system {0} to be {1}".format(fs_id, wanted))


def wait_targets(efs, fs_id, timeout, gone=()):
    def check():
        targets = mount_targets(efs, fs_id)
        return all(t["LifeCycleState"] == "available" for t in targets) and not [
            t for t in targets if t["MountTargetId"] in gone
        ]

    wait_for(check, timeout, "the mount targets of {0}".format(fs_id))


def ensure_present(module, efs):
    """Converge; when a step fails after this run created the file system, remove it again (nothing half-built)."""
    created = []
    try:
        return converge(module, efs, created)
    except (ClientError, BotoCoreError, TrainkitError):
        if created:
            undo(module, "file system " + created[0], lambda: remove_file_system(module, efs, created[0], False))
        raise


def check_subnets(ec2, p):
    """Before any change: AWS allows one mount target per availability zone (a second one fails with
    MountTargetConflict after the file system exists), and every subnet must be in the VPC."""
    ids = [s for s in p["subnet_ids"] if not is_placeholder(s)]
    if not ids:  # check mode before the network exists
        return
    zones, problems = {}, []
    for subnet in ec2.describe_subnets(SubnetIds=ids)["Subnets"]:
        zones.setdefault(subnet["AvailabilityZone"], []).append(subnet["SubnetId"])
        if not is_placeholder(p["vpc_id"]) and subnet["VpcId"] != p["vpc_id"]:
            problems.append(
                "subnet {0} is in {1}, not in vpc_id {2}".format(subnet["SubnetId"], subnet["VpcId"], p["vpc_id"])
            )
    for zone, subnets in sorted(zones.items()):
        if len(subnets) > 1:
            problems.append(
                "subnets {0} are all in {1}: EFS allows one mount target per availability zone".format(
                    " and ".join(sorted(subnets)), zone
                )
            )
    if problems:
        raise TrainkitError(
            "subnet_ids cannot hold the mount targets: {0}.".format("; ".join(problems)),
            hint="list one subnet per zone, in the file system's VPC - the private ones, where the nodes are "
            "(the storage role's default, storage_subnet_ids)",
        )


def converge(module, efs, created):
    p = module.params
    cluster = p["cluster_name"]
    ec2 = module.client("ec2")
    check_subnets(ec2, p)
    wanted_tags, purge = desired_tags(p["tags"], cluster, p["purge_tags"], extra={"Name": cluster + "-efs"})

    def nfs_rules(group_id):
        rules = {("tcp", NFS_PORT, NFS_PORT, "sg", p["worker_security_group_id"])}
        rules.update(("tcp", NFS_PORT, NFS_PORT, "cidr", c) for c in p["allowed_cidrs"])
        return rules

    group_changed, group_id = ensure_group(
        ec2,
        p["vpc_id"],
        group_name(cluster),
        "NFS to the EFS of trainkit cluster {0}, from its workers".format(cluster),
        cluster_tags(cluster),
        nfs_rules,
        module.check_mode,
        p["wait_timeout"],
    )
    changed = group_changed
    fs = find_fs(efs, cluster)
    if fs is not None and fs["LifeCycleState"] in ("deleting", "deleted") and not module.check_mode:
        # an earlier absent is still deleting it: the creation token is taken until it is gone
        wait_deleted(efs, cluster, fs["FileSystemId"], p["wait_timeout"])
        fs = None
    elif fs is not None and fs["LifeCycleState"] == "creating" and not module.check_mode:
        wait_state(efs, fs["FileSystemId"], "available", p["wait_timeout"])  # a run interrupted while it was new
    before = describe(module, efs, fs, group_id) if fs else {}
    if fs is None:
        changed = True
        if module.check_mode:
            after = {"mount_targets": [{"subnet_id": s} for s in p["subnet_ids"]], "tags": wanted_tags}
            fs_id = placeholder("fs-")
            result = dict(
                after,
                file_system_id=fs_id,
                dns_name="{0}.efs.{1}.amazonaws.com".format(fs_id, module.region),
                security_group_id=group_id or placeholder("sg-"),
                access_points=[{"name": a["name"], "path": a["path"]} for a in p["access_points"]],
            )
            return True, before, after, result
        kwargs = dict(
            CreationToken=token(cluster),
            PerformanceMode=p["performance_mode"],
            Encrypted=p["encrypted"],
            ThroughputMode=p["throughput_mode"],
            Tags=boto3_tag_list(wanted_tags),
        )
        if p["kms_key_id"]:
            kwargs["KmsKeyId"] = p["kms_key_id"]
        if p["throughput_mode"] == "provisioned":
            kwargs["ProvisionedThroughputInMibps"] = p["provisioned_throughput_in_mibps"]
        fs = efs.create_file_system(**kwargs)
        created.append(fs["FileSystemId"])
        wait_state(efs, fs["FileSystemId"], "available", p["wait_timeout"])
    fs_id = fs["FileSystemId"]
    if before:
        tagger = resource_tagger(efs.tag_resource, efs.untag_resource, ResourceId=fs_id)
        changed |= sync_tags(module.check_mode, before["tags"], wanted_tags, purge, tagger)[0]
        if fs.get("ThroughputMode") != p["throughput_mode"] or (
            p["throughput_mode"] == "provisioned"
            and fs.get("ProvisionedThroughputInMibps") != p["provisioned_throughput_in_mibps"]
        ):
            changed = True
            if not module.check_mode:
                kwargs = dict(FileSystemId=fs_id, ThroughputMode=p["throughput_mode"])
                if p["throughput_mode"] == "provisioned":
                    kwargs["ProvisionedThroughputInMibps"] = p["provisioned_throughput_in_mibps"]
                efs.update_file_system(**kwargs)
    if p["lifecycle_policy"] is not None:
        current = efs.describe_lifecycle_configuration(FileSystemId=fs_id).get("LifecyclePolicies", [])
        wanted = [] if p["lifecycle_policy"] == "NONE" else [{"TransitionToIA": p["lifecycle_policy"]}]
        if [c for c in current if "TransitionToIA" in c] != wanted:
            changed = True
            if not module.check_mode:
                efs.put_lifecycle_configuration(FileSystemId=fs_id, LifecyclePolicies=wanted)

    # mount targets: one per listed subnet, none elsewhere
    targets = dict((t["SubnetId"], t) for t in mount_targets(efs, fs_id))
    removed = []
    for subnet_id, target in sorted(targets.items()):
        if subnet_id not in p["subnet_ids"]:
            changed = True
            if not module.check_mode:
                efs.delete_mount_target(MountTargetId=target["MountTargetId"])
                removed.append(target["MountTargetId"])
    for subnet_id in p["subnet_ids"]:
        if subnet_id in targets:
            continue
        changed = True
        if not module.check_mode:
            efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet_id, SecurityGroups=[group_id])
    if not module.check_mode:
        wait_targets(efs, fs_id, p["wait_timeout"], gone=removed)

    # access points, by name
    points = dict((tag_dict(a.get("Tags")).get("Name"), a) for a in access_points(efs, fs_id))
    wanted_points = dict((a["name"], a) for a in p["access_points"])
    for name, point in sorted(points.items(), key=lambda item: str(item[0])):
        if name not in wanted_points:
            changed = True
            if not module.check_mode:
                efs.delete_access_point(AccessPointId=point["AccessPointId"])
    for name, spec in sorted(wanted_points.items()):
        if name in points:
            continue
        changed = True
        if not module.check_mode:
            efs.create_access_point(
                FileSystemId=fs_id,
                PosixUser={"Uid": spec["uid"], "Gid": spec["gid"]},
                RootDirectory={
                    "Path": spec["path"],
                    "CreationInfo": {
                        "OwnerUid": spec["uid"],
                        "OwnerGid": spec["gid"],
                        "Permissions": spec["permissions"],
                    },
                },
                Tags=boto3_tag_list(dict(cluster_tags(cluster), Name=name)),
            )
    if module.check_mode:
        after = dict(
            before, tags=apply_tag_diff(before.get("tags"), *diff_tags(before.get("tags"), wanted_tags, purge))
        )
        after["mount_targets"] = [{"subnet_id": s} for s in sorted(p["subnet_ids"])]
        after["access_points"] = [{"name": n, "path": a["path"]} for n, a in sorted(wanted_points.items())]
        return changed, before, after, before
    after = describe(module, efs, find_fs(efs, cluster), group_id) if changed else before
    return changed, before, after, after


def remove_file_system(module, efs, fs_id, wait_gone=True):
    """Access points, then mount targets (DeleteMountTarget returns while they are still deleting, and the file
    system cannot go while any exists), then the file system, followed until EFS no longer lists it."""
    timeout = module.params["wait_timeout"]
    for point in access_points(efs, fs_id):
        efs.delete_access_point(AccessPointId=point["AccessPointId"])
    for target in mount_targets(efs, fs_id):
        if target["LifeCycleState"] not in ("deleting", "deleted"):
            efs.delete_mount_target(MountTargetId=target["MountTargetId"])
    wait_for(lambda: not mount_targets(efs, fs_id), timeout, "the mount targets of {0} to go".format(fs_id))
    try:
        efs.delete_file_system(FileSystemId=fs_id)
    except ClientError as exc:
        if error_code(exc) != "FileSystemNotFound":  # an interrupted earlier run already deleted it
            raise
    if wait_gone:
        wait_deleted(efs, module.params["cluster_name"], fs_id, timeout)


def wait_deleted(efs, cluster, fs_id, timeout):
    """Until EFS no longer lists the cluster's file system (DeleteFileSystem returns while it is deleting)."""
    wait_for(lambda: find_fs(efs, cluster) is None, timeout, "file system {0} to be deleted".format(fs_id))


def ensure_absent(module, efs):
    p = module.params
    cluster = p["cluster_name"]
    ec2 = module.client("ec2")
    fs = find_fs(efs, cluster)
    vpc_id = p["vpc_id"]
    if fs is not None and not vpc_id:
        targets = mount_targets(efs, fs["FileSystemId"])
        if targets:
            vpc_id = (
                targets[0].get("VpcId")
                or ec2.describe_subnets(SubnetIds=[targets[0]["SubnetId"]])["Subnets"][0]["VpcId"]
            )
    if not vpc_id:
        vpc_id = find_cluster_vpc(ec2, cluster)
    group_exists = bool(vpc_id) and find_group(ec2, vpc_id, group_name(cluster)) is not None
    if fs is None and not group_exists:
        return False, {}, {}, {}
    before = describe(module, efs, fs, None) if fs else {}
    if module.check_mode:
        return True, before, {}, {}
    if fs is not None:
        remove_file_system(module, efs, fs["FileSystemId"])
    delete_group(ec2, vpc_id, group_name(cluster))
    return True, before, {}, {}


def main():
    argument_spec = dict(
        cluster_name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        vpc_id=dict(type="str"),
        subnet_ids=dict(type="list", elements="str", default=[]),
        worker_security_group_id=dict(type="str"),
        allowed_cidrs=dict(type="list", elements="str", default=[]),
        performance_mode=dict(type="str", default="generalPurpose", choices=["generalPurpose", "maxIO"]),
        throughput_mode=dict(type="str", default="bursting", choices=["bursting", "provisioned", "elastic"]),
        provisioned_throughput_in_mibps=dict(type="float"),
        encrypted=dict(type="bool", default=True),
        kms_key_id=dict(type="str"),
        lifecycle_policy=dict(
            type="str",
            choices=[
                "AFTER_1_DAY",
                "AFTER_7_DAYS",
                "AFTER_14_DAYS",
                "AFTER_30_DAYS",
                "AFTER_60_DAYS",
                "AFTER_90_DAYS",
                "NONE",
            ],
        ),
        access_points=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                path=dict(type="str", required=True),
                uid=dict(type="int", default=1000),
                gid=dict(type="int", default=1000),
                permissions=dict(type="str", default="0755"),
            ),
        ),
        wait_timeout=dict(type="int", default=600),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"])
    if p["state"] == "present":
        if not (p["vpc_id"] or "").startswith("vpc-"):
            problems.append("vpc_id is required with state=present, e.g. trainkit_network.vpc_id")
        if not (p["worker_security_group_id"] or "").startswith("sg-"):
            problems.append(
                "worker_security_group_id is required with state=present, e.g. trainkit_network.security_group_ids.worker"
            )
        if not p["subnet_ids"]:
            problems.append("subnet_ids must name at least one subnet for a mount target")
    problems += [
        "subnet_ids: {0!r} is not a subnet id".format(s) for s in p["subnet_ids"] if not s.startswith("subnet-")
    ]
    if len(set(p["subnet_ids"])) != len(p["subnet_ids"]):
        problems.append("subnet_ids lists a subnet twice")
    problems += validate.cidr_list(p["allowed_cidrs"], "allowed_cidrs")
    problems += validate.efs(
        p["throughput_mode"],
        p["provisioned_throughput_in_mibps"],
        p["encrypted"],
        p["kms_key_id"],
        p["access_points"],
        performance_mode=p["performance_mode"],
    )
    module.fail_on_problems(problems)
    module.run(ensure_present, ensure_absent, "the EFS of cluster " + p["cluster_name"], module.client("efs"))


if __name__ == "__main__":
    main()
