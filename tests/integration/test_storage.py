# -*- coding: utf-8 -*-
"""EFS and FSx for Lustre against the local AWS endpoint; storage.yml then teardown.yml end to end."""

import json
import urllib.request

import pytest

from harness import Ansible
from harness import LocalAWS
from harness import ingress
from harness import unique

SUBNETS = [
    {"az": "us-west-2a", "cidr": "172.20.1.0/24"},
    {"az": "us-west-2b", "cidr": "172.20.2.0/24"},
    {"az": "us-west-2c", "cidr": "172.20.3.0/24"},
    {"az": "us-west-2d", "cidr": "172.20.4.0/24"},
]


def network(ansible, cluster):
    result = ansible.module("vpc_network", {"cluster_name": cluster, "cidr_block": "172.20.0.0/16", "subnets": SUBNETS})
    assert result.changed, result.output
    return result


def file_systems(efs, cluster):
    return efs.describe_file_systems(CreationToken="trainkit-" + cluster)["FileSystems"]


def group(ec2, vpc_id, name):
    found = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [name]}]
    )["SecurityGroups"]
    return found[0] if found else None


def test_efs_lifecycle(ansible, boto):
    ec2, efs = boto("ec2"), boto("efs")
    cluster = unique("efs")
    net = network(ansible, cluster)
    worker = net["security_group_ids"]["worker"]
    args = {
        "cluster_name": cluster,
        "vpc_id": net["vpc_id"],
        "subnet_ids": net["subnet_ids"][:3],
        "worker_security_group_id": worker,
        "lifecycle_policy": "AFTER_30_DAYS",
        "access_points": [{"name": "data", "path": "/data", "uid": 1000, "gid": 1000}],
    }
    checked = ansible.module("efs", args, check=True)
    assert checked.changed and file_systems(efs, cluster) == [] and group(ec2, net["vpc_id"], cluster + "-efs") is None

    created = ansible.module("efs", args)
    assert created.changed, created.output
    [fs] = file_systems(efs, cluster)
    assert fs["Encrypted"] is True and created["file_system_id"] == fs["FileSystemId"]
    assert created["dns_name"] == fs["FileSystemId"] + ".efs.us-west-2.amazonaws.com"
    targets = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(net["subnet_ids"][:3])
    assert sorted(t["AvailabilityZoneName"] for t in targets) == ["us-west-2a", "us-west-2b", "us-west-2c"]
    nfs = group(ec2, net["vpc_id"], cluster + "-efs")
    assert ingress(nfs) == {("tcp", 2049, 2049, worker)}, "exactly one rule: NFS from the workers"
    assert created["security_group_id"] == nfs["GroupId"]
    [point] = efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
    assert point["RootDirectory"]["Path"] == "/data" and created["access_points"][0]["name"] == "data"
    policies = efs.describe_lifecycle_configuration(FileSystemId=fs["FileSystemId"])["LifecyclePolicies"]
    assert policies == [{"TransitionToIA": "AFTER_30_DAYS"}]
    tags = dict((t["Key"], t["Value"]) for t in efs.list_tags_for_resource(ResourceId=fs["FileSystemId"])["Tags"])
    assert tags["trainkit:cluster"] == cluster and tags["kubernetes.io/cluster/" + cluster] == "owned"

    assert not ansible.module("efs", args).changed

    four = dict(args, subnet_ids=net["subnet_ids"])
    assert ansible.module("efs", four, check=True).changed
    assert len(efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]) == 3
    grown = ansible.module("efs", four)
    assert grown.changed
    after = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
    assert len(after) == 4 and set(t["MountTargetId"] for t in targets) < set(t["MountTargetId"] for t in after)
    assert not ansible.module("efs", four).changed

    # the network cannot go while the file system is in it, and says why
    blocked = ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"})
    assert blocked.failed and fs["FileSystemId"] in blocked["msg"] and "storage teardown" in blocked["msg"]

    absent = {"cluster_name": cluster, "state": "absent"}
    assert ansible.module("efs", absent, check=True).changed and len(file_systems(efs, cluster)) == 1
    gone = ansible.module("efs", absent)
    assert gone.changed, gone.output
    assert file_systems(efs, cluster) == [] and group(ec2, net["vpc_id"], cluster + "-efs") is None
    assert not ansible.module("efs", absent).changed
    assert ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}).changed


def moto_lustre_config(endpoint, fs_id):
    """The LustreConfiguration the endpoint stored (botocore's output shape hides the S3 link that moto keeps)."""
    with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=30) as response:
        data = json.load(response)
    text = json.dumps(data.get("fsx", {}))
    return fs_id in text and text


def test_efs_refuses_two_subnets_in_one_zone_before_any_change(ansible, boto):
    """AWS allows one mount target per zone: a second fails (MountTargetConflict) only after the file system and
    its first target exist. A network with a public and a private subnet per zone gave the storage role both."""
    ec2, efs = boto("ec2"), boto("efs")
    cluster = unique("efsaz")
    two = [{"az": "us-west-2a", "cidr": "10.60.1.0/24"}, {"az": "us-west-2a", "cidr": "10.60.11.0/24", "public": False}]
    net = ansible.module(
        "vpc_network", {"cluster_name": cluster, "cidr_block": "10.60.0.0/16", "subnets": two, "nat_gateways": "none"}
    )
    args = {
        "cluster_name": cluster,
        "vpc_id": net["vpc_id"],
        "subnet_ids": net["subnet_ids"],
        "worker_security_group_id": net["security_group_ids"]["worker"],
    }
    refused = ansible.module("efs", args)
    assert refused.failed and "one mount target per availability zone" in refused["msg"], refused.output
    assert " and ".join(sorted(net["subnet_ids"])) in refused["msg"]
    assert file_systems(efs, cluster) == [] and group(ec2, net["vpc_id"], cluster + "-efs") is None
    assert ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}).changed


@pytest.fixture
def fresh_aws(tmp_path):
    """An endpoint of this test's own: moto's state dump (data.json) fails once other services hold odd state."""
    endpoint = LocalAWS(str(tmp_path / "aws"))
    endpoint.start()
    yield endpoint, Ansible(endpoint.url, str(tmp_path))
    endpoint.stop()


def test_fsx_lustre_lifecycle(fresh_aws):
    local_aws, ansible = fresh_aws
    ec2, fsx = local_aws.client("ec2"), local_aws.client("fsx")
    cluster = unique("fsx")
    net = network(ansible, cluster)
    worker = net["security_group_ids"]["worker"]
    args = {
        "cluster_name": cluster,
        "subnet_id": net["subnet_ids"][0],
        "worker_security_group_id": worker,
        "deployment_type": "SCRATCH_2",
        "storage_capacity": 2400,
        "import_path": "s3://{0}-data/imagenet".format(cluster),
        "export_path": "s3://{0}-data/imagenet/results".format(cluster),
    }

    def ours():
        return [
            f
            for f in fsx.describe_file_systems()["FileSystems"]
            if dict((t["Key"], t["Value"]) for t in f.get("Tags", [])).get("trainkit:cluster") == cluster
        ]

    assert ansible.module("fsx_lustre", args, check=True).changed and ours() == []
    created = ansible.module("fsx_lustre", args)
    assert created.changed, created.output
    [fs] = ours()
    assert fs["StorageCapacity"] == 2400 and fs["SubnetIds"] == [net["subnet_ids"][0]]
    assert created["dns_name"] == fs["DNSName"] and created["file_system_id"] == fs["FileSystemId"]
    stored = moto_lustre_config(local_aws.url, fs["FileSystemId"])
    assert stored and args["import_path"] in stored and args["export_path"] in stored, "linked to the S3 path"
    lustre = group(ec2, net["vpc_id"], cluster + "-fsx")
    own = lustre["GroupId"]
    assert ingress(lustre) == {
        ("tcp", 988, 988, worker),
        ("tcp", 988, 988, own),
        ("tcp", 1018, 1023, worker),
        ("tcp", 1018, 1023, own),
    }
    assert own in stored, "the file system uses the Lustre group"
    # the clients' side (AWS's Lustre security-group guide): the workers admit LNet from the file system's group,
    # and the network module, which owns the worker group, keeps those rules
    lnet = {("tcp", 988, 988, own), ("tcp", 1018, 1023, own)}
    assert lnet <= ingress(group(ec2, net["vpc_id"], cluster + "-worker")), "workers admit Lustre's connections"
    assert not ansible.module("fsx_lustre", args).changed
    again = ansible.module("vpc_network", {"cluster_name": cluster, "cidr_block": "172.20.0.0/16", "subnets": SUBNETS})
    assert not again.changed, again.output
    assert lnet <= ingress(group(ec2, net["vpc_id"], cluster + "-worker"))
    drift = ansible.module("fsx_lustre", dict(args, storage_capacity=4800))
    assert drift.failed and "storage_capacity 2400" in drift["msg"]

    absent = {"cluster_name": cluster, "state": "absent"}
    assert ansible.module("fsx_lustre", absent).changed
    assert ours() == [] and group(ec2, net["vpc_id"], cluster + "-fsx") is None
    assert not lnet & ingress(group(ec2, net["vpc_id"], cluster + "-worker")), "revoked before the group went"
    assert not ansible.module("fsx_lustre", absent).changed
    assert ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"}).changed
