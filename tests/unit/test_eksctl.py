# -*- coding: utf-8 -*-
"""The ClusterConfig eksctl_cluster renders: what it opens (SSH, the API endpoint) and what it refuses first."""

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils import _eksctl as eksctl_cluster

GROUP = {
    "name": "gpu",
    "managed": True,
    "instance_type": "g5.xlarge",
    "instance_types": [],
    "spot": False,
    "min_size": None,
    "max_size": None,
    "desired_capacity": 1,
    "zones": [],
    "gpus": None,
    "labels": {},
    "taints": [],
    "volume_size": None,
    "ami_family": None,
    "private_networking": None,
    "addon_policies": [],
    "efa": False,
    "tags": {},
}


def params(**overrides):
    p = {
        "name": "demo",
        "state": "present",
        "version": "1.34",
        "vpc_id": "vpc-1",
        "subnets": ["subnet-1"],
        "security_group_id": "sg-master",
        "node_security_group_ids": ["sg-worker"],
        "ssh_key_name": "demo",
        "ssh_source_security_group_ids": [],
        "endpoint_public_access": True,
        "endpoint_private_access": True,
        "public_access_cidrs": ["203.0.113.0/24"],
        "with_oidc": False,
        "addons": [],
        "nodegroups": [dict(GROUP), dict(GROUP, name="cpu", instance_type="m5.large", managed=False)],
        "tags": {},
        "extra_config": {},
        "timeout": 40,
    }
    p.update(overrides)
    return p


def groups(config):
    return config["managedNodeGroups"] + config["nodeGroups"]


def test_a_key_alone_opens_no_ssh_of_eksctls_own():
    """eksctl's SSH group opens TCP 22 to 0.0.0.0/0 and ::/0 for nodes in public subnets when it has no source
    groups (pkg/cfn/builder/managed_launch_template.go, makeSSHIngressRules); allow: false installs the key and makes
    no group (setSSHDefaults keeps an explicit false)."""
    for group in groups(eksctl_cluster.render(params(), "us-west-2")):
        assert group["ssh"] == {"allow": False, "publicKeyName": "demo"}
        assert group["securityGroups"] == {"attachIDs": ["sg-worker"]}  # the network's SSH CIDRs reach them here


def test_ssh_from_the_listed_source_groups_only():
    config = eksctl_cluster.render(params(ssh_source_security_group_ids=["sg-bastion"]), "us-west-2")
    for group in groups(config):
        assert group["ssh"] == {"allow": True, "publicKeyName": "demo", "sourceSecurityGroupIds": ["sg-bastion"]}


def test_no_key_no_ssh():
    for group in groups(eksctl_cluster.render(params(ssh_key_name=None), "us-west-2")):
        assert "ssh" not in group


def test_the_api_endpoint_is_public_from_the_listed_blocks_and_private_inside_the_vpc():
    vpc = eksctl_cluster.render(params(), "us-west-2")["vpc"]
    assert vpc["clusterEndpoints"] == {"publicAccess": True, "privateAccess": True}
    assert vpc["publicAccessCIDRs"] == ["203.0.113.0/24"]
    private = eksctl_cluster.render(params(endpoint_public_access=False, public_access_cidrs=[]), "us-west-2")["vpc"]
    assert private["clusterEndpoints"] == {"publicAccess": False, "privateAccess": True}
    assert "publicAccessCIDRs" not in private


def test_a_public_endpoint_open_to_everyone_only_when_asked():
    assert validate.eks_endpoint(True, True, ["203.0.113.0/24"]) == []
    assert validate.eks_endpoint(True, True, ["0.0.0.0/0"]) == []  # asked for, on purpose
    [problem] = validate.eks_endpoint(True, True, [], prefix="cluster_eks_")
    assert problem.startswith("cluster_eks_public_access_cidrs is empty: the cluster's public API endpoint would")
    assert "0.0.0.0/0" in problem
    assert validate.eks_endpoint(False, True, []) == []
    assert "both off" in validate.eks_endpoint(False, False, [])[0]
    assert "no public endpoint" in validate.eks_endpoint(False, True, ["203.0.113.0/24"])[0]
    assert "public_access_cidrs entry" in validate.eks_endpoint(True, True, ["203.0.113.0"])[0]


def test_problems_come_before_rendering():
    """A subnet given as a number is a problem to report, not a TypeError from rendering it."""
    p = params(subnets=[123], public_access_cidrs=[], ssh_source_security_group_ids=["sg-1"], ssh_key_name=None)
    problems = eksctl_cluster.problems_of(p)
    assert any("subnets: each entry is a subnet id or a dict with id (got 123)" in x for x in problems), problems
    assert any("public_access_cidrs is empty" in x for x in problems), problems
    assert any("ssh_source_security_group_ids needs ssh_key_name" in x for x in problems), problems
    assert eksctl_cluster.problems_of(params(state="absent", public_access_cidrs=[])) == []


def test_subnets_from_the_network_fact_keep_public_and_private():
    """The network fact says public: true/false; a private subnet rendered as public would get nodes that never
    join (no public IP, no route to the EKS endpoint)."""
    fact = [
        {"subnet_id": "subnet-a", "az": "us-west-2a", "cidr": "172.20.1.0/24", "public": True},
        {"subnet_id": "subnet-b", "az": "us-west-2a", "cidr": "172.20.11.0/24", "public": False},
        {"id": "subnet-c", "az": "us-west-2b", "private": True},
        "subnet-d",
    ]
    assert eksctl_cluster.subnet_entries(fact) == {
        "public": {"us-west-2a": {"id": "subnet-a"}, "subnet-d": {"id": "subnet-d"}},
        "private": {"us-west-2a": {"id": "subnet-b"}, "us-west-2b": {"id": "subnet-c"}},
    }


def test_node_groups_land_in_the_private_subnets_when_the_network_has_them():
    """eksctl places a group with privateNetworking in vpc.subnets.private, else in the public subnets (with public
    IPs); with private subnets behind NAT, EKS's guidance has the nodes there."""
    mixed = [
        {"subnet_id": "subnet-a", "az": "us-west-2a", "public": True},
        {"subnet_id": "subnet-b", "az": "us-west-2a", "public": False},
    ]
    for group in groups(eksctl_cluster.render(params(subnets=mixed), "us-west-2")):
        assert group["privateNetworking"] is True
    for group in groups(eksctl_cluster.render(params(subnets=mixed[:1]), "us-west-2")):
        assert "privateNetworking" not in group
    chosen = params(subnets=mixed, nodegroups=[dict(GROUP, private_networking=False)])
    assert "privateNetworking" not in groups(dict(eksctl_cluster.render(chosen, "us-west-2"), nodeGroups=[]))[0]
    wrong = params(subnets=mixed[:1], nodegroups=[dict(GROUP, private_networking=True)])
    assert any("private_networking true puts it in private subnets" in x for x in eksctl_cluster.problems_of(wrong))


def test_node_volumes_are_encrypted():
    """eksctl sets Ebs.Encrypted in a node group's launch template only when volumeEncrypted is given
    (pkg/cfn/builder/block_device_mapping.go); without it the root volume follows the account's EBS default."""
    for group in groups(eksctl_cluster.render(params(), "us-west-2")):
        assert group["volumeEncrypted"] is True
        # and eksctl refuses volumeEncrypted without volumeSize on self-managed groups (validateNodeGroupBase): its
        # own default size, 80 GiB, unless one is given
        assert group["volumeSize"] == 80
    sized = eksctl_cluster.render(params(nodegroups=[dict(GROUP, volume_size=200)]), "us-west-2")
    assert sized["managedNodeGroups"][0]["volumeSize"] == 200


def spot_group(**extra):
    group = dict(GROUP, name="spot", instance_type=None, instance_types=["g5.xlarge", "g6.xlarge"], spot=True)
    group.update(extra)
    return group


def test_a_spot_group_renders_eksctls_spot_and_instance_types():
    """Managed: spot + instanceTypes (eksctl refuses instanceType beside instanceTypes, validation.go), EKS's
    capacity type SPOT. Self-managed: eksctl's mixed instances, no on-demand share, capacity-optimized."""
    config = eksctl_cluster.render(params(nodegroups=[spot_group(), spot_group(name="self", managed=False)]), "r")
    [managed] = config["managedNodeGroups"]
    assert managed["spot"] is True and managed["instanceTypes"] == ["g5.xlarge", "g6.xlarge"]
    assert "instanceType" not in managed
    [self_managed] = config["nodeGroups"]
    assert "instanceType" not in self_managed and "spot" not in self_managed
    assert self_managed["instancesDistribution"] == {
        "instanceTypes": ["g5.xlarge", "g6.xlarge"],
        "onDemandBaseCapacity": 0,
        "onDemandPercentageAboveBaseCapacity": 0,
        "spotAllocationStrategy": "capacity-optimized",
    }
    on_demand = eksctl_cluster.render(params(nodegroups=[dict(GROUP)]), "r")["managedNodeGroups"][0]
    assert on_demand["instanceType"] == "g5.xlarge" and "spot" not in on_demand and "instanceTypes" not in on_demand


def test_a_groups_instance_types_must_be_alike_and_given_once():
    cases = [
        (spot_group(instance_types=["g5.xlarge", "g5.12xlarge"]), "one GPU count, got g5.xlarge (1), g5.12xlarge (4)"),
        (spot_group(instance_types=["g5.xlarge", "g5g.xlarge"]), "one architecture, got g5g.xlarge (arm64)"),
        (spot_group(instance_types=["g5.xlarge", "x9.huge"]), "cannot tell the GPUs of x9.huge"),
        (spot_group(instance_type="g5.xlarge"), "give instance_type or instance_types, one of them"),
        (dict(GROUP, instance_type=None), "give instance_type or instance_types, one of them"),
    ]
    for group, message in cases:
        found = eksctl_cluster.problems_of(params(nodegroups=[group]))
        assert any(message in problem for problem in found), (group, found)
    assert eksctl_cluster.problems_of(params(nodegroups=[spot_group()])) == []


def test_a_rendered_groups_types_read_as_eksctl_lists_them():
    """eksctl get nodegroup reports a managed group's instanceTypes comma-joined (getInstanceTypes): a re-run with a
    spot group of several types compares against that, not a missing instanceType (a KeyError before)."""
    assert eksctl_cluster.wanted_types({"instanceType": "m5.xlarge"}) == "m5.xlarge"
    assert (
        eksctl_cluster.wanted_types({"instanceTypes": ["g5.xlarge", "g6.xlarge"], "spot": True})
        == "g5.xlarge,g6.xlarge"
    )
    mixed = {"instancesDistribution": {"instanceTypes": ["g5.xlarge", "g6.xlarge"]}}
    assert eksctl_cluster.wanted_types(mixed) == "g5.xlarge,g6.xlarge"


def test_an_efa_group_renders_efa_enabled_and_the_label_the_efa_device_plugin_goes_by():
    """eksctl's efaEnabled builds the EFA interfaces, the placement group and the EFA security group (pkg/cfn/builder/
    network_interfaces.go, nodegroup.go); trainkit labels the nodes so that the addons role's plugin runs on them."""
    group = dict(GROUP, name="efa", instance_type="p4d.24xlarge", efa=True, zones=["us-west-2b"])
    config = eksctl_cluster.render(params(nodegroups=[group, dict(GROUP)]), "us-west-2")
    efa, plain = config["managedNodeGroups"]
    assert efa["efaEnabled"] is True and efa["labels"] == {"vpc.amazonaws.com/efa.present": "true"}
    assert efa["availabilityZones"] == ["us-west-2b"]
    assert "efaEnabled" not in plain and "labels" not in plain
    assert eksctl_cluster.problems_of(params(nodegroups=[group])) == []


def test_an_efa_group_needs_types_with_efa_and_one_zone_before_any_call():
    """Types the collection knows are refused from its table (no AWS call); eksctl refuses more than one zone
    (validation.go) and picks a subnet arbitrarily without one."""
    efa = dict(GROUP, name="efa", efa=True, zones=["us-west-2a"])
    cases = [
        (
            dict(efa, instance_type="g5.xlarge"),
            "efa needs instance types with EFA (EC2's EfaSupported); g5.xlarge has none",
        ),
        (dict(efa, instance_type="p4d.24xlarge", zones=[]), "give zones: [<one zone>] (got none)"),
        (
            dict(efa, instance_type="p4d.24xlarge", zones=["us-west-2a", "us-west-2b"]),
            "(got us-west-2a, us-west-2b)",
        ),
    ]
    for group, message in cases:
        found = eksctl_cluster.problems_of(params(nodegroups=[group]))
        assert any(message in problem for problem in found), (group, found)
    # a type the table does not know is left to EC2's DescribeInstanceTypes (efa_interfaces)
    assert eksctl_cluster.problems_of(params(nodegroups=[dict(efa, instance_type="c5n.18xlarge")])) == []
