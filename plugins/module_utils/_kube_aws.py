# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kube-aws as the kube_aws_cluster module drives it, with no AWS call of its own: the module's input checked
(``problems_of``), the binary (``KubeAws``, which the module runs in the asset directory), and the asset directory
prepared locally - ``kube-aws init`` and ``render`` - with cluster.yaml's owned keys set (``prepare``). Also:

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

from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.cli import ToolRunner
from ansible_collections.trainkit.aws.plugins.module_utils.cli import aws_environment
from ansible_collections.trainkit.aws.plugins.module_utils.cli import merge
from ansible_collections.trainkit.aws.plugins.module_utils.cli import read
from ansible_collections.trainkit.aws.plugins.module_utils.tags import cluster_tags

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None

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


S3_URI = re.compile(r"^s3://([^/]+)(/.*)?$")
KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/[A-Za-z0-9-]+$")
AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
POOL_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")
VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
BINARY_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
STACK_NAME_MAX = 128
CREDENTIALS = ("ca.pem", "admin.pem", "apiserver.pem", "worker.pem", "etcd.pem")


# -- the module's input (no AWS call) ----------------------------------------------------------------------
def problems_of(p):
    """Everything wrong with the options, without any call."""
    problems = validate.cluster_name(p["cluster_name"])
    if p["state"] == "absent":
        return problems
    for option in ("key_name", "kms_key_arn", "s3_uri", "external_dns_name", "ami_id"):
        if not p[option]:
            problems.append(
                "{0} is required with state=present{1}".format(
                    option,
                    (
                        " (without it kube-aws fetches the Flatcar AMI list from the internet)"
                        if option == "ami_id"
                        else ""
                    ),
                )
            )
    if p["ami_id"] and not AMI_ID.match(p["ami_id"]):
        problems.append("ami_id {0!r} is not an AMI id such as 'ami-0123456789abcdef0'".format(p["ami_id"]))
    match = S3_URI.match(p["s3_uri"] or "")
    if p["s3_uri"] and not match:
        problems.append("s3_uri {0!r} must look like 's3://bucket/prefix'".format(p["s3_uri"]))
    elif match:
        problems += validate.bucket_name(match.group(1))
    match = KMS_ARN.match(p["kms_key_arn"] or "")
    if p["kms_key_arn"] and not match:
        problems.append(
            "kms_key_arn {0!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); an alias will not "
            "do".format(p["kms_key_arn"])
        )
    elif match and match.group(1) != p["region_name"]:
        problems.append(
            "kms_key_arn is a key of {0}; kube-aws needs one in the cluster's region {1}".format(
                match.group(1), p["region_name"]
            )
        )
    if p["external_dns_name"]:
        problems += validate.dns_name(p["external_dns_name"], "external_dns_name")
    problems += validate.cidr_list(p["api_access_cidrs"], "api_access_cidrs")
    problems += validate.cidr_list(p["ssh_access_cidrs"], "ssh_access_cidrs")
    if not p["api_access_cidrs"] and not p["api_security_group_ids"]:
        problems.append(
            "give api_access_cidrs or api_security_group_ids: kube-aws opens the API load balancer to 0.0.0.0/0 "
            "without them (list 0.0.0.0/0 to have that on purpose)"
        )
    if p["hosted_zone_id"] and p["no_record_set"]:
        problems.append("give hosted_zone_id or no_record_set, not both")
    if not p["hosted_zone_id"] and not p["no_record_set"]:
        problems.append("give hosted_zone_id (kube-aws creates the API endpoint's record there) or no_record_set: true")
    if not p["subnets"] and not p["availability_zone"]:
        problems.append("give subnets (the network step's) or availability_zone (kube-aws builds a subnet there)")
    if p["subnets"] and p["availability_zone"]:
        problems.append("availability_zone must be empty when subnets are given (kube-aws refuses both)")
    if p["subnets"] and not p["vpc_id"]:
        problems.append("subnets need vpc_id")
    for entry in p["subnets"]:
        if not isinstance(entry, (str, dict)) or (
            isinstance(entry, dict) and not (entry.get("id") or entry.get("subnet_id"))
        ):
            problems.append("subnets: each entry is a subnet id or a dict with id (got {0!r})".format(entry))
    for option in ("controller_count", "etcd_count"):
        problems += validate.positive(p[option], option)
    if p["wait_timeout"] < 1:
        problems.append("wait_timeout must be at least 1 second")
    problems += validate.tags(p["tags"])
    problems += pool_problems(p["node_pools"])
    if not problems:
        pools = [g["name"] for g in p["node_pools"]]
        problems += role_name_problems(p["cluster_name"], pools, p["region_name"])
        for name in nested_stack_names(p["cluster_name"], pools):
            if len(name) > STACK_NAME_MAX:
                problems.append(
                    "the nested stack name {0} would be {1} characters, over CloudFormation's {2}: shorten "
                    "cluster_name or the node pool names".format(name, len(name), STACK_NAME_MAX)
                )
    if p["endpoint_url"] and not p["https_proxy"]:
        problems.append(
            "kube-aws ignores endpoint_url ({0}): give https_proxy, the endpoint's HTTPS proxy (tools/local-aws "
            "status prints it for the local endpoint)".format(p["endpoint_url"])
        )
    if p["kubernetes_version"] and not VERSION.match(str(p["kubernetes_version"])):
        problems.append("kubernetes_version {0!r} must look like v1.16.10".format(p["kubernetes_version"]))
    return problems


def pool_problems(pools):
    problems = []
    names = [g["name"] for g in pools]
    for name in sorted(set(n for n in names if names.count(n) > 1)):
        problems.append("node pool {0} is listed twice".format(name))
    logicals = [logical_name(n) for n in names]
    for logical in sorted(set(n for n in logicals if logicals.count(n) > 1)):
        if names.count(logical) < 2:
            problems.append("node pool names that differ only by '-' make the same stack name ({0})".format(logical))
    for pool in pools:
        label = "node pool {0}".format(pool["name"])
        if pool.get("spot") or pool.get("instance_types"):
            problems.append(
                "{0}: spot and instance_types are for the eksctl and local providers; trainkit's kube-aws node pools "
                "take one instance_type, on demand".format(label)
            )
        if pool.get("efa"):
            problems.append(
                "{0}: efa is for the eksctl provider (eksctl's efaEnabled); kube-aws renders no EFA interfaces, "
                "placement group or EFA security group".format(label)
            )
        if not pool.get("instance_type"):
            problems.append("{0}: instance_type is required".format(label))
        if not POOL_NAME.match(pool["name"]):
            problems.append("{0}: a name holds only letters, digits and '-', starting with a letter".format(label))
        if pool["count"] < 0:
            problems.append("{0}: count must be 0 or more".format(label))
        problems += validate.taints(pool["taints"], label)
    return problems


# -- kube-aws, the binary --------------------------------------------------------------------------------
class KubeAws(ToolRunner):
    """The kube-aws binary, run in an asset directory with the module's AWS settings as its environment."""

    name = "kube-aws"
    marks = ("rror",)

    def __init__(self, module, path, region):
        p = module.params
        # kube-aws's SDK ignores AWS_ENDPOINT_URL; https_proxy is its way to another endpoint
        env = dict(aws_environment(p, region, skip=("endpoint_url",)), AWS_SDK_LOAD_CONFIG="1")
        if p["https_proxy"]:
            # every call goes to the proxy, which refuses anything but AWS hosts: nothing leaves for the internet
            env.update(HTTPS_PROXY=p["https_proxy"], HTTP_PROXY=p["https_proxy"], NO_PROXY="")
        super().__init__(module, path, env)

    def noise(self, line):
        return noise(line)

    def hint(self, text):
        return hint_for(text)


def noise(line):
    """kube-aws repeats a warning about DNS names managed by the user for every node pool and command."""
    return line.startswith(("WARN: the worker node pool", "Please never point the DNS", "kube-aws can't save"))


def hint_for(text):
    if "ROLLBACK_COMPLETE" in text or "ROLLBACK_FAILED" in text:
        return "the stack failed and rolled back: run state=absent, fix the cause, and apply again"
    if "AccessDenied" in text or "UnauthorizedOperation" in text:
        return "the AWS identity lacks a permission kube-aws needs (see the log for the call)"
    if "proxyconnect" in text or "certificate signed by unknown authority" in text:
        return "kube-aws cannot reach AWS through https_proxy; check the proxy and aws_ca_bundle"
    return "the log holds kube-aws's own output; CloudFormation's stack events say more"


# -- the asset directory --------------------------------------------------------------------------------
def to_yaml(config):
    dumper = type("NoAliases", (yaml.SafeDumper,), {"ignore_aliases": lambda self, data: True})
    return yaml.dump(config, Dumper=dumper, default_flow_style=False, sort_keys=False)


HEADER = (
    "# kube-aws cluster.yaml, managed by trainkit.aws.kube_aws_cluster: the keys it sets from its options are\n"
    "# overwritten on every run; any other key you add or change here is kept and deployed.\n"
)


def prepare(kube_aws, work, p, region, subnets):
    """Bring the asset directory ``work`` to the wanted state locally (no AWS call): init, cluster.yaml, credentials,
    stack templates. Returns (cluster.yaml text before, the config dict, its fingerprint)."""
    path = os.path.join(work, "cluster.yaml")
    before = read(path)
    if before is None:
        args = ["init", "--cluster-name", p["cluster_name"], "--region", region, "--key-name", p["key_name"]]
        args += ["--kms-key-arn", p["kms_key_arn"], "--s3-uri", p["s3_uri"], "--ami-id", p["ami_id"]]
        args += ["--external-dns-name", p["external_dns_name"]]
        args += ["--availability-zone", p["availability_zone"] or subnets[0]["az"]]
        args += ["--hosted-zone-id", p["hosted_zone_id"]] if p["hosted_zone_id"] else ["--no-record-set"]
        kube_aws.run(*args, cwd=work)
        with open(path) as handle:
            base = yaml.safe_load(handle)
    else:
        base = yaml.safe_load(before) or {}
    # the render steps read cluster.yaml: written first with the fingerprint it had (a run that changes nothing
    # rewrites nothing), then with the one of what it holds now
    old = ((base or {}).get("stackTags") or {}).get(FINGERPRINT_TAG) if isinstance(base, dict) else None
    config = cluster_config(base, dict(p, region_name=region), subnets, old)
    write(path, HEADER + to_yaml(config))
    credentials = os.path.join(work, "credentials")
    if not os.path.exists(os.path.join(credentials, "ca.pem")):
        kube_aws.run("render", "credentials", "--generate-ca", cwd=work)
    elif not all(os.path.exists(os.path.join(credentials, name)) for name in CREDENTIALS):
        kube_aws.run("render", "credentials", cwd=work)
    lock_down(credentials)
    if not os.path.isdir(os.path.join(work, "stack-templates")):
        kube_aws.run("render", "stack", cwd=work)
    fix_templates(work)
    digest = fingerprint(work, config)
    config = cluster_config(base, dict(p, region_name=region), subnets, digest)
    write(path, HEADER + to_yaml(config))
    return before, config, digest


def write(path, text):
    if read(path) != text:
        with open(path, "w") as handle:
            handle.write(text)


def lock_down(credentials):
    """Credentials are secrets: the directory 0700, its files 0600."""
    if not os.path.isdir(credentials):
        return
    os.chmod(credentials, 0o700)
    for name in os.listdir(credentials):
        path = os.path.join(credentials, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.chmod(path, 0o600)
