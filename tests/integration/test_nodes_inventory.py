# -*- coding: utf-8 -*-
"""The trainkit.aws.nodes inventory plugin, run by ansible-inventory against instances on the local AWS endpoint."""

import json
import os
import subprocess

from botocore.exceptions import ClientError

from harness import BIN
from harness import eventually
from harness import unique

UBUNTU = "ami-785db401"  # moto's "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-..."
AMAZON_LINUX = "ami-04681a1dbd79675a5"  # moto's "amzn2-ami-hvm-2.0.20180810-x86_64-gp2"


def visible(call, **kwargs):
    """The call's answer, or None while EC2 does not know what it names yet (eventual consistency)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"].endswith(".NotFound"):
            return None
        raise


def launch(ec2, subnet, image, instance_type, tags, public=False):
    spec = {"SubnetId": subnet, "DeviceIndex": 0, "AssociatePublicIpAddress": public}
    instance = ec2.run_instances(
        ImageId=image,
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[spec],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"][0]
    return instance["InstanceId"]


def inventory(ansible, path, env=None):
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-inventory"), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        env=ansible.env(env),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return plain(json.loads(proc.stdout))


def plain(value):
    """ansible-inventory's JSON with the markers of untrusted (inventory plugin) strings taken off."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def hosts_of(listing, group):
    return sorted(listing.get(group, {}).get("hosts", []))


def test_nodes_inventory_groups_users_and_proxyjump(ansible, local_aws, tmp_path):
    ec2 = local_aws.client("ec2")
    cluster = unique("inv")
    owned = {"kubernetes.io/cluster/" + cluster: "owned", "trainkit:cluster": cluster}
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = eventually(lambda: visible(ec2.create_subnet, VpcId=vpc, CidrBlock="10.40.1.0/24"), what="the VPC")
    subnet = subnet["Subnet"]["SubnetId"]
    eventually(lambda: visible(ec2.describe_subnets, SubnetIds=[subnet]), what="the subnet")
    ids = {
        "bastion": launch(
            ec2, subnet, UBUNTU, "t3.micro", {"trainkit:cluster": cluster, "trainkit:role": "bastion"}, True
        ),
        "master": launch(ec2, subnet, AMAZON_LINUX, "m5.large", dict(owned, **{"trainkit:role": "master"})),
        "gpu": launch(ec2, subnet, AMAZON_LINUX, "p3.2xlarge", dict(owned, **{"eks.amazonaws.com/nodegroup": "gpu-a"})),
        "cpu": launch(ec2, subnet, UBUNTU, "m5.xlarge", dict(owned, **{"alpha.eksctl.io/nodegroup-name": "cpu"})),
        "kube-aws": launch(
            ec2, subnet, UBUNTU, "c5.xlarge", {"kubernetes.io/cluster/" + cluster: "true", "kube-aws:role": "etcd"}
        ),
        "other": launch(ec2, subnet, UBUNTU, "m5.large", {"kubernetes.io/cluster/someone-else": "owned"}),
    }
    stopped = launch(ec2, subnet, UBUNTU, "m5.large", dict(owned, **{"trainkit:role": "worker"}))
    ec2.stop_instances(InstanceIds=[stopped])
    described = ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"]
    by_id = dict((i["InstanceId"], i) for r in described for i in r["Instances"])
    private = dict((name, by_id[i]["PrivateIpAddress"]) for name, i in ids.items())
    bastion_ip = by_id[ids["bastion"]]["PublicIpAddress"]
    assert bastion_ip, "the bastion has a public address"

    source = tmp_path / "cluster.trainkit_nodes.yml"
    source.write_text(
        "plugin: trainkit.aws.nodes\ncluster_name: {0}\nregion: us-west-2\nprivate_key_file: /keys/{0}.pem\n".format(
            cluster
        )
    )
    listing = inventory(ansible, source)
    variables = listing["_meta"]["hostvars"]
    assert hosts_of(listing, "bastion") == [bastion_ip]
    assert hosts_of(listing, "masters") == [private["master"]]
    assert hosts_of(listing, "workers") == sorted([private["gpu"], private["cpu"]])
    assert hosts_of(listing, "etcd") == [private["kube-aws"]]
    assert hosts_of(listing, "gpu") == [private["gpu"]]
    assert hosts_of(listing, "nodegroup_gpu_a") == [private["gpu"]]
    assert hosts_of(listing, "nodegroup_cpu") == [private["cpu"]]
    assert hosts_of(listing, "eks_managed") == [private["gpu"]], "an EKS managed node group's AMI has the driver"
    every = set(h for g in ("bastion", "masters", "workers", "etcd") for h in hosts_of(listing, g))
    assert private["other"] not in every and len(variables) == 5, "only this cluster's running instances"

    bastion = variables[bastion_ip]
    assert bastion["ansible_user"] == "ubuntu" and "ansible_ssh_common_args" not in bastion
    master = variables[private["master"]]
    assert master["ansible_user"] == "ec2-user" and master["ec2_instance_id"] == ids["master"]
    assert master["ansible_ssh_private_key_file"] == "/keys/{0}.pem".format(cluster)
    for name in ("master", "gpu", "cpu", "kube-aws"):
        assert variables[private[name]]["ansible_ssh_common_args"] == "-o ProxyJump=ubuntu@" + bastion_ip
    assert variables[private["gpu"]]["trainkit_nodegroup"] == "gpu-a"

    # a bastion of one's own, public addresses, one user for all, and the cache
    source.write_text(
        "plugin: trainkit.aws.nodes\ncluster_name: {0}\nregion: us-west-2\nbastion: ops@jump.example.com:2222\n"
        "user: admin\nhostnames: private_dns\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n"
        "cache_connection: {1}\n".format(cluster, tmp_path / "cache")
    )
    mark = local_aws.mark()
    listing = inventory(ansible, source)
    assert hosts_of(listing, "bastion") == ["jump.example.com"], "the bastion given replaces the tagged one"
    variables = listing["_meta"]["hostvars"]
    dns = by_id[ids["master"]]["PrivateDnsName"]
    assert variables[dns]["ansible_ssh_common_args"] == "-o ProxyJump=ops@jump.example.com:2222"
    assert variables[dns]["ansible_user"] == "admin"
    assert variables["jump.example.com"]["ansible_port"] == 2222
    calls = len([r for r in local_aws.requests(mark) if r["operation"] == "DescribeInstances"])
    assert calls > 0
    again = inventory(ansible, source)
    assert again == listing
    assert len([r for r in local_aws.requests(mark) if r["operation"] == "DescribeInstances"]) == calls, "cached"

    ec2.terminate_instances(InstanceIds=list(ids.values()) + [stopped])
