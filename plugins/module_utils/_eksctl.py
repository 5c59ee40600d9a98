# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""eksctl's ClusterConfig as the eksctl_cluster module renders it from its options, and the problems found before
eksctl runs: pure functions, except efa_interfaces (one EC2 read) and schema_problems (eksctl's JSON schema)."""

from __future__ import annotations

import glob
import json
import os
import re

from ansible_collections.trainkit.aws.plugins.module_utils import instance_types
from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.cli import merge

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None

try:
    import jsonschema

    HAS_JSONSCHEMA = True
except ImportError:
    HAS_JSONSCHEMA = False

API_VERSION = "eksctl.io/v1alpha5"
EKSCTL_DEFAULT_VOLUME_SIZE = 80  # GiB: eksctl's DefaultNodeVolumeSize (pkg/apis/eksctl.io/v1alpha5/types.go)
UNSUPPORTED_GPU = ("p2.",)  # NVIDIA K80: current drivers and the EKS GPU AMIs no longer support it
NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,99}$")


# -- the ClusterConfig ----------------------------------------------------------------------------------------
def subnet_entries(subnets):
    """vpc.subnets of a ClusterConfig from ids or dicts with id (or subnet_id), az and public (the network fact's) or
    private: public/private maps keyed by az or id."""
    result = {}
    for entry in subnets:
        spec = {"id": entry} if isinstance(entry, str) else dict(entry)
        subnet_id = spec.get("id") or spec.get("subnet_id")
        kind = "private" if spec.get("private") or spec.get("public") is False else "public"
        result.setdefault(kind, {})[spec.get("az") or subnet_id] = {"id": subnet_id}
    return result


def private_networking(group, p):
    """The group's privateNetworking: as given, else true when the cluster's subnets include private ones."""
    if group["private_networking"] is not None:
        return group["private_networking"]
    return bool(subnet_entries(p["subnets"]).get("private"))


def types_of(group):
    """The group's instance types: instance_types, else [instance_type]."""
    return list(group["instance_types"]) or [group["instance_type"]]


def nodegroup_config(group, p):
    desired = group["desired_capacity"]
    config = {
        "name": group["name"],
        "desiredCapacity": desired,
        "minSize": group["min_size"] if group["min_size"] is not None else desired,
        "maxSize": group["max_size"] if group["max_size"] is not None else desired,
    }
    if group["managed"]:
        # eksctl: "only one of instanceType or instanceTypes can be specified" (validation.go)
        if group["instance_types"]:
            config["instanceTypes"] = list(group["instance_types"])
        else:
            config["instanceType"] = group["instance_type"]
        if group["spot"]:
            config["spot"] = True  # the managed node group's capacityType SPOT (pkg/cfn/builder/managed_nodegroup.go)
    elif group["spot"] or len(types_of(group)) > 1:
        # eksctl's mixed instances: instanceType unset, the types and the on-demand/spot split in instancesDistribution
        distribution = {
            "instanceTypes": types_of(group),
            "onDemandBaseCapacity": 0,
            "onDemandPercentageAboveBaseCapacity": 0 if group["spot"] else 100,
        }
        if group["spot"]:
            distribution["spotAllocationStrategy"] = "capacity-optimized"
        config["instancesDistribution"] = distribution
    else:
        config["instanceType"] = group["instance_type"]
    if group["labels"]:
        config["labels"] = dict((k, str(v)) for k, v in group["labels"].items())
    if group["taints"]:
        config["taints"] = [dict((k, v) for k, v in t.items() if v is not None) for t in group["taints"]]
    # eksctl leaves the nodes' root volume to the account's EBS default (unencrypted unless someone turned it on):
    # volumeEncrypted sets Ebs.Encrypted in the launch template (pkg/cfn/builder/block_device_mapping.go), with
    # the AWS managed EBS key. eksctl refuses volumeEncrypted without volumeSize (validateNodeGroupBase:
    # "volumeEncrypted cannot be set without volumeSize" - for self-managed groups, which it does not default
    # first), so the size is eksctl's own default, DefaultNodeVolumeSize (80 GiB), unless given.
    config["volumeSize"] = group["volume_size"] or EKSCTL_DEFAULT_VOLUME_SIZE
    config["volumeEncrypted"] = True
    if group["ami_family"]:
        config["amiFamily"] = group["ami_family"]
    if group["zones"]:
        config["availabilityZones"] = list(group["zones"])
    if private_networking(group, p):
        config["privateNetworking"] = True
    if group["addon_policies"]:
        config["iam"] = {"withAddonPolicies": dict((name, True) for name in group["addon_policies"])}
    if group["efa"]:
        config["efaEnabled"] = True
        config.setdefault("labels", {})[instance_types.EFA_LABEL] = "true"
    if group["tags"]:
        config["tags"] = dict((k, str(v)) for k, v in group["tags"].items())
    if p["node_security_group_ids"]:
        config["securityGroups"] = {"attachIDs": list(p["node_security_group_ids"])}
    if p["ssh_key_name"]:
        # allow: false with a key installs the key and makes no SSH group: eksctl's group opens TCP 22 to the world
        # unless it has source groups (makeSSHIngressRules); with source groups it admits those only
        config["ssh"] = {"allow": bool(p["ssh_source_security_group_ids"]), "publicKeyName": p["ssh_key_name"]}
        if p["ssh_source_security_group_ids"]:
            config["ssh"]["sourceSecurityGroupIds"] = list(p["ssh_source_security_group_ids"])
    return config


def render(p, region):
    metadata = {"name": p["name"], "region": region}
    if p["version"]:
        metadata["version"] = str(p["version"])
    if p["tags"]:
        metadata["tags"] = dict((k, str(v)) for k, v in p["tags"].items())
    config = {"apiVersion": API_VERSION, "kind": "ClusterConfig", "metadata": metadata}
    vpc = {}
    if p["vpc_id"]:
        vpc["id"] = p["vpc_id"]
    if p["subnets"]:
        vpc["subnets"] = subnet_entries(p["subnets"])
    if p["security_group_id"]:
        vpc["securityGroup"] = p["security_group_id"]
    vpc["clusterEndpoints"] = {
        "publicAccess": p["endpoint_public_access"],
        "privateAccess": p["endpoint_private_access"],
    }
    if p["endpoint_public_access"]:
        vpc["publicAccessCIDRs"] = list(p["public_access_cidrs"])
    config["vpc"] = vpc
    if p["with_oidc"]:
        config["iam"] = {"withOIDC": True}
    if p["addons"]:
        config["addons"] = [
            dict((k, v) for k, v in (("name", a.get("name")), ("version", a.get("version"))) if v) for a in p["addons"]
        ]
    managed = [nodegroup_config(g, p) for g in p["nodegroups"] if g["managed"]]
    unmanaged = [nodegroup_config(g, p) for g in p["nodegroups"] if not g["managed"]]
    if managed:
        config["managedNodeGroups"] = managed
    if unmanaged:
        config["nodeGroups"] = unmanaged
    return merge(config, p["extra_config"] or {})


def to_yaml(config):
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)


def problems_of(p):
    problems = []
    if not NAME.match(p["name"] or ""):
        problems.append("name must start with a letter and hold only letters, digits and '-' (at most 100)")
    problems += validate.tags(p["tags"])
    for entry in p["subnets"]:
        if not isinstance(entry, (str, dict)) or (
            isinstance(entry, dict) and not (entry.get("id") or entry.get("subnet_id"))
        ):
            problems.append("subnets: each entry is a subnet id or a dict with id (got {0!r})".format(entry))
    if p["subnets"] and not p["vpc_id"]:
        problems.append("subnets need vpc_id")
    if p["subnets"] and not problems:
        kinds = subnet_entries(p["subnets"])
        for group in p["nodegroups"]:
            wanted = "private" if group["private_networking"] else "public"
            if group["private_networking"] is not None and not kinds.get(wanted):
                problems.append(
                    "nodegroups {0}: private_networking {1} puts it in {2} subnets and subnets has none".format(
                        group["name"], str(group["private_networking"]).lower(), wanted
                    )
                )
    if p["state"] == "present":
        problems += validate.eks_endpoint(
            p["endpoint_public_access"], p["endpoint_private_access"], p["public_access_cidrs"]
        )
    if p["ssh_source_security_group_ids"] and not p["ssh_key_name"]:
        problems.append("ssh_source_security_group_ids needs ssh_key_name (the key the nodes accept)")
    if p["timeout"] < 1:
        problems.append("timeout must be at least 1 minute")
    names = [g["name"] for g in p["nodegroups"]]
    for name in sorted(set(n for n in names if names.count(n) > 1)):
        problems.append("node group {0} is listed twice".format(name))
    for group in p["nodegroups"]:
        label = "node group {0}".format(group["name"])
        low = group["min_size"] if group["min_size"] is not None else group["desired_capacity"]
        high = group["max_size"] if group["max_size"] is not None else group["desired_capacity"]
        if group["desired_capacity"] < 0 or not low <= group["desired_capacity"] <= high:
            problems.append(
                "{0}: need 0 <= min_size <= desired_capacity <= max_size (got {1} <= {2} <= {3})".format(
                    label, low, group["desired_capacity"], high
                )
            )
        problems += validate.taints(group["taints"], label)
        if bool(group["instance_type"]) == bool(group["instance_types"]):
            problems.append("{0}: give instance_type or instance_types, one of them".format(label))
        else:
            problems += instance_types.mix_problems(types_of(group), label)
            # the types the collection knows, before any call; the others in efa_interfaces(), from EC2
            problems += instance_types.efa_problems(group, label, instance_types.efa_of)
    return problems


def efa_interfaces(module, groups):
    """{instance type: EFA interfaces (0 without EFA)} of the EFA groups' types, from EC2 (DescribeInstanceTypes:
    NetworkInfo.EfaSupported and EfaInfo.MaximumEfaInterfaces, what eksctl reads to build the interfaces)."""
    wanted = sorted(set(t for g in groups if g["efa"] for t in types_of(g)))
    if not wanted:
        return {}
    try:
        found = module.client("ec2").describe_instance_types(InstanceTypes=wanted)["InstanceTypes"]
    except (BotoCoreError, ClientError) as exc:
        raise TrainkitError(
            "Cannot read the EFA support of {0} (ec2:DescribeInstanceTypes): {1}".format(", ".join(wanted), exc),
            hint="check the instance types and that the credentials allow ec2:DescribeInstanceTypes",
        )
    out = dict((t, 0) for t in wanted)
    out.update((item["InstanceType"], instance_types.described_efa(item)) for item in found)
    return out


def schema_problems(config, schema_path):
    """The schema's messages for the config, one per error (empty when it validates or no schema is at hand)."""
    with open(schema_path) as handle:
        schema = json.load(handle)
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "(top)"
        problems.append("ClusterConfig {0}: {1}".format(where, error.message))
    return problems


def wanted_types(want):
    """A rendered node group's instance types as eksctl lists them: the type, or the types comma-joined."""
    types = want.get("instanceTypes") or (want.get("instancesDistribution") or {}).get("instanceTypes")
    return want.get("instanceType") or ",".join(types or [])


def find_schema(eksctl):
    """eksctl's schema.json for the version in use, from Go's module cache (None when it is not there)."""
    version = (eksctl.version() or "").split("-")[0]
    if not re.match(r"^\d+\.\d+\.\d+$", version):
        return None
    home = os.environ.get("HOME", "")
    roots = [
        os.environ.get("GOMODCACHE"),
        os.path.join(os.environ.get("GOPATH") or os.path.join(home, "go"), "pkg", "mod"),
    ]
    for root in [r for r in roots if r]:
        pattern = os.path.join(
            root,
            "github.com",
            "weaveworks",
            "eksctl@v" + version,
            "pkg",
            "apis",
            "eksctl.io",
            "v1alpha5",
            "assets",
            "schema.json",
        )
        for found in glob.glob(pattern):
            return found
    return None
