# -*- coding: utf-8 -*-
"""Interrupted runs converge: ansible-playbook killed (its whole process group, SIGKILL) right after a create call
of the network or storage stage, or right after a delete call of the teardown, then run again: exactly one of each
resource, and the teardown leaves nothing.

The kill is timed from the endpoint's request log: the layer writes a request's line before the client has read
the answer, so the resource exists in AWS while the killed run never learns its id - the case that leaves
orphans when a resource is created untagged or found again only through what the run remembered.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from harness import Ansible
from harness import LocalAWS
from harness import REPO
from harness import tagged_leftovers
from harness import unique

# slow: each case runs the network and storage stages three times and the teardown twice (~50 s)
pytestmark = pytest.mark.slow

BUILD = "tests/integration/files/network-and-storage.yml"
TEARDOWN = "tests/integration/files/network-and-storage-teardown.yml"

# (operation whose n-th successful call is the kill point, n); the teardown point, or None
POINTS = [
    ("ec2:CreateVpc", 1, None),
    ("ec2:CreateInternetGateway", 1, "ec2:DetachInternetGateway"),
    ("ec2:CreateSubnet", 2, None),
    ("ec2:CreateRouteTable", 1, None),
    ("ec2:CreateSecurityGroup", 1, None),
    ("route53:CreateHostedZone", 1, "route53:DeleteHostedZone"),
    ("ec2:CreateSecurityGroup", 3, None),
    ("efs:CreateFileSystem", 1, "efs:DeleteMountTarget"),
    ("efs:CreateMountTarget", 2, "efs:DeleteFileSystem"),
    ("fsx:CreateFileSystem", 1, "fsx:DeleteFileSystem"),
    # a network with private subnets: killed between AllocateAddress and CreateNatGateway, the next run uses the
    # tagged address it finds; killed while a NAT gateway is deleting, the next teardown waits and releases
    ("ec2:AllocateAddress", 1, "ec2:DeleteNatGateway"),
    ("ec2:CreateNatGateway", 1, "ec2:ReleaseAddress"),
]
NAT_POINTS = ("ec2:AllocateAddress", "ec2:CreateNatGateway")
# public subnets a, b, c (the local inventory's) and a private one in a and b, behind one NAT gateway
PRIVATE_SUBNETS = [
    {"az": "us-west-2a", "cidr": "172.20.1.0/24"},
    {"az": "us-west-2b", "cidr": "172.20.2.0/24"},
    {"az": "us-west-2c", "cidr": "172.20.3.0/24"},
    {"az": "us-west-2a", "cidr": "172.20.11.0/24", "public": False},
    {"az": "us-west-2b", "cidr": "172.20.12.0/24", "public": False},
]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """An endpoint of this module's own, so that its request log holds only these runs."""
    aws = LocalAWS(str(tmp_path_factory.mktemp("interrupted-aws")))
    aws.start()
    yield aws
    aws.stop()


def run_killed(aws, ansible, playbook, extra, operation, nth, timeout=300):
    """Run the playbook; kill its process group right after the n-th successful ``operation``. Returns whether
    the kill happened (False: the run ended first)."""
    mark = aws.mark()
    command = [os.path.join(os.path.dirname(ansible_bin()), "ansible-playbook"), "-i", "inventories/local"]
    command += [playbook, "-e", json.dumps(extra)]
    with open(os.path.join(ansible.work_dir, "killed.log"), "a") as log:
        proc = subprocess.Popen(
            command, cwd=REPO, env=ansible.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                seen = [
                    r
                    for r in aws.requests(mark)
                    if "{0}:{1}".format(r["service"], r["operation"]) == operation and r["status"] < 300
                ]
                if len(seen) >= nth:
                    kill_tree(proc)
                    return True
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                kill_tree(proc)
    return False


def kill_tree(proc):
    """SIGKILL the run: its process group, and every process below it - ansible runs each module in a session
    of its own, which a group kill alone would leave running. Frozen first (SIGSTOP) so none escapes meanwhile."""
    frozen = set()
    while True:
        found = {proc.pid} | descendants(proc.pid)
        if found <= frozen:
            break
        for pid in found - frozen:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        frozen |= found
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def descendants(root):
    """Every process below ``root`` (from /proc's parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/{0}/stat".format(entry)) as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def ansible_bin():
    import sys

    return sys.executable


def counts(boto, cluster):
    ec2, efs, fsx, route53 = boto("ec2"), boto("efs"), boto("fsx"), boto("route53")
    tag = [{"Name": "tag:trainkit:cluster", "Values": [cluster]}]
    [vpc] = ec2.describe_vpcs(Filters=tag)["Vpcs"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    file_systems = efs.describe_file_systems(CreationToken="trainkit-" + cluster)["FileSystems"]
    return {
        "vpcs": 1,
        "internet_gateways": len(ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]),
        "attached_gateways": len(
            ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
                "InternetGateways"
            ]
        ),
        "subnets": len(ec2.describe_subnets(Filters=in_vpc)["Subnets"]),
        "route_tables": len(ec2.describe_route_tables(Filters=tag)["RouteTables"]),
        "security_groups": sorted(
            g["GroupName"] for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"]
        ),
        "zones": len([z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == cluster + ".internal."]),
        "efs": len(file_systems),
        "mount_targets": sum(
            len(efs.describe_mount_targets(FileSystemId=f["FileSystemId"])["MountTargets"]) for f in file_systems
        ),
        "fsx": len(
            [
                f
                for f in fsx.describe_file_systems()["FileSystems"]
                if {"Key": "trainkit:cluster", "Value": cluster} in f.get("Tags", [])
            ]
        ),
        "nat_gateways": len(
            [
                g
                for g in ec2.describe_nat_gateways(Filter=in_vpc)["NatGateways"]
                if g["State"] in ("pending", "available")
            ]
        ),
        "addresses": len(ec2.describe_addresses(Filters=tag)["Addresses"]),
    }


@pytest.mark.parametrize("operation,nth,teardown_point", POINTS, ids=["{0}#{1}".format(p[0], p[1]) for p in POINTS])
def test_a_run_killed_after_a_create_converges(endpoint, tmp_path, operation, nth, teardown_point):
    ansible = Ansible(endpoint.url, str(tmp_path))
    cluster = unique("kill")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "trainkit_storage_backend": "both",
    }
    private = operation in NAT_POINTS
    if private:
        extra["network_subnets"] = PRIVATE_SUBNETS
    assert run_killed(endpoint, ansible, BUILD, extra, operation, nth), "the run reached {0} #{1}".format(
        operation, nth
    )

    rc, output, _recap = ansible.playbook(BUILD, extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert counts(endpoint.client, cluster) == {
        "vpcs": 1,
        "internet_gateways": 1,
        "attached_gateways": 1,
        "subnets": 5 if private else 3,
        "route_tables": 2 if private else 1,
        "security_groups": sorted(
            ["default", cluster + "-master", cluster + "-worker", cluster + "-efs", cluster + "-fsx"]
        ),
        "zones": 1,
        "efs": 1,
        "mount_targets": 2 if private else 3,  # in the private subnets when there are some, one per zone
        "fsx": 1,
        "nat_gateways": 1 if private else 0,
        "addresses": 1 if private else 0,
    }
    rc, output, recap = ansible.playbook(BUILD, extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]

    if teardown_point:
        assert run_killed(endpoint, ansible, TEARDOWN, extra, teardown_point, 1), (
            "the teardown reached " + teardown_point
        )
    rc, output, _recap = ansible.playbook(TEARDOWN, extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert tagged_leftovers(endpoint.client, cluster) == []
