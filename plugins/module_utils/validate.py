# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input validation that runs before the first AWS call.

Every checker returns a list of problems, each a sentence saying what is wrong and what to
change; an empty list means the input is fine. Modules gather the problems of all their
inputs and fail once, so a user fixes everything in one go and nothing is half-created.
"""

from __future__ import annotations

import ipaddress
import json
import re

CLUSTER_NAME_RE = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]*$")
# The longest name built from a cluster name is the node IAM role "<cluster>-kubernetes-master"
# (IAM role names stop at 64); the ELB names kube-aws derives stop at 32. 28 keeps both legal.
CLUSTER_NAME_MAX = 28
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
IAM_NAME_RE = re.compile(r"^[\w+=,.@-]+$")
POLICY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")
KMS_ALIAS_RE = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DNS_LABEL_RE = re.compile(r"^(\*|[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?)$")
SSH_KEY_RE = re.compile(r"^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( .*)?$")


def cluster_name(name, option="cluster_name"):
    if name is None:
        return []
    if not CLUSTER_NAME_RE.match(name):
        return [
            "{0} {1!r} must start with a letter and hold only letters, digits and '-' "
            "(kube-aws and CloudFormation reject '_', '.' and spaces); e.g. 'paddle-demo'".format(option, name)
        ]
    if len(name) > CLUSTER_NAME_MAX:
        return [
            "{0} {1!r} is {2} characters; use at most {3}, since IAM role and load balancer "
            "names are built from it".format(option, name, len(name), CLUSTER_NAME_MAX)
        ]
    return []


def region(name):
    if name and not REGION_RE.match(name):
        return ["region {0!r} is not an AWS region name such as 'us-west-2'".format(name)]
    return []


def network(value, option, min_prefix=16, max_prefix=28):
    """Problems with an IPv4 CIDR block, and the parsed network (or None)."""
    if not isinstance(value, str) or "/" not in value:
        return ["{0} {1!r} needs a prefix length, e.g. '172.20.0.0/16' or '203.0.113.7/32'".format(option, value)], None
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        return ["{0} {1!r} is not a valid IPv4 CIDR block ({2}); e.g. '172.20.0.0/16'".format(option, value, exc)], None
    if not min_prefix <= net.prefixlen <= max_prefix:
        return [
            "{0} {1} has a /{2} mask; AWS allows /{3} to /{4}".format(
                option, value, net.prefixlen, min_prefix, max_prefix
            )
        ], None
    return [], net


def subnets(vpc_cidr, subnet_specs, region_name):
    """Problems with a VPC CIDR and its subnets: valid, inside the VPC, not overlapping, AZ in region."""
    problems, vpc = network(vpc_cidr, "cidr_block")
    seen = []
    for index, spec in enumerate(subnet_specs or []):
        label = "subnets[{0}]".format(index)
        az = spec.get("az") or ""
        if region_name and not (az.startswith(region_name) and re.match(r"^[a-z]$", az[len(region_name) :] or "")):
            problems.append(
                "{0}.az {1!r} is not an availability zone of region {2} (e.g. '{2}a')".format(label, az, region_name)
            )
        sub_problems, net = network(spec.get("cidr"), label + ".cidr")
        problems.extend(sub_problems)
        if net is None:
            continue
        if vpc is not None and not net.subnet_of(vpc):
            problems.append("{0}.cidr {1} is not inside the VPC's cidr_block {2}".format(label, net, vpc))
        for other_label, other in seen:
            if net.overlaps(other):
                problems.append("{0}.cidr {1} overlaps {2}.cidr {3}".format(label, net, other_label, other))
        seen.append((label, net))
    return problems


def nat_gateways(mode, subnet_specs, prefix=""):
    """A NAT gateway lives in a public subnet: ``single`` needs one public subnet when any subnet is private,
    ``per_zone`` one in every zone that has a private subnet (AWS would create it, but the private subnets of a zone
    without one would have no way out)."""
    if mode not in ("single", "per_zone", "none"):
        return ["{0}nat_gateways {1!r} must be single, per_zone or none".format(prefix, mode)]
    private_zones = sorted(set(s.get("az") for s in subnet_specs or [] if s.get("public") is False))
    public_zones = set(s.get("az") for s in subnet_specs or [] if s.get("public") is not False)
    if mode == "none" or not private_zones:
        return []
    if not public_zones:
        return [
            "{0}subnets: the private subnets need a NAT gateway in a public subnet and none is public; add a public "
            "subnet, or set nat_gateways: none to leave them without a way out".format(prefix)
        ]
    missing = [az for az in private_zones if az not in public_zones]
    if mode == "per_zone" and missing:
        return [
            "{0}nat_gateways per_zone puts a NAT gateway in a public subnet of each zone with private subnets; {1} "
            "has no public subnet - add one there, or set nat_gateways: single".format(prefix, ", ".join(missing))
        ]
    return []


def cidr_list(values, option):
    """Problems with a list of CIDR blocks that rules open to (any prefix length, written out)."""
    problems = []
    for value in values or []:
        problems += network(value, option + " entry", min_prefix=0, max_prefix=32)[0]
    return problems


def eks_endpoint(public_access, private_access, public_access_cidrs, prefix=""):
    """Problems with an EKS cluster's API endpoint access: at least one endpoint; a public one only for the CIDR blocks
    listed - EKS opens it to 0.0.0.0/0 when none are, so that is taken only when it is listed itself."""
    problems = cidr_list(public_access_cidrs, prefix + "public_access_cidrs")
    if not public_access and not private_access:
        problems.append(
            "{0}endpoint_public_access and {0}endpoint_private_access are both off: EKS needs one of them".format(
                prefix
            )
        )
    elif public_access and not public_access_cidrs:
        problems.append(
            "{0}public_access_cidrs is empty: the cluster's public API endpoint would be open to the whole internet "
            "(EKS's default 0.0.0.0/0). List the addresses ansible and kubectl run from (network_api_cidrs: an "
            "office, a VPN, the AWX runners' NAT), list 0.0.0.0/0 to open it to everyone on purpose, or turn "
            "{0}endpoint_public_access off (then run from inside the VPC)".format(prefix)
        )
    elif not public_access and public_access_cidrs:
        problems.append(
            "{0}public_access_cidrs is set but {0}endpoint_public_access is off: there is no public endpoint for "
            "them".format(prefix)
        )
    return problems


def bucket_name(name):
    """S3 bucket naming rules (general purpose buckets)."""
    rule = "bucket name {0!r} is not legal: ".format(name)
    if not 3 <= len(name) <= 63:
        return [rule + "use 3 to 63 characters"]
    if not BUCKET_RE.match(name):
        return [rule + "use lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"]
    if ".." in name or ".-" in name or "-." in name:
        return [rule + "no '..', '.-' or '-.'"]
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", name):
        return [rule + "it must not look like an IP address"]
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            return [rule + "it must not start with {0!r}".format(prefix)]
    for suffix in ("-s3alias", "--ol-s3", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            return [rule + "it must not end with {0!r}".format(suffix)]
    return []


def iam_name(name, option, max_len=128):
    if not name or len(name) > max_len or not IAM_NAME_RE.match(name):
        return ["{0} {1!r} must be 1 to {2} characters of letters, digits and '+=,.@_-'".format(option, name, max_len)]
    return []


def policy_arns(arns, option="managed_policies"):
    return [
        "{0}: {1!r} is not an IAM policy ARN such as 'arn:aws:iam::aws:policy/AmazonEC2FullAccess'".format(option, a)
        for a in arns or []
        if not POLICY_ARN_RE.match(a or "")
    ]


def policy_document(doc, option):
    """A policy must be a JSON object with a Statement (given as dict or JSON string)."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError as exc:
            return ["{0} is not valid JSON: {1}".format(option, exc)]
    if not isinstance(doc, dict) or "Statement" not in doc:
        return ["{0} must be a policy document: a JSON object with 'Version' and 'Statement'".format(option)]
    if doc.get("Version") not in ("2012-10-17", "2008-10-17"):
        return [
            '{0} has Version {1!r}; set "Version": "2012-10-17" (without it IAM reads the document with the '
            "2008 grammar, where policy variables do not work)".format(option, doc.get("Version"))
        ]
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            return ['{0}: Statement[{1}] needs "Effect": "Allow" or "Deny"'.format(option, index)]
    return []


def kms_alias(alias):
    if not KMS_ALIAS_RE.match(alias or "") or len(alias) > 256:
        return ["alias {0!r} must look like 'alias/<name>' with letters, digits, '/', '_' and '-'".format(alias)]
    if alias.startswith("alias/aws/"):
        return ["alias {0!r}: the 'alias/aws/' prefix is reserved for AWS managed keys".format(alias)]
    return []


def tags(value, option="tags"):
    problems = []
    for key, val in (value or {}).items():
        if not 1 <= len(key) <= 128:
            problems.append("{0}: key {1!r} must be 1 to 128 characters".format(option, key))
        if key.lower().startswith("aws:"):
            problems.append("{0}: key {1!r} uses the reserved 'aws:' prefix".format(option, key))
        if val is not None and len(str(val)) > 256:
            problems.append("{0}: the value of {1!r} is longer than 256 characters".format(option, key))
    return problems


def taints(values, label):
    """Kubernetes node taints: each needs a key and one of the three effects."""
    for taint in values or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute", "PreferNoSchedule") or not taint.get("key"):
            return ["{0}: a taint needs key and effect NoSchedule, NoExecute or PreferNoSchedule".format(label)]
    return []


def ssh_public_key(key):
    if not SSH_KEY_RE.match((key or "").strip()):
        return ["public_key must be an OpenSSH public key line such as 'ssh-ed25519 AAAA... comment'"]
    return []


def dns_name(name, option):
    labels = (name or "").rstrip(".").split(".")
    if not name or len(name.rstrip(".")) > 253 or not all(DNS_LABEL_RE.match(label) for label in labels):
        return ["{0} {1!r} is not a valid DNS name".format(option, name)]
    return []


def record_values(record, option):
    """A Route53 record's values must match its type (an A record holds IPv4 addresses, ...)."""
    problems = []
    kind = record.get("type") or "A"
    for value in record.get("value") or []:
        value = str(value)
        if kind in ("A", "AAAA"):
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                address = None
            if address is None or address.version != (4 if kind == "A" else 6):
                problems.append(
                    "{0}: {1!r} is not an IPv{2} address, which an {3} record holds".format(
                        option, value, 4 if kind == "A" else 6, kind
                    )
                )
        elif kind in ("CNAME", "PTR") and dns_name(value, option):
            problems.append("{0}: {1!r} is not a DNS name, which a {2} record holds".format(option, value, kind))
        elif kind == "MX" and not re.match(r"^\d{1,5} \S+$", value):
            problems.append("{0}: {1!r} must be '<priority> <host>', e.g. '10 mail.example.com'".format(option, value))
        elif kind == "SRV" and not re.match(r"^\d{1,5} \d{1,5} \d{1,5} \S+$", value):
            problems.append("{0}: {1!r} must be '<priority> <weight> <port> <host>'".format(option, value))
    if kind == "CNAME" and len(record.get("value") or []) > 1:
        problems.append("{0}: a CNAME record holds exactly one value".format(option))
    return problems


def positive(value, option, minimum=1):
    """An id, count or timeout that must be at least ``minimum``."""
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        return ["{0} {1!r} must be a whole number of at least {2}".format(option, value, minimum)]
    return []


LUSTRE_THROUGHPUTS = {"PERSISTENT_1": (50, 100, 200), "PERSISTENT_2": (125, 250, 500, 1000)}


def fsx_lustre(deployment_type, capacity, throughput, import_path, export_path, prefix=""):
    """What FSx for Lustre does not allow: sizes per deployment type, throughput, S3 linking."""
    problems = []
    name = prefix + "{0}"
    if deployment_type == "SCRATCH_1":
        if capacity not in (1200, 2400) and (capacity <= 0 or capacity % 3600):
            problems.append(
                "{0} {1} is not allowed for SCRATCH_1: use 1200, 2400 or a multiple of 3600".format(
                    name.format("storage_capacity"), capacity
                )
            )
    elif capacity != 1200 and (capacity <= 0 or capacity % 2400):
        problems.append(
            "{0} {1} is not allowed for {2}: use 1200 or a multiple of 2400".format(
                name.format("storage_capacity"), capacity, deployment_type
            )
        )
    allowed = LUSTRE_THROUGHPUTS.get(deployment_type)
    if allowed and throughput not in allowed:
        problems.append(
            "{0} must be one of {1} for {2}".format(
                name.format("per_unit_storage_throughput"), ", ".join(map(str, allowed)), deployment_type
            )
        )
    if not allowed and throughput:
        problems.append(
            "{0} is only for PERSISTENT_1 and PERSISTENT_2".format(name.format("per_unit_storage_throughput"))
        )
    for option, path in (("import_path", import_path), ("export_path", export_path)):
        if path and not path.startswith("s3://"):
            problems.append(
                "{0} {1!r} must be an S3 path such as 's3://bucket/prefix'".format(name.format(option), path)
            )
    if export_path and not import_path:
        problems.append("{0} needs {1}".format(name.format("export_path"), name.format("import_path")))
    if export_path and import_path and export_path.split("/")[:3] != import_path.split("/")[:3]:
        problems.append(
            "{0} must be in the same bucket as {1}".format(name.format("export_path"), name.format("import_path"))
        )
    if import_path and deployment_type == "PERSISTENT_2":
        problems.append(
            "PERSISTENT_2 links S3 through data repository associations, not {0}; use PERSISTENT_1 or "
            "SCRATCH_*".format(name.format("import_path"))
        )
    return problems


def efs(throughput_mode, provisioned, encrypted, kms_key_id, access_points, prefix="", performance_mode=None):
    """What EFS does not allow: throughput options per mode, a key without encryption, access point rules."""
    name = prefix + "{0}"
    problems = []
    if throughput_mode == "elastic" and performance_mode == "maxIO":
        # EFS user guide, "Throughput modes": Elastic throughput works with General Purpose performance mode only
        problems.append(
            "{0}=elastic needs {1}=generalPurpose (EFS refuses Elastic throughput with Max I/O)".format(
                name.format("throughput_mode"), name.format("performance_mode")
            )
        )
    if throughput_mode == "provisioned" and not (provisioned or 0) >= 1:
        problems.append(
            "{0}=provisioned needs {1} of at least 1".format(
                name.format("throughput_mode"), name.format("provisioned_throughput_in_mibps")
            )
        )
    if throughput_mode != "provisioned" and provisioned:
        problems.append(
            "{0} applies only with {1}=provisioned (it is {2!r})".format(
                name.format("provisioned_throughput_in_mibps"), name.format("throughput_mode"), throughput_mode
            )
        )
    if provisioned and provisioned > 3414:
        problems.append(
            "{0} {1} is above EFS's 3414 MiB/s".format(name.format("provisioned_throughput_in_mibps"), provisioned)
        )
    if kms_key_id and not encrypted:
        problems.append("{0} needs {1}=true".format(name.format("kms_key_id"), name.format("encrypted")))
    names = [a.get("name") for a in access_points or []]
    if len(set(names)) != len(names):
        problems.append("{0} names must be unique".format(name.format("access_points")))
    for point in access_points or []:
        label = "{0} {1}".format(name.format("access point"), point.get("name"))
        path = point.get("path") or ""
        if not path.startswith("/"):
            problems.append("{0}: path {1!r} must start with '/'".format(label, path))
        elif len(path) > 100 or "//" in path or (path != "/" and path.endswith("/")):
            problems.append(
                "{0}: path {1!r} must be at most 100 characters, without '//' or a trailing '/'".format(label, path)
            )
        if not re.match(r"^0?[0-7]{3}$", str(point.get("permissions", "0755"))):
            problems.append("{0}: permissions {1!r} must be octal like '0755'".format(label, point.get("permissions")))
        for key in ("uid", "gid"):
            value = point.get(key, 1000)
            if not isinstance(value, int) or not 0 <= value <= 4294967295:
                problems.append("{0}: {1} {2!r} must be 0 to 4294967295".format(label, key, value))
    return problems
