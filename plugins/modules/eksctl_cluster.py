#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: eksctl_cluster
short_description: An EKS cluster and its node groups, built by eksctl from a rendered ClusterConfig
version_added: 0.1.0
description:
  - Renders a ClusterConfig (C(eksctl.io/v1alpha5)) from the options - the cluster in an existing VPC and subnets,
    its security groups, SSH access with an EC2 key pair, OIDC, addons, managed and self-managed node groups and
    tags - and drives C(eksctl) with it.
  - The config is first checked against eksctl's own JSON schema (C(pkg/apis/eksctl.io/v1alpha5/assets/schema.json)
    of the eksctl version in use, found in Go's module cache or given with O(schema_path)); a bad option fails
    there, with the schema's message, before eksctl runs. eksctl itself stays the authority.
  - A missing cluster is created (C(eksctl create cluster), 10 to 15 minutes on AWS; run the task with C(async) to
    see its progress). An existing one is found with C(eksctl get cluster) and its node groups with
    C(eksctl get nodegroup); node groups that are missing are created, those no longer listed deleted (with
    O(purge_nodegroups)), and sizes that differ scaled. Other settings of an existing cluster are not changed;
    a difference is reported as a warning.
  - The kubeconfig is written to O(kubeconfig) (eksctl's, with an C(exec) section that runs C(aws eks get-token)).
  - In check mode, a missing cluster is checked with C(eksctl create cluster --dry-run) and nothing is created; the
    diff shows the rendered config.
  - O(state=absent) deletes the cluster with its node groups (C(eksctl delete cluster --wait)).
  - AWS credentials, region and endpoint come from the usual options and reach eksctl as its environment.
author:
  - trainkit.aws contributors (@trainkit)
options:
  name:
    description: The cluster's name.
    type: str
    required: true
  state:
    description: Whether the cluster should exist.
    type: str
    choices: [present, absent]
    default: present
  version:
    description: Kubernetes version of a new cluster, for example C(1.34). Default - eksctl's default.
    type: str
  vpc_id:
    description: An existing VPC to build the cluster in (for example C(trainkit_network.vpc_id)).
    type: str
  subnets:
    description:
      - The cluster's subnets in O(vpc_id), as subnet ids or as dicts with C(id) (or C(subnet_id)), C(az) and
        C(public) (or C(private)) - the C(subnets) of the C(trainkit_network) fact fit as they are. A plain id
        counts as public.
      - Without them eksctl builds a VPC of its own.
    type: list
    elements: raw
    default: []
  security_group_id:
    description: Security group for the control plane's network interfaces (the network step's C(master) group).
    type: str
  node_security_group_ids:
    description: Security groups attached to every node group's instances (the network step's C(worker) group).
    type: list
    elements: str
    default: []
  ssh_key_name:
    description:
      - EC2 key pair installed on the nodes (the identity step's key pair).
      - Installing the key opens nothing. Who may connect is up to security groups - those in
        O(ssh_source_security_group_ids), and the rules of the groups in O(node_security_group_ids) (the network
        step's worker group admits C(network_ssh_cidrs)). eksctl's own SSH rule, which opens TCP 22 to C(0.0.0.0/0)
        and C(::/0) for nodes in public subnets when no source group is given (eksctl
        C(pkg/cfn/builder/managed_launch_template.go), C(makeSSHIngressRules)), is never asked for.
    type: str
  ssh_source_security_group_ids:
    description:
      - Security groups whose members may reach the nodes on TCP 22 (eksctl's C(ssh.sourceSecurityGroupIds)),
        for example a bastion's. Needs O(ssh_key_name).
    type: list
    elements: str
    default: []
  endpoint_public_access:
    description:
      - The API server's public endpoint (C(vpc.clusterEndpoints.publicAccess)), reachable from
        O(public_access_cidrs) only. eksctl reaches the API while it creates the cluster and its node groups, so
        V(false) works only where ansible runs inside the VPC.
    type: bool
    default: true
  endpoint_private_access:
    description:
      - The API server's endpoint inside the VPC (C(vpc.clusterEndpoints.privateAccess)), which nodes in private
        subnets use; EKS's own default is off.
    type: bool
    default: true
  public_access_cidrs:
    description:
      - CIDR blocks that may reach the public API endpoint (C(vpc.publicAccessCIDRs)), for example where ansible and
        kubectl run. Required while O(endpoint_public_access) is on - EKS's default for none is C(0.0.0.0/0),
        which is taken only when it is listed here itself.
    type: list
    elements: str
    default: []
  install_nvidia_plugin:
    description:
      - Let eksctl install NVIDIA's plain device-plugin DaemonSet when a node group has GPUs (its
        C(--install-nvidia-plugin)). That DaemonSet runs on every node and restarts for ever on CPU nodes; set
        V(false) when the device plugin is installed otherwise (role C(trainkit.aws.addons) does, on GPU nodes only).
    type: bool
    default: true
  with_oidc:
    description: Create the cluster's IAM OIDC provider (for IAM roles for service accounts).
    type: bool
    default: false
  addons:
    description: EKS addons, each C(name) and optionally C(version).
    type: list
    elements: dict
    default: []
  nodegroups:
    description: The node groups.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Node group name.
        type: str
        required: true
      managed:
        description: An EKS managed node group (C(managedNodeGroups)), else a self-managed one (C(nodeGroups)).
        type: bool
        default: true
      instance_type:
        description:
          - EC2 instance type, for example C(g5.xlarge) for one NVIDIA A10G. One of O(nodegroups[].instance_type)
            and O(nodegroups[].instance_types) is required.
        type: str
      instance_types:
        description:
          - Several instance types for the group (managed - C(instanceTypes); self-managed - the Auto Scaling group's
            C(instancesDistribution)), so that spot capacity can come from more pools. They must have one GPU count
            and one architecture (refused otherwise, before eksctl runs).
        type: list
        elements: str
        default: []
      spot:
        description:
          - Spot capacity. Managed groups - eksctl's C(spot), EKS's capacity type C(SPOT) (EKS sets the allocation
            strategy and Capacity Rebalancing, and drains a node at risk of interruption). Self-managed groups -
            C(instancesDistribution) with no on-demand capacity and C(spotAllocationStrategy) C(capacity-optimized);
            nothing drains them unless AWS Node Termination Handler runs (docs/training.md, "Spot node groups").
        type: bool
        default: false
      min_size:
        description: Smallest size. Default - O(nodegroups[].desired_capacity).
        type: int
      max_size:
        description: Largest size. Default - O(nodegroups[].desired_capacity).
        type: int
      desired_capacity:
        description: Number of nodes.
        type: int
        default: 1
        aliases: [count]
      zones:
        description: Availability zones of the node group (C(availabilityZones)). Default - the cluster's.
        type: list
        elements: str
        default: []
      gpus:
        description:
          - Accepted so that the cluster role's node groups fit every provider; EKS nodes have the GPUs of their
            instance type, so it is not used here.
        type: int
      labels:
        description: Kubernetes labels of the nodes.
        type: dict
        default: {}
      taints:
        description: Taints of the nodes, each C(key), C(value) and C(effect) (C(NoSchedule), C(NoExecute), C(PreferNoSchedule)).
        type: list
        elements: dict
        default: []
      volume_size:
        description: Root volume size in GiB (always encrypted at rest - eksctl's C(volumeEncrypted) - with the AWS
          managed EBS key).
        type: int
      ami_family:
        description: AMI family, for example C(AmazonLinux2023) (eksctl picks the GPU image for GPU instance types).
        type: str
      private_networking:
        description:
          - Nodes get private addresses only and are placed in the private subnets (eksctl's C(privateNetworking)).
          - Default - true when O(subnets) has private subnets (the network fact's C(public=false), behind NAT,
            as EKS's guidance has nodes), else false.
        type: bool
      addon_policies:
        description:
          - eksctl's add-on policies for the nodes' instance role (C(iam.withAddonPolicies)), for example V(efs) and
            V(fsx) for AWS's CSI drivers where the cluster has no OIDC provider. Set when the group is created.
        type: list
        elements: str
        default: []
      efa:
        description:
          - Elastic Fabric Adapter for the group (eksctl's C(efaEnabled)) - eksctl gives the launch template an EFA
            interface on each network card, puts the nodes in a cluster placement group, and adds a security group
            that admits the group's own traffic only (pkg/cfn/builder/network_interfaces.go, vpc.go). The nodes are
            labelled C(vpc.amazonaws.com/efa.present=true), where role C(trainkit.aws.addons) runs the EFA device
            plugin. Set when the group is created.
          - Every instance type must have EFA - checked with C(ec2:DescribeInstanceTypes) (C(EfaSupported)) before
            eksctl runs - and O(nodegroups[].zones) must name one zone (eksctl allows one; given none it picks a
            subnet arbitrarily). eksctl also installs its own EFA device plugin on create; the addons role's takes
            its place (same DaemonSet).
        type: bool
        default: false
      tags:
        description: Tags of the node group's resources.
        type: dict
        default: {}
  purge_nodegroups:
    description: Delete the cluster's node groups that O(nodegroups) does not list.
    type: bool
    default: true
  tags:
    description: Tags of the cluster and everything eksctl creates for it.
    type: dict
    default: {}
  extra_config:
    description:
      - More ClusterConfig, merged over the rendered one (dicts merge, the rest replaces); checked by the schema too.
    type: dict
    default: {}
  kubeconfig:
    description: Where the cluster's kubeconfig is written. Default - C(~/.kube/eksctl/clusters/<name>), as C(--auto-kubeconfig) does.
    type: path
  eksctl_path:
    description: The eksctl binary. Default - C(eksctl) on E(PATH).
    type: path
  schema_path:
    description:
      - eksctl's ClusterConfig JSON schema. Default - the one in Go's module cache for the eksctl version in use;
        without it the check is left to eksctl.
    type: path
  timeout:
    description: Minutes eksctl waits for CloudFormation and the nodes (its C(--timeout)).
    type: int
    default: 40
extends_documentation_fragment:
  - trainkit.aws.aws
notes:
  - Supports check mode and diff. p2 instances (NVIDIA K80) are not supported by current NVIDIA drivers; use g4dn, g5 or p3 and newer.
  - Requires the C(eksctl) binary; the C(exec) section of its kubeconfig needs the C(aws) CLI where the kubeconfig is used.
"""

EXAMPLES = r"""
- name: Cluster | EKS with one GPU node group in the collection's network
  trainkit.aws.eksctl_cluster:
    name: paddle-demo
    version: "1.34"
    vpc_id: "{{ trainkit_network.vpc_id }}"
    subnets: "{{ trainkit_network.subnets | map(attribute='subnet_id') | list }}"
    security_group_id: "{{ trainkit_network.security_group_ids.master }}"
    node_security_group_ids: ["{{ trainkit_network.security_group_ids.worker }}"]
    ssh_key_name: paddle-demo
    nodegroups:
      - {name: gpu, instance_type: g5.xlarge, desired_capacity: 2, labels: {accelerator: nvidia}}
    kubeconfig: "{{ trainkit_credentials_dir }}/kubeconfig"
  async: 3600
  poll: 15

- name: Cluster | Delete it
  trainkit.aws.eksctl_cluster:
    name: paddle-demo
    state: absent
"""

RETURN = r"""
kubeconfig:
  description: Path of the kubeconfig written for the cluster.
  returned: when state is present
  type: str
endpoint:
  description: The cluster's API server URL.
  returned: when state is present and the cluster exists
  type: str
oidc_issuer:
  description: The cluster's OIDC issuer URL.
  returned: when state is present and the cluster exists
  type: str
nodegroups:
  description: The cluster's node groups as eksctl reports them (C(name), C(type), C(instance_type), C(min_size), C(max_size), C(desired_capacity), C(status)).
  returned: when state is present
  type: list
  elements: dict
config:
  description: The rendered ClusterConfig, as YAML.
  returned: always
  type: str
commands:
  description: The eksctl commands this run made (or, in check mode, would make) that change something.
  returned: always
  type: list
  elements: str
log:
  description: The last lines eksctl printed (its phases, for a create - stacks, addons, node groups, nodes).
  returned: always
  type: list
  elements: str
"""

import json
import os
import shutil
import tempfile

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import HAS_JSONSCHEMA
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import UNSUPPORTED_GPU
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import efa_interfaces
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import find_schema
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import problems_of
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import render
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import schema_problems
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import to_yaml
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import types_of
from ansible_collections.trainkit.aws.plugins.module_utils._eksctl import wanted_types
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.cli import ToolRunner
from ansible_collections.trainkit.aws.plugins.module_utils.cli import aws_environment
from ansible_collections.trainkit.aws.plugins.module_utils.cli import last_error
from ansible_collections.trainkit.aws.plugins.module_utils.cli import read

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None


# -- eksctl ---------------------------------------------------------------------------------------------------
class Eksctl(ToolRunner):
    """The eksctl binary, run with the module's AWS settings as its environment."""

    name = "eksctl"

    def __init__(self, module, path, region):
        super().__init__(module, path, aws_environment(module.params, region))
        self.region = region

    def hint(self, text):
        return "the log holds eksctl's own output; CloudFormation's events say more (eksctl utils describe-stacks)"

    def cluster(self, name):
        """eksctl's view of the cluster, or None when EKS does not know it."""
        rc, out, err = self.run(
            "get", "cluster", "--name", name, "--region", self.region, "-o", "json", changes=False, check=False
        )
        if rc != 0:
            if "ResourceNotFoundException" in err or "No cluster found" in err:
                return None
            raise TrainkitError("eksctl get cluster failed (rc {0}): {1}".format(rc, last_error(err or out)))
        found = json.loads(out or "[]")
        return found[0] if found else None

    def nodegroups(self, name):
        rc, out, err = self.run(
            "get", "nodegroup", "--cluster", name, "--region", self.region, "-o", "json", changes=False
        )
        return dict((g["Name"], g) for g in json.loads(out or "[]"))


def summary(group):
    return {
        "name": group.get("Name"),
        "type": group.get("Type"),
        "instance_type": group.get("InstanceType"),
        "min_size": group.get("MinSize"),
        "max_size": group.get("MaxSize"),
        "desired_capacity": group.get("DesiredCapacity"),
        "status": group.get("Status"),
    }


def write_config(config):
    handle, path = tempfile.mkstemp(prefix="trainkit-eksctl-", suffix=".yaml")
    with os.fdopen(handle, "w") as out:
        out.write(to_yaml(config))
    return path


def write_kubeconfig(module, eksctl, name, path):
    """Write the kubeconfig through eksctl; True when the file changed."""
    before = read(path)
    if module.check_mode:
        return before is None
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    eksctl.run(
        "utils", "write-kubeconfig", "--cluster", name, "--region", eksctl.region, "--kubeconfig", path, changes=False
    )
    os.chmod(path, 0o600)
    return read(path) != before


# -- states ---------------------------------------------------------------------------------------------------
def ensure_present(module, eksctl, config, config_path):
    p = module.params
    cluster = eksctl.cluster(p["name"])
    kubeconfig = p["kubeconfig"]
    result = {"kubeconfig": kubeconfig}
    if cluster is None:
        if module.check_mode:
            eksctl.run("create", "cluster", "-f", config_path, "--dry-run")
            return True, None, to_yaml(config), dict(result, nodegroups=[])
        os.makedirs(os.path.dirname(kubeconfig), mode=0o700, exist_ok=True)
        eksctl.run(
            "create",
            "cluster",
            "-f",
            config_path,
            "--kubeconfig",
            kubeconfig,
            "--timeout",
            "{0}m".format(p["timeout"]),
            "--install-nvidia-plugin={0}".format(str(p["install_nvidia_plugin"]).lower()),
        )
        os.chmod(kubeconfig, 0o600)
        cluster = eksctl.cluster(p["name"])
        groups = eksctl.nodegroups(p["name"])
        return True, None, to_yaml(config), dict(result, **described(cluster, groups))

    groups = eksctl.nodegroups(p["name"])
    before = dict((n, summary(g)) for n, g in groups.items())
    wanted = dict((g["name"], g) for g in config.get("managedNodeGroups", []) + config.get("nodeGroups", []))
    changed = False
    if p["version"] and cluster.get("Version") and str(p["version"]) != cluster["Version"]:
        module.warn(
            "cluster {0} runs Kubernetes {1}, not {2}: this module does not upgrade clusters (eksctl upgrade "
            "cluster)".format(p["name"], cluster["Version"], p["version"])
        )
    access, asked = endpoint_access(cluster), endpoint_access(None, p)
    if access != asked:
        module.warn(
            "cluster {0}'s API endpoint access is {1}, not {2}: this module sets it when it creates a cluster; "
            "change it with eksctl utils update-cluster-vpc-config".format(p["name"], access, asked)
        )
    missing = sorted(set(wanted) - set(groups))
    if missing:
        changed = True
        eksctl.change(
            "create",
            "nodegroup",
            "-f",
            config_path,
            "--include",
            ",".join(missing),
            "--timeout",
            "{0}m".format(p["timeout"]),
            "--install-nvidia-plugin={0}".format(str(p["install_nvidia_plugin"]).lower()),
        )
    for name in sorted(set(wanted) & set(groups)):
        want, have = wanted[name], groups[name]
        sizes = (want["minSize"], want["maxSize"], want["desiredCapacity"])
        if sizes != (have.get("MinSize"), have.get("MaxSize"), have.get("DesiredCapacity")):
            changed = True
            args = [
                "scale",
                "nodegroup",
                "--cluster",
                p["name"],
                "--region",
                eksctl.region,
                "--name",
                name,
                "--nodes",
                str(sizes[2]),
                "--nodes-min",
                str(sizes[0]),
                "--nodes-max",
                str(sizes[1]),
                "--wait",
            ]
            eksctl.change(*args)
        # eksctl reports a managed group's types comma-joined, and a mixed-instances group's launch template type,
        # which is empty (pkg/actions/nodegroup/get.go, getInstanceTypes)
        if have.get("InstanceType") and wanted_types(want) != have["InstanceType"]:
            module.warn(
                "node group {0} runs {1}, not {2}: instance types of a node group cannot change; add a new node "
                "group and remove this one".format(name, have.get("InstanceType"), wanted_types(want))
            )
    extra = sorted(set(groups) - set(wanted)) if p["purge_nodegroups"] else []
    for name in extra:
        changed = True
        eksctl.change(
            "delete", "nodegroup", "--cluster", p["name"], "--region", eksctl.region, "--name", name, "--wait"
        )
    if changed and not module.check_mode:
        groups = eksctl.nodegroups(p["name"])
    if write_kubeconfig(module, eksctl, p["name"], kubeconfig):
        changed = True
    after = dict((n, summary(g)) for n, g in groups.items())
    if module.check_mode:
        after = dict((n, planned(wanted[n], groups.get(n))) for n in wanted)
        after.update((n, before[n]) for n in groups if n not in wanted and not p["purge_nodegroups"])
    result.update(described(cluster, groups))
    return changed, {"nodegroups": before}, {"nodegroups": after}, result


def endpoint_access(cluster, p=None):
    """ "public (CIDRs), private" or "public (CIDRs)" or "private": a cluster's API endpoint access as EKS describes
    it, or as the module's options ``p`` ask for it."""
    if p is not None:
        public, private, cidrs = p["endpoint_public_access"], p["endpoint_private_access"], p["public_access_cidrs"]
    else:
        found = cluster.get("ResourcesVpcConfig") or {}
        public, private = found.get("EndpointPublicAccess", True), found.get("EndpointPrivateAccess", False)
        cidrs = found.get("PublicAccessCidrs") or ["0.0.0.0/0"]
    parts = ["public ({0})".format(", ".join(sorted(cidrs)))] if public else []
    return ", ".join(parts + (["private"] if private else []))


def planned(want, have):
    found = summary(have) if have else {"name": want["name"], "type": None, "status": None}
    found.update(
        instance_type=wanted_types(want),
        min_size=want["minSize"],
        max_size=want["maxSize"],
        desired_capacity=want["desiredCapacity"],
    )
    return found


def described(cluster, groups):
    return {
        "endpoint": cluster.get("Endpoint"),
        "oidc_issuer": ((cluster.get("Identity") or {}).get("Oidc") or {}).get("Issuer"),
        "nodegroups": [summary(g) for _n, g in sorted(groups.items())],
    }


def ensure_absent(module, eksctl, config, config_path):
    p = module.params
    cluster = eksctl.cluster(p["name"])
    if cluster is None:
        return False, None, None, {}
    args = [
        "delete",
        "cluster",
        "--name",
        p["name"],
        "--region",
        eksctl.region,
        "--wait",
        "--timeout",
        "{0}m".format(p["timeout"]),
    ]
    eksctl.change(*args)
    return True, {"name": p["name"], "endpoint": cluster.get("Endpoint")}, None, {}


def main():
    nodegroup = dict(
        name=dict(type="str", required=True),
        managed=dict(type="bool", default=True),
        instance_type=dict(type="str"),
        instance_types=dict(type="list", elements="str", default=[]),
        spot=dict(type="bool", default=False),
        min_size=dict(type="int"),
        max_size=dict(type="int"),
        desired_capacity=dict(type="int", default=1, aliases=["count"]),
        zones=dict(type="list", elements="str", default=[]),
        gpus=dict(type="int"),
        labels=dict(type="dict", default={}),
        taints=dict(type="list", elements="dict", default=[]),
        volume_size=dict(type="int"),
        ami_family=dict(type="str"),
        private_networking=dict(type="bool"),
        addon_policies=dict(type="list", elements="str", default=[]),
        efa=dict(type="bool", default=False),
        tags=dict(type="dict", default={}),
    )
    module = AWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            version=dict(type="str"),
            vpc_id=dict(type="str"),
            subnets=dict(type="list", elements="raw", default=[]),
            security_group_id=dict(type="str"),
            node_security_group_ids=dict(type="list", elements="str", default=[]),
            ssh_key_name=dict(type="str", no_log=False),
            ssh_source_security_group_ids=dict(type="list", elements="str", default=[]),
            endpoint_public_access=dict(type="bool", default=True),
            endpoint_private_access=dict(type="bool", default=True),
            public_access_cidrs=dict(type="list", elements="str", default=[]),
            with_oidc=dict(type="bool", default=False),
            install_nvidia_plugin=dict(type="bool", default=True),
            addons=dict(type="list", elements="dict", default=[]),
            nodegroups=dict(type="list", elements="dict", default=[], options=nodegroup),
            purge_nodegroups=dict(type="bool", default=True),
            tags=dict(type="dict", default={}),
            extra_config=dict(type="dict", default={}),
            kubeconfig=dict(type="path"),
            eksctl_path=dict(type="path"),
            schema_path=dict(type="path"),
            timeout=dict(type="int", default=40),
        ),
        supports_check_mode=True,
    )
    p = module.params
    region = module.region
    if not p["kubeconfig"]:
        p["kubeconfig"] = os.path.join(os.environ.get("HOME", ""), ".kube", "eksctl", "clusters", p["name"])
    problems = problems_of(p)
    if problems:  # before rendering: a bad value (a subnet given as a number) cannot be rendered
        module.fail_on_problems(problems)
    config = render(p, region)
    for group in p["nodegroups"]:
        for instance_type in types_of(group):
            if instance_type.startswith(UNSUPPORTED_GPU):
                module.warn(
                    "node group {0}: {1} has NVIDIA K80 GPUs, which current NVIDIA drivers and the EKS GPU images no "
                    "longer support; use g4dn, g5 or p3 and newer".format(group["name"], instance_type)
                )
    path = p["eksctl_path"] or shutil.which("eksctl")
    if not path or not os.access(path, os.X_OK):
        problems.append(
            "no eksctl binary: install eksctl, or build the one the tests use with tools/eksctl-build, and set "
            "eksctl_path"
        )
        module.fail_on_problems(problems)
    eksctl = Eksctl(module, path, region)
    module.fail_on_problems(problems)
    if p["state"] == "present":
        try:
            efa = efa_interfaces(module, p["nodegroups"])
        except TrainkitError as exc:
            module.fail_json(msg=exc.msg, hint=exc.hint, commands=[], config=to_yaml(config))
        for group in p["nodegroups"]:
            problems += instance_types.efa_problems(group, "node group " + group["name"], efa.get)
        module.fail_on_problems(problems)
    if p["state"] == "present":
        schema = p["schema_path"] or find_schema(eksctl)
        if schema and not HAS_JSONSCHEMA:
            module.warn("the jsonschema library is missing: the ClusterConfig is left to eksctl to check")
        elif schema:
            module.fail_on_problems(schema_problems(config, schema))
    config_path = write_config(config)
    try:
        ensure = ensure_present if p["state"] == "present" else ensure_absent
        changed, before, after, result = ensure(module, eksctl, config, config_path)
    except TrainkitError as exc:
        module.fail_json(msg=exc.msg, hint=exc.hint, commands=eksctl.commands, config=to_yaml(config), **exc.extra)
    finally:
        os.unlink(config_path)
    result.update(config=to_yaml(config), commands=eksctl.commands, log=eksctl.log[-60:])
    if module._diff:
        result["diff"] = {
            "before": to_text(before if isinstance(before, str) else yaml.safe_dump(before) if before else ""),
            "after": to_text(after if isinstance(after, str) else yaml.safe_dump(after) if after else ""),
        }
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
