# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kube-aws's asset directory, as the kube_aws_cluster module manages it: pure functions, no AWS calls.

- ``cluster_config``: the keys of cluster.yaml the module owns, set over what ``kube-aws init`` wrote (every other
  key, and every edit a user made to one, is kept).
- ``fingerprint``: what a deployment is rendered from (cluster.yaml, the stack and userdata templates, plugins, the
  credentials), hashed. kube-aws's own ``diff`` cannot tell "nothing changed": the assets it uploads embed
  KMS ciphertexts that differ on every render. The module stores the fingerprint as a stack tag and compares.
- ``no_world_icmp``: the same template admits ICMP from 0.0.0.0/0 to the API load balancer's, the workers' and
  etcd's groups whatever cluster.yaml says; the rendered template admits it from the VPC (``vpcCIDR``).
- ``drop_duplicate_key``: kube-aws v0.16's ``network.json.tmpl`` defines
  ``SecurityGroupControllerIngressFromControllerToController`` twice; Go's JSON decoding keeps the last, which
  CloudFormation rejects as a duplicate key. The earlier definition (443 only, subsumed by the later all-ports
  rule) is removed from the rendered template.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re

from ansible_collections.trainkit.aws.plugins.module_utils.cli import merge
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags

FINGERPRINT_TAG = "trainkit:kube-aws-config"
DUPLICATE_KEYS = {"network.json.tmpl": ["SecurityGroupControllerIngressFromControllerToController"]}
# files under credentials/ that kube-aws derives (KMS ciphertexts and their cache keys) are not inputs
DERIVED_SUFFIXES = (".enc", ".fingerprint")
HASHED_DIRS = ("stack-templates", "userdata", "plugins", "credentials")


def logical_name(pool_name):
    """The CloudFormation logical id kube-aws gives a node pool's nested stack (naming.FromStackToCfnResource)."""
    name = pool_name.replace("-", "")
    return name[:1].upper() + name[1:]


def subnet_name(index):
    return "Subnet{0}".format(index + 1)


def cluster_config(base, p, subnets, fingerprint=None):
    """cluster.yaml as a dict: ``base`` (what is there, or what init wrote) with the module's keys set.

    ``subnets`` are dicts with ``id`` and ``az`` (resolved); ``p`` are the module's parameters.
    """
    config = copy.deepcopy(base) if isinstance(base, dict) else {}
    config["clusterName"] = p["cluster_name"]
    config["s3URI"] = p["s3_uri"].rstrip("/")
    config["amiId"] = p["ami_id"]
    config["keyName"] = p["key_name"]
    config["region"] = p["region_name"]
    config["kmsKeyArn"] = p["kms_key_arn"]
    if p["kubernetes_version"]:
        config["kubernetesVersion"] = normalized_version(p["kubernetes_version"])
    named = [{"name": subnet_name(i), "id": s["id"], "availabilityZone": s["az"]} for i, s in enumerate(subnets)]
    refs = [{"name": s["name"]} for s in named]
    endpoint = {"name": "default", "dnsName": p["external_dns_name"], "loadBalancer": {}}
    old_endpoints = config.get("apiEndpoints") or []
    if old_endpoints and isinstance(old_endpoints[0], dict):
        endpoint["loadBalancer"] = dict(old_endpoints[0].get("loadBalancer") or {})
    balancer = endpoint["loadBalancer"]
    for key in ("hostedZone", "recordSetManaged", "subnets", "apiAccessAllowedSourceCIDRs", "securityGroupIds"):
        balancer.pop(key, None)  # set again below, always in this order
    # kube-aws opens the API load balancer to 0.0.0.0/0 unless told otherwise (pkg/api/api_endpoint_lb.go,
    # DefaultCIDRRanges); it refuses an empty list without security groups, which then admit the clients
    balancer["apiAccessAllowedSourceCIDRs"] = list(p["api_access_cidrs"] or [])
    if p["api_security_group_ids"]:
        balancer["securityGroupIds"] = list(p["api_security_group_ids"])
    if p["hosted_zone_id"]:
        balancer["hostedZone"] = {"id": p["hosted_zone_id"]}
    else:
        balancer["recordSetManaged"] = False
    if named:
        balancer["subnets"] = refs
    config["apiEndpoints"] = [endpoint]
    if named:
        config.pop("availabilityZone", None)
        config["subnets"] = named
    else:
        config["availabilityZone"] = p["availability_zone"]
        config.pop("subnets", None)
    if p["vpc_id"]:
        config["vpc"] = {"id": p["vpc_id"]}
    if p.get("vpc_cidr"):
        config["vpcCIDR"] = p["vpc_cidr"]
    # kube-aws admits SSH from 0.0.0.0/0 (sshAccessAllowedSourceCIDRs) and, with openICMP (init's cluster.yaml
    # sets it), ICMP from 0.0.0.0/0 to its controllers and workers unless told otherwise
    config["sshAccessAllowedSourceCIDRs"] = list(p.get("ssh_access_cidrs") or [])
    config["openICMP"] = False
    controller = dict(config.get("controller") or {})
    controller["count"] = p["controller_count"]
    if p["controller_instance_type"]:
        controller["instanceType"] = p["controller_instance_type"]
    if named:
        controller["subnets"] = refs
    config["controller"] = controller
    etcd = dict(config.get("etcd") or {})
    etcd["count"] = p["etcd_count"]
    if named:
        etcd["subnets"] = refs
    config["etcd"] = etcd
    worker = dict(config.get("worker") or {})
    worker["nodePools"] = [node_pool(pool, p["ami_id"], named) for pool in p["node_pools"]]
    config["worker"] = worker
    # the dashboard plugin is on in init's cluster.yaml and fails without credentials/dashboard.pem
    plugins = dict(config.get("kubeAwsPlugins") or {})
    plugins["dashboard"] = dict(plugins.get("dashboard") or {}, enabled=False)
    config["kubeAwsPlugins"] = plugins
    # CloudFormation puts stack tags on the stacks' resources too: they carry the cluster's tags, as everything does
    stack_tags = cluster_tags(p["cluster_name"])
    # kube-aws tags its stacks with kubernetes.io/cluster/<name> itself: a second one would be a duplicate key
    stack_tags.pop("kubernetes.io/cluster/{0}".format(p["cluster_name"]), None)
    stack_tags.update((k, str(v)) for k, v in (p["tags"] or {}).items())
    if fingerprint:
        stack_tags[FINGERPRINT_TAG] = fingerprint
    config["stackTags"] = stack_tags
    return merge(config, p["extra_config"] or {})


def node_pool(pool, ami_id, named_subnets):
    spec = {"name": pool["name"], "count": pool["count"], "instanceType": pool["instance_type"], "amiId": ami_id}
    zones = pool.get("zones") or []
    subnets = [s for s in named_subnets if not zones or s["availabilityZone"] in zones]
    if subnets:
        spec["subnets"] = [{"name": s["name"]} for s in subnets]
    if len(set(s["availabilityZone"] for s in subnets)) > 1:
        # kube-aws's default rolls pools a zone at a time, which it refuses for a pool spanning zones
        spec["nodePoolRollingStrategy"] = "Parallel"
    if pool.get("labels"):
        spec["nodeLabels"] = dict((k, str(v)) for k, v in pool["labels"].items())
    if pool.get("taints"):
        spec["taints"] = [
            {"key": t["key"], "value": str(t.get("value") or ""), "effect": t["effect"]} for t in pool["taints"]
        ]
    if pool.get("nvidia_driver"):
        spec["gpu"] = {"nvidia": {"enabled": True, "version": str(pool["nvidia_driver"])}}
    if pool.get("managed_policies"):
        spec["iam"] = {"role": {"managedPolicies": [{"arn": arn} for arn in pool["managed_policies"]]}}
    return spec


def normalized_version(version):
    version = str(version).strip()
    return version if version.startswith("v") else "v" + version


def without_fingerprint(config):
    config = copy.deepcopy(config)
    tags = config.get("stackTags")
    if isinstance(tags, dict):
        tags.pop(FINGERPRINT_TAG, None)
    return config


def fingerprint(asset_dir, config):
    """sha256 over cluster.yaml's content (less the fingerprint tag) and every input file of the asset dir."""
    digest = hashlib.sha256()
    digest.update(json.dumps(without_fingerprint(config), sort_keys=True, default=str).encode())
    for top in HASHED_DIRS:
        root = os.path.join(asset_dir, top)
        for directory, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(DERIVED_SUFFIXES):
                    continue
                path = os.path.join(directory, name)
                digest.update(os.path.relpath(path, asset_dir).encode() + b"\0")
                if os.path.islink(path):
                    digest.update(b"link:" + os.readlink(path).encode())
                else:
                    with open(path, "rb") as handle:
                        digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()[:32]


def drop_duplicate_key(text, key):
    """``text`` (a JSON Go template) with every ``"key": {...}`` member but the last removed."""
    pattern = re.compile(r'^[ \t]*"' + re.escape(key) + r'"\s*:\s*\{', re.M)
    found = list(pattern.finditer(text))
    for match in reversed(found[:-1]):
        end = closing_brace(text, match.end() - 1)
        if end is None:
            return text
        comma = re.match(r"\s*,[ \t]*\n?", text[end:])
        end += comma.end() if comma else 0
        text = text[: match.start()] + text[end:]
    return text


def closing_brace(text, start):
    """Index just past the brace matching text[start] ('{'), skipping Go template actions and JSON strings."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("{{", i):
            close = text.find("}}", i)
            if close < 0:
                return None
            i = close + 2
            continue
        char = text[i]
        if char == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


INGRESS = re.compile(r'"SecurityGroupIngress"\s*:\s*\[')
WORLD = re.compile(r'"CidrIp"\s*:\s*"0\.0\.0\.0/0"')


def no_world_icmp(text):
    """network.json.tmpl with every ingress from 0.0.0.0/0 (all ICMP in kube-aws v0.16.4's template; SSH comes from
    sshAccessAllowedSourceCIDRs) admitted from the VPC instead. Egress is left as it is."""
    parts, last = [], 0
    for match in INGRESS.finditer(text):
        end = text.index("]", match.end())  # the array holds objects and template actions, no other array
        parts.append(text[last : match.end()])
        parts.append(WORLD.sub('"CidrIp": "{{$.VPCCIDR}}"', text[match.end() : end]))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def fix_templates(asset_dir):
    """Work around kube-aws v0.16's template defects in stack-templates/; the names of the files changed."""
    changed = []
    for name, keys in DUPLICATE_KEYS.items():
        path = os.path.join(asset_dir, "stack-templates", name)
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            text = handle.read()
        fixed = no_world_icmp(text) if name == "network.json.tmpl" else text
        for key in keys:
            fixed = drop_duplicate_key(fixed, key)
        if fixed != text:
            with open(path, "w") as handle:
                handle.write(fixed)
            changed.append(name)
    return changed


def role_name_problems(cluster_name, pools, region):
    """kube-aws's own rule (cfnresource.ValidateUnstableRoleNameLength), checked before it runs: the IAM role
    CloudFormation names ``<cluster>-<nested stack>-<13 characters>-<region>-`` for the control plane and each node
    pool must fit IAM's 64 characters."""
    problems = []
    for label, logical in [("the control plane", "Controlplane")] + [
        ("node pool " + pool, logical_name(pool)) for pool in pools
    ]:
        role = "{0}-{1}-PRK1CVQNY7XZ-{2}-".format(cluster_name, logical, region)
        if len(role) > 64:
            problems.append(
                "the IAM role name CloudFormation builds for {0} ({1}) would be {2} characters, over IAM's 64: "
                "shorten cluster_name{3} by {4}".format(
                    label,
                    role,
                    len(role),
                    " or the node pool name" if label != "the control plane" else "",
                    len(role) - 64,
                )
            )
    return problems


def nested_stack_names(cluster_name, pools):
    """The longest names CloudFormation will give the nested stacks: <cluster>-<LogicalId>-<13 characters>."""
    logicals = ["Network", "Etcd", "Controlplane"] + [logical_name(p) for p in pools]
    return ["{0}-{1}-{2}".format(cluster_name, logical, "X" * 13) for logical in logicals]
