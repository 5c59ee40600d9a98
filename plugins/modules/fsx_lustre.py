#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: fsx_lustre
short_description: The cluster's FSx for Lustre file system, linked to S3, with its security group
version_added: 0.1.0
description:
  - Creates or deletes an FSx for Lustre file system for a cluster in one subnet, optionally linked to an S3 path
    (O(import_path)/O(export_path)), with a security group C(<cluster_name>-fsx) that allows TCP 988 and 1018-1023
    from the worker security group and from itself (Lustre servers talk to each other), and nothing else.
  - Lustre servers also open connections to their clients, so the worker security group gets TCP 988 and 1018-1023
    from the C(<cluster_name>-fsx) group (AWS's FSx for Lustre guide, "File system access control with Amazon
    VPC"); M(trainkit.aws.vpc_network), which owns the worker group, keeps these rules while the group exists, and
    O(state=absent) revokes them before it deletes the group.
  - The file system is found by its tags C(trainkit:cluster=<cluster_name>) and C(Name=<cluster_name>-lustre).
  - O(storage_capacity) and O(per_unit_storage_throughput) are checked against what the O(deployment_type) allows
    before any call. Changing them on an existing file system is not done by this module (FSx only grows storage,
    slowly); it reports the difference and fails.
  - O(state=absent) deletes the file system, waits until it is gone, and deletes its security group.
author:
  - trainkit.aws contributors (@trainkit)
options:
  cluster_name:
    description: The cluster.
    type: str
    required: true
  state:
    description: Whether the file system should exist.
    type: str
    choices: [present, absent]
    default: present
  subnet_id:
    description: The subnet of the file system. Required with O(state=present).
    type: str
  worker_security_group_id:
    description: The workers' security group, allowed to reach Lustre. Required with O(state=present).
    type: str
  deployment_type:
    description: The Lustre deployment type.
    type: str
    choices: [SCRATCH_1, SCRATCH_2, PERSISTENT_1, PERSISTENT_2]
    default: SCRATCH_2
  storage_capacity:
    description:
      - GiB. SCRATCH_1 - 1200, 2400, or a multiple of 3600. The others - 1200, or a multiple of 2400.
    type: int
    default: 1200
  per_unit_storage_throughput:
    description:
      - MB/s per TiB, for persistent types only - PERSISTENT_1 50, 100 or 200; PERSISTENT_2 125, 250, 500 or 1000.
    type: int
  import_path:
    description: The S3 path to import from, C(s3://bucket[/prefix]) (SCRATCH and PERSISTENT_1).
    type: str
  export_path:
    description: The S3 path to export to; must start with O(import_path). Default with an import path - FSx's own.
    type: str
  kms_key_id:
    description:
      - The KMS key that encrypts a persistent file system at rest (C(PERSISTENT_1), C(PERSISTENT_2)); without it
        FSx uses its AWS managed key. Refused for scratch types, which FSx always encrypts with keys it manages
        (FSx for Lustre guide, "Encrypting data at rest").
    type: str
  wait:
    description:
      - Wait until a new file system is C(AVAILABLE) (creation takes several minutes on AWS).
      - O(state=absent) always waits until the file system is gone, following it by id through C(DELETING)
        until FSx answers C(FileSystemNotFound) - its network interfaces keep the security group in use until then.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
extends_documentation_fragment:
  - trainkit.aws.aws
  - trainkit.aws.aws.attributes
  - trainkit.aws.aws.tags
"""

EXAMPLES = r"""
- name: Storage | Lustre scratch space linked to the data set in S3
  trainkit.aws.fsx_lustre:
    cluster_name: paddle-demo
    subnet_id: "{{ trainkit_network.subnet_ids[0] }}"
    worker_security_group_id: "{{ trainkit_network.security_group_ids.worker }}"
    deployment_type: SCRATCH_2
    storage_capacity: 1200
    import_path: s3://paddle-demo-data/imagenet
  register: fsx
"""

RETURN = r"""
file_system_id:
  description: The file system's id.
  returned: when state is present
  type: str
dns_name:
  description: Its DNS name.
  returned: when state is present
  type: str
  sample: fs-0123456789abcdef0.fsx.us-west-2.amazonaws.com
mount_name:
  description: The Lustre mount name (C(fsx) for SCRATCH_1, generated otherwise).
  returned: when state is present
  type: str
security_group_id:
  description: The Lustre security group's id.
  returned: when state is present
  type: str
storage_capacity:
  description: GiB.
  returned: when state is present
  type: int
deployment_type:
  description: The deployment type.
  returned: when state is present
  type: str
import_path:
  description: The linked S3 import path, as FSx reports it.
  returned: when state is present and FSx reports one
  type: str
export_path:
  description: The linked S3 export path, as FSx reports it.
  returned: when state is present and FSx reports one
  type: str
"""

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import LUSTRE_PORTS
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import add_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import current_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import delete_group
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import lustre_client_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import sync_rules
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import ensure_group
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import find_cluster_vpc
from ansible_collections.trainkit.aws.plugins.module_utils._ec2 import find_group
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import error_code
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import placeholder
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_for
from ansible_collections.trainkit.aws.plugins.module_utils.tags import boto3_tag_list
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import desired_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import resource_tagger
from ansible_collections.trainkit.aws.plugins.module_utils.tags import sync_tags
from ansible_collections.trainkit.aws.plugins.module_utils.tags import tag_dict


def name_tag(cluster):
    return cluster + "-lustre"


def cluster_file_systems(fsx, cluster):
    """Every Lustre file system tagged for the cluster, whatever its life cycle (one listing)."""
    return [
        fs
        for fs in paginate(fsx, "describe_file_systems", "FileSystems")
        if fs.get("FileSystemType") == "LUSTRE"
        and tag_dict(fs.get("Tags")).get("trainkit:cluster") == cluster
        and tag_dict(fs.get("Tags")).get("Name") == name_tag(cluster)
    ]


def find_fs(fsx, cluster, listed=None):
    """The cluster's file system that is not being deleted, from ``listed`` or a new listing."""
    found = [
        fs
        for fs in (cluster_file_systems(fsx, cluster) if listed is None else listed)
        if fs.get("Lifecycle") not in ("DELETING", "DELETED")
    ]
    if len(found) > 1:
        raise TrainkitError(
            "Several Lustre file systems are tagged for cluster {0}: {1}.".format(
                cluster, ", ".join(f["FileSystemId"] for f in found)
            ),
            hint="delete the extra ones",
        )
    return found[0] if found else None


def gone(fsx, fs_id):
    try:
        fsx.describe_file_systems(FileSystemIds=[fs_id])
    except ClientError as exc:
        if error_code(exc) == "FileSystemNotFound":
            return True
        raise
    return False


def lifecycle(fs):
    # AWS always reports Lifecycle; a file system without one is not known to be AVAILABLE.
    return fs.get("Lifecycle", "UNKNOWN")


def describe(fs, group_id):
    lustre = fs.get("LustreConfiguration") or {}
    repo = lustre.get("DataRepositoryConfiguration") or {}
    result = {
        "file_system_id": fs["FileSystemId"],
        "dns_name": fs.get("DNSName"),
        "mount_name": lustre.get("MountName") or ("fsx" if lustre.get("DeploymentType") == "SCRATCH_1" else None),
        "security_group_id": group_id or (fs.get("SecurityGroupIds") or [None])[0],
        "storage_capacity": fs.get("StorageCapacity"),
        "deployment_type": lustre.get("DeploymentType"),
        "lifecycle": lifecycle(fs),
        "tags": tag_dict(fs.get("Tags")),
    }
    if repo.get("ImportPath"):
        result["import_path"] = repo["ImportPath"]
    if repo.get("ExportPath"):
        result["export_path"] = repo["ExportPath"]
    return result


def ensure_present(module, fsx):
    p = module.params
    cluster = p["cluster_name"]
    ec2 = module.client("ec2")
    if is_placeholder(p["subnet_id"]):  # check mode: the network itself is still to be created
        vpc_id = placeholder("vpc-")
    else:
        vpc_id = ec2.describe_subnets(SubnetIds=[p["subnet_id"]])["Subnets"][0]["VpcId"]
    wanted_tags, purge = desired_tags(p["tags"], cluster, p["purge_tags"], extra={"Name": name_tag(cluster)})

    def lustre_rules(group_id):
        rules = set()
        for low, high in LUSTRE_PORTS:
            rules.add(("tcp", low, high, "sg", p["worker_security_group_id"]))
            rules.add(("tcp", low, high, "sg", group_id))
        return rules

    changed, group_id = ensure_group(
        ec2,
        vpc_id,
        cluster + "-fsx",
        "Lustre of trainkit cluster {0}, from its workers".format(cluster),
        cluster_tags(cluster),
        lustre_rules,
        module.check_mode,
        p["wait_timeout"],
    )
    if group_id is not None:  # the clients' side: the workers admit the file system's connections
        changed |= add_rules(ec2, p["worker_security_group_id"], lustre_client_rules(group_id), module.check_mode)
    fs = find_fs(fsx, cluster)
    if fs is None:
        after = {
            "deployment_type": p["deployment_type"],
            "storage_capacity": p["storage_capacity"],
            "tags": wanted_tags,
        }
        if module.check_mode:
            fs_id = placeholder("fs-")
            result = dict(
                after,
                file_system_id=fs_id,
                dns_name="{0}.fsx.{1}.amazonaws.com".format(fs_id, module.region),
                mount_name=placeholder(),
                security_group_id=group_id or placeholder("sg-"),
            )
            return True, {}, after, result
        lustre = {"DeploymentType": p["deployment_type"]}
        if p["per_unit_storage_throughput"]:
            lustre["PerUnitStorageThroughput"] = p["per_unit_storage_throughput"]
        if p["import_path"]:
            lustre["ImportPath"] = p["import_path"]
        if p["export_path"]:
            lustre["ExportPath"] = p["export_path"]
        kwargs = dict(
            FileSystemType="LUSTRE",
            StorageCapacity=p["storage_capacity"],
            SubnetIds=[p["subnet_id"]],
            SecurityGroupIds=[group_id],
            LustreConfiguration=lustre,
            Tags=boto3_tag_list(wanted_tags),
        )
        if p["kms_key_id"]:
            kwargs["KmsKeyId"] = p["kms_key_id"]
        fs = fsx.create_file_system(**kwargs)["FileSystem"]
        fs = wait_available(module, fsx, fs)
        after = describe(fs, group_id)
        return True, {}, after, after

    before = describe(fs, group_id)
    drift = []
    if before["storage_capacity"] != p["storage_capacity"]:
        drift.append("storage_capacity {0} (wanted {1})".format(before["storage_capacity"], p["storage_capacity"]))
    if before["deployment_type"] and before["deployment_type"] != p["deployment_type"]:
        drift.append("deployment_type {0} (wanted {1})".format(before["deployment_type"], p["deployment_type"]))
    if drift:
        raise TrainkitError(
            "Lustre file system {0} of cluster {1} has {2}.".format(fs["FileSystemId"], cluster, ", ".join(drift)),
            hint="set the options to what it has, or delete it (state=absent) and create it again",
        )
    tagger = resource_tagger(fsx.tag_resource, fsx.untag_resource, ResourceARN=fs["ResourceARN"])
    changed |= sync_tags(module.check_mode, before["tags"], wanted_tags, purge, tagger)[0]
    if not module.check_mode and lifecycle(fs) != "AVAILABLE":
        fs = wait_available(module, fsx, fs)
    after = describe(find_fs(fsx, cluster), group_id) if changed and not module.check_mode else before
    return changed, before, after, after


def wait_available(module, fsx, fs):
    if not module.params["wait"]:
        return fs
    fs_id = fs["FileSystemId"]

    def check():
        found = fsx.describe_file_systems(FileSystemIds=[fs_id])["FileSystems"][0]
        if lifecycle(found) in ("FAILED", "MISCONFIGURED"):
            raise TrainkitError(
                "Lustre file system {0} is {1}: {2}".format(
                    fs_id, lifecycle(found), found.get("FailureDetails", {}).get("Message", "")
                ),
                hint="check the subnet, the security group and the S3 path's permissions, then delete and retry",
            )
        return found if lifecycle(found) == "AVAILABLE" else None

    return wait_for(
        check,
        module.params["wait_timeout"],
        "Lustre file system {0} to be AVAILABLE".format(fs_id),
        delay=5,
        max_delay=30,
    )


def ensure_absent(module, fsx):
    p = module.params
    cluster = p["cluster_name"]
    ec2 = module.client("ec2")
    listed = cluster_file_systems(fsx, cluster)
    fs = find_fs(fsx, cluster, listed)
    # DELETING ones too (an earlier absent): their network interfaces hold the group until they are gone
    deleting = [f["FileSystemId"] for f in listed if f.get("Lifecycle") == "DELETING"]
    vpc_id = None
    if fs is not None:
        vpc_id = ec2.describe_subnets(SubnetIds=fs["SubnetIds"][:1])["Subnets"][0]["VpcId"]
    elif p["subnet_id"]:
        vpc_id = ec2.describe_subnets(SubnetIds=[p["subnet_id"]])["Subnets"][0]["VpcId"]
    else:
        vpc_id = find_cluster_vpc(ec2, cluster)
    group = find_group(ec2, vpc_id, cluster + "-fsx") if vpc_id else None
    if fs is None and group is None:
        return False, {}, {}, {}
    before = describe(fs, None) if fs else {}
    if module.check_mode:
        return True, before, {}, {}
    if fs is not None:
        fsx.delete_file_system(FileSystemId=fs["FileSystemId"])
        deleting.append(fs["FileSystemId"])
    for fs_id in deleting:  # always: until then the group cannot be deleted
        # DELETING lasts minutes and the file system's network interfaces keep its security group in use until it
        # is gone: follow it by id until FSx no longer knows it (find_fs skips it).
        wait_for(
            lambda fs_id=fs_id: gone(fsx, fs_id),
            p["wait_timeout"],
            "Lustre file system {0} to be deleted".format(fs_id),
            delay=2,
            max_delay=30,
        )
    if group is not None:  # a group another group's rules name cannot be deleted: the workers' rules go first
        clients = lustre_client_rules(group["GroupId"])
        for other in paginate(
            ec2, "describe_security_groups", "SecurityGroups", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
        ):
            if other["GroupId"] != group["GroupId"]:
                sync_rules(ec2, other, current_rules(other) - clients, False)
    delete_group(ec2, vpc_id, cluster + "-fsx")
    return True, before, {}, {}


def main():
    argument_spec = dict(
        cluster_name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        subnet_id=dict(type="str"),
        worker_security_group_id=dict(type="str"),
        deployment_type=dict(
            type="str", default="SCRATCH_2", choices=["SCRATCH_1", "SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2"]
        ),
        storage_capacity=dict(type="int", default=1200),
        per_unit_storage_throughput=dict(type="int"),
        import_path=dict(type="str"),
        export_path=dict(type="str"),
        kms_key_id=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
    )
    module = AWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    problems = validate.cluster_name(p["cluster_name"]) + validate.tags(p["tags"])
    if p["state"] == "present":
        if not (p["subnet_id"] or "").startswith("subnet-"):
            problems.append("subnet_id is required with state=present, e.g. trainkit_network.subnet_ids[0]")
        if not (p["worker_security_group_id"] or "").startswith("sg-"):
            problems.append("worker_security_group_id is required with state=present")
    if p["kms_key_id"] and not p["deployment_type"].startswith("PERSISTENT"):
        # FSx takes a KMS key for persistent types only; scratch ones are always encrypted with keys FSx manages
        # (FSx for Lustre guide, "Encrypting data at rest")
        problems.append(
            "kms_key_id is for PERSISTENT_1 and PERSISTENT_2 only: a {0} file system is encrypted at rest with keys "
            "FSx manages".format(p["deployment_type"])
        )
    problems += validate.fsx_lustre(
        p["deployment_type"],
        p["storage_capacity"],
        p["per_unit_storage_throughput"],
        p["import_path"],
        p["export_path"],
    )
    module.fail_on_problems(problems)
    module.run(
        ensure_present, ensure_absent, "the Lustre file system of cluster " + p["cluster_name"], module.client("fsx")
    )


if __name__ == "__main__":
    main()
