# -*- coding: utf-8 -*-
"""Test harness: the local AWS endpoint, and ansible / ansible-playbook runs with their results."""

import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import importlib.util
import json
import os
import pathlib
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import boto3
from botocore.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
REGION = "us-west-2"
# The aws CLI (for the exec section of EKS kubeconfigs: aws eks get-token) lives in a virtualenv of its own, because
# awscli pins a botocore of its own: `make awscli` builds it into the cache.
AWSCLI_BIN = os.path.join(
    os.environ.get("TRAINKIT_CACHE_DIR") or os.path.join(os.path.expanduser("~/.cache"), "trainkit"), "awscli", "bin"
)
READ_ONLY = ("Describe", "List", "Get", "Head", "Lookup")


def eventually(predicate, timeout=60.0, what="the condition"):
    """Poll predicate until truthy (the local endpoint, like AWS, finishes creates and deletes later)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after {0}s waiting for {1}".format(timeout, what))
        time.sleep(0.25)


def resource_counts(client):
    """How many of each kind of resource the account holds: what a failed module must not have changed, and what
    a stack's delete must bring back. ``client`` maps a service name to a boto3 client (LocalAWS.client)."""
    ec2, iam = client("ec2"), client("iam")
    kms = client("kms")
    return {
        "vpcs": len(ec2.describe_vpcs()["Vpcs"]),
        "subnets": len(ec2.describe_subnets()["Subnets"]),
        "security_groups": len(ec2.describe_security_groups()["SecurityGroups"]),
        "internet_gateways": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "route_tables": len(ec2.describe_route_tables()["RouteTables"]),
        "addresses": len(ec2.describe_addresses()["Addresses"]),
        "volumes": len([v for v in ec2.describe_volumes()["Volumes"] if v["State"] != "deleted"]),
        "launch_templates": len(ec2.describe_launch_templates()["LaunchTemplates"]),
        "network_interfaces": len(ec2.describe_network_interfaces()["NetworkInterfaces"]),
        "key_pairs": len(ec2.describe_key_pairs()["KeyPairs"]),
        "load_balancers": len(client("elb").describe_load_balancers()["LoadBalancerDescriptions"]),
        "buckets": len(client("s3").list_buckets()["Buckets"]),
        "kms_keys": len(kms.list_keys()["Keys"]),
        "kms_aliases": len(kms.list_aliases()["Aliases"]),
        "iam_groups": len(iam.list_groups()["Groups"]),
        "iam_roles": len(iam.list_roles()["Roles"]),
        "iam_users": len(iam.list_users()["Users"]),
        "iam_policies": len(iam.list_policies(Scope="Local")["Policies"]),
        "zones": len(client("route53").list_hosted_zones()["HostedZones"]),
        "efs": len(client("efs").describe_file_systems()["FileSystems"]),
        "fsx": len(client("fsx").describe_file_systems()["FileSystems"]),
    }


def cfn_lint(paths):
    """cfn-lint's errors (its E rules; W and I are advice) over CloudFormation templates: [(file, rule, message)].
    The templates are eksctl's and kube-aws's, as the local endpoint received them: a validator we did not write
    reads what the tools send to CloudFormation."""
    if not paths:
        return []
    run = subprocess.run(
        [os.path.join(BIN, "cfn-lint"), "--format", "json", "--regions", REGION, "--"] + list(paths),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        matches = json.loads(run.stdout or "[]")
    except ValueError:
        raise AssertionError("cfn-lint gave no JSON (rc {0}): {1}".format(run.returncode, run.stderr[-2000:]))
    return [
        (os.path.basename(m["Filename"]), m["Rule"]["Id"], m["Message"])
        for m in matches
        if m["Rule"]["Id"].startswith("E")
    ]


# Prowler's checks the site runs are scanned with (tests/requirements-prowler.txt pins Prowler 5.46), by what the
# issue asks of the account, and what fills each gap (docs/development.md, "Validators"):
PROWLER_CHECKS = {
    # no ingress from 0.0.0.0/0 or ::/0. Prowler's any-port check passes a group that no network interface uses
    # ("not attached"), even with --scan-unused-services: open_to_the_world (ours) reads every rule of every group.
    "ec2_securitygroup_allow_ingress_from_internet_to_any_port": "world ingress (attached groups)",
    "ec2_securitygroup_allow_ingress_from_internet_to_all_ports": "world ingress",
    "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22": "world ingress",
    "ec2_securitygroup_allow_ingress_from_internet_to_high_risk_tcp_ports": "world ingress",
    # EKS endpoint access as configured: not public to 0.0.0.0/0, private access on
    "eks_cluster_not_publicly_accessible": "EKS endpoint",
    "eks_cluster_private_nodes_enabled": "EKS endpoint",
    # encryption at rest: EFS, S3, EBS. FSx has no Prowler check: fsx_encrypted (ours) fills it
    "efs_encryption_at_rest_enabled": "encryption at rest",
    "s3_bucket_default_encryption": "encryption at rest",
    "ec2_ebs_volume_encryption": "encryption at rest",
    # IMDSv2 required in launch templates (eksctl's node groups) and on instances
    "ec2_launch_template_imdsv2_required": "IMDSv2",
    "ec2_instance_imdsv2_enabled": "IMDSv2",
    "autoscaling_group_launch_configuration_requires_imdsv2": "IMDSv2",
}


def prowler_path():
    """The Prowler `make prowler` installs (TRAINKIT_PROWLER, which the Makefile exports)."""
    path = os.environ.get("TRAINKIT_PROWLER")
    if not path:
        with open(os.path.join(REPO, "tests", "requirements-prowler.txt"), "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()[:12]
        root = os.environ.get("TRAINKIT_CACHE_DIR") or os.path.join(os.path.expanduser("~/.cache"), "trainkit")
        path = os.path.join(root, "prowler-" + digest, "bin", "prowler")
    assert os.access(path, os.X_OK), "Prowler is not installed at {0}: run make prowler".format(path)
    return path


def prowler_scan(url, workdir, checks=None):
    """Prowler's findings over the local endpoint's whole account (us-west-2): [(check, status, resource, detail)].

    Prowler talks to the endpoint through AWS_ENDPOINT_URL (botocore's standard setting); --scan-unused-services
    makes it look at resources nothing uses yet (it skips them otherwise)."""
    out = os.path.join(workdir, "prowler")
    command = [prowler_path(), "aws", "-f", REGION, "--scan-unused-services", "--no-banner"]
    command += ["--checks"] + sorted(checks or PROWLER_CHECKS)
    command += ["--output-formats", "json-ocsf", "--output-directory", out, "--output-filename", "scan"]
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        HOME=workdir,
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        env.pop(name, None)
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, env=env)
    path = os.path.join(out, "scan.ocsf.json")
    # exit 3: the scan ran and some check failed
    assert run.returncode in (0, 3) and os.path.exists(path), "prowler failed (rc {0}): {1}".format(
        run.returncode, (run.stdout + run.stderr)[-3000:]
    )
    with open(path) as handle:
        findings = json.load(handle)
    return [
        (
            f["metadata"]["event_code"],
            f["status_code"],
            (f.get("resources") or [{}])[0].get("uid", ""),
            f.get("status_detail", ""),
        )
        for f in findings
    ]


def cluster_resources(boto, cluster):
    """Ids and names that mark the cluster's resources in a Prowler finding's resource: its VPC's security groups,
    instances and their volumes, its EFS and FSx file systems, bucket, EKS cluster, and eksctl's launch templates
    and Auto Scaling groups (named after the cluster)."""
    ec2 = boto("ec2")
    marks = {cluster}
    for vpc in vpcs_of(ec2, cluster):
        in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        marks.update(g["GroupId"] for g in ec2.describe_security_groups(Filters=in_vpc)["SecurityGroups"])
        for reservation in ec2.describe_instances(Filters=in_vpc)["Reservations"]:
            for instance in reservation["Instances"]:
                marks.add(instance["InstanceId"])
                marks.update(m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if m.get("Ebs"))
    marks.update(
        f["FileSystemId"] for f in boto("efs").describe_file_systems(CreationToken="trainkit-" + cluster)["FileSystems"]
    )
    marks.update(f[0] for f in fsx_encrypted(boto("fsx"), cluster))
    for template in ec2.describe_launch_templates()["LaunchTemplates"]:
        if cluster in template["LaunchTemplateName"]:
            marks.add(template["LaunchTemplateId"])
    return marks


def of_cluster(findings, marks):
    """The findings whose resource is one of the cluster's (see cluster_resources)."""
    return [f for f in findings if any(mark in f[2] for mark in marks)]


def prowler_clean(findings, seen, label, known=None):
    """Assert that no Prowler finding on the cluster's resources fails - but for the checks in ``known`` ({check:
    why}), each failure of which is a documented limit of a tool we drive - and that each check in ``seen`` looked
    at them (a PASS each: a check with nothing to look at proves nothing). The summary, {check: {status: count}}, is
    written to .tmp/validators/<label>.json for the record."""
    failed = [f for f in findings if f[1] == "FAIL" and f[0] not in (known or {})]
    assert failed == [], failed
    summary = {}
    for check, status, _resource, _detail in findings:
        counts = summary.setdefault(check, {})
        counts[status] = counts.get(status, 0) + 1
    summary = dict(sorted(summary.items()))
    os.makedirs(os.path.join(REPO, ".tmp", "validators"), exist_ok=True)
    with open(os.path.join(REPO, ".tmp", "validators", label + ".json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    for check in seen:
        assert summary.get(check, {}).get("PASS"), (check, "saw none of the cluster's resources", summary)
    return summary


def launch_template_volumes(ec2, cluster):
    """Ours, where the local endpoint makes no instances for EKS node groups (so Prowler's EBS volume check has none
    to read): each launch template named after the cluster, with whether every EBS volume it maps is encrypted."""
    found = []
    for template in ec2.describe_launch_templates()["LaunchTemplates"]:
        if cluster not in template["LaunchTemplateName"]:
            continue
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"])
        for version in versions["LaunchTemplateVersions"]:
            mappings = version["LaunchTemplateData"].get("BlockDeviceMappings") or []
            volumes = [m["Ebs"] for m in mappings if m.get("Ebs")]
            encrypted = [str(v.get("Encrypted")).lower() == "true" for v in volumes]
            found.append((template["LaunchTemplateName"], bool(volumes) and all(encrypted)))
    return found


def fsx_encrypted(fsx, cluster, key_arn=None):
    """Ours, where Prowler has no check: the cluster's FSx file systems, each with whether it is encrypted at rest as
    wanted - FSx for Lustre encrypts every file system at rest, scratch ones with keys FSx manages, persistent ones
    with the KMS key given (FSx for Lustre guide, "Encrypting data at rest"): a persistent one must use the cluster's
    key (``key_arn``)."""
    found = []
    for fs in fsx.describe_file_systems()["FileSystems"]:
        if {"Key": "trainkit:cluster", "Value": cluster} in fs.get("Tags", []):
            kind = (fs.get("LustreConfiguration") or {}).get("DeploymentType", "")
            found.append((fs["FileSystemId"], kind.startswith("SCRATCH") or fs.get("KmsKeyId") == key_arn))
    return found


WORLD = ("0.0.0.0/0", "::/0")


def open_to_the_world(ec2):
    """Every security group rule in the account that admits anyone (0.0.0.0/0 or ::/0), as (group id, group name,
    protocol, from port, to port, source) - whoever made it: our modules, eksctl's or kube-aws's stacks."""
    found = []
    for group in ec2.describe_security_groups()["SecurityGroups"]:
        for perm in group["IpPermissions"]:
            sources = [r["CidrIp"] for r in perm.get("IpRanges", [])]
            sources += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
            for source in sources:
                if source in WORLD:
                    found.append(
                        (
                            group["GroupId"],
                            group["GroupName"],
                            perm["IpProtocol"],
                            perm.get("FromPort"),
                            perm.get("ToPort"),
                            source,
                        )
                    )
    return found


def tagged_leftovers(boto, cluster):
    """Everything in the endpoint that still carries the cluster tag or the cluster's names."""
    ec2, s3, kms, iam, route53 = boto("ec2"), boto("s3"), boto("kms"), boto("iam"), boto("route53")
    tag = [{"Name": "tag:trainkit:cluster", "Values": [cluster]}]
    found = []
    found += [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]]
    found += [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]]
    found += [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]]
    found += [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]]
    found += [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=tag)["RouteTables"]]
    found += [a["AllocationId"] for a in ec2.describe_addresses(Filters=tag)["Addresses"]]
    found += [
        g["NatGatewayId"]
        for g in ec2.describe_nat_gateways()["NatGateways"]
        if {"Key": "trainkit:cluster", "Value": cluster} in g.get("Tags", [])
        and g["State"] not in ("deleted", "failed")
    ]
    found += [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == cluster]
    found += [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(cluster + "-")]
    found += [a["AliasName"] for a in kms.list_aliases()["Aliases"] if cluster in a["AliasName"]]
    found += [g["GroupName"] for g in iam.list_groups()["Groups"] if g["GroupName"].startswith(cluster)]
    found += [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(cluster)]
    found += [
        p["InstanceProfileName"]
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"].startswith(cluster)
    ]
    found += [u["UserName"] for u in iam.list_users()["Users"] if u["UserName"].startswith(cluster)]
    found += [z["Name"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"].startswith(cluster + ".")]
    stack_names = (cluster, cluster + "-", "eksctl-" + cluster + "-")  # kube-aws's root and nested stacks, eksctl's
    found += [
        s["StackName"]
        for s in boto("cloudformation").describe_stacks()["Stacks"]
        if s["StackName"].startswith(stack_names)
    ]
    found += [
        g["AutoScalingGroupName"]
        for g in boto("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        if g["AutoScalingGroupName"].startswith(cluster + "-")
    ]
    efs, fsx = boto("efs"), boto("fsx")
    for fs in efs.describe_file_systems(CreationToken="trainkit-" + cluster)["FileSystems"]:
        found.append(fs["FileSystemId"])
        found += [
            t["MountTargetId"] for t in efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
        ]
        found += [
            a["AccessPointId"] for a in efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
        ]
    found += [
        f["FileSystemId"]
        for f in fsx.describe_file_systems()["FileSystems"]
        if {"Key": "trainkit:cluster", "Value": cluster} in f.get("Tags", [])
    ]
    prefix = "/trainkit/{0}/".format(cluster)  # secrets_store ssm / secretsmanager
    found += [
        p["Name"]
        for p in boto("ssm").describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}]
        )["Parameters"]
    ]
    found += [s["Name"] for s in boto("secretsmanager").list_secrets()["SecretList"] if s["Name"].startswith(prefix)]
    return found


def collections_root():
    """A collections root whose ansible_collections/trainkit/aws is this checkout (as `make link` makes it)."""
    root = os.path.join(REPO, ".tmp", "collections")
    link = os.path.join(root, "ansible_collections", "trainkit", "aws")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink("../../../..", link)
        except FileExistsError:  # another xdist worker made it
            pass
    return root


@functools.lru_cache(maxsize=None)
def operators_isolated():
    """Whether the local runner gives each MPI operator a network namespace of its own (tools/local_netns.py)."""
    check = [sys.executable, os.path.join(REPO, "tools", "local_netns.py"), "--check"]
    return subprocess.run(check, capture_output=True, timeout=60, check=False).returncode == 0


@contextlib.contextmanager
def mpi_operator_slot():
    """Room for a local MPI operator. The real binary serves its health check on the fixed port 8080 of every
    interface; the local runner starts each operator in a network namespace of its own, so any number run at once.
    Where this user can make no namespace, the runner runs it on the host: then one at a time on this machine, since
    a second one (another xdist worker's control plane) would exit at start."""
    if operators_isolated():
        yield
        return
    with open(os.path.join(tempfile.gettempdir(), "trainkit-mpi-operator-8080.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        family, address = (socket.AF_INET6, "::") if socket.has_ipv6 else (socket.AF_INET, "0.0.0.0")
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, 8080))  # where the operator listens (Go's ":8080"); nothing is sent anywhere
            except OSError as exc:
                raise AssertionError(
                    "port 8080 is taken ({0}): another local MPI operator runs (make demo leaves one: make down), "
                    "and the one these tests start could not serve its health check".format(exc)
                )
        yield


def concurrently(function, *calls):
    """function(*args) for each args in ``calls``, run at once (independent steps, such as ansible runs that build
    unrelated resources); their results in the order of ``calls``."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(function, *args) for args in calls]]


def load_tool(name, path):
    """One of tools/*.py as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_python():
    """The training environment's python (make train-env-torch): skipped without one, but a failure in CI."""
    python = os.environ.get("TRAINKIT_TRAIN_PYTHON")
    if not python:
        import pytest  # pylint: disable=import-outside-toplevel  # only the tests that train need it

        if os.environ.get("CI"):
            pytest.fail("TRAINKIT_TRAIN_PYTHON is not set: make test builds the training environment")
        pytest.skip("no training environment: run make train-env (or make test)")
    return python


def downloaded(target):
    """``<checkout>/.tmp/<target>``, which ``make <target>`` downloads in make test's install phase (tests reach no
    registry themselves): a failure in CI without it, else a skip."""
    path = os.path.join(REPO, ".tmp", target)
    if not os.path.exists(os.path.join(path, ".downloaded")):
        import pytest  # pylint: disable=import-outside-toplevel  # only the tests that need a download

        if os.environ.get("CI"):
            pytest.fail("no {0}: make test downloads it (make {1})".format(path, target))
        pytest.skip("no {0}: run make {1}".format(path, target))
    return path


def kwok_node(client, name, label, octets=(200, 254), cpu="64", memory="256Gi"):
    """A simulated node (KWOK-managed) with a pod CIDR inside the plane's own loopback network (which no other
    running plane uses), above the range the node-making modules fill from the bottom."""
    network = client.get(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "trainkit-local-network", "namespace": "kube-system"},
        }
    )
    prefix = "127.{0}.".format(network["data"]["pods"].split(".")[1])
    # a /24 no node of this plane has: two nodes with one CIDR would hand out one pod IP twice
    taken = set(n.get("spec", {}).get("podCIDR") for n in client.request("GET", "/api/v1/nodes")[1]["items"])
    free = [o for o in range(octets[0], octets[1] + 1) if "{0}{1}.0/24".format(prefix, o) not in taken]
    cidr = "{0}{1}.0/24".format(prefix, random.choice(free))
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"trainkit.io/test": label, "kubernetes.io/hostname": name},
            },
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "300"},
                "capacity": {"cpu": cpu, "memory": memory, "pods": "300"},
            },
        }
    )
    return name


def shared_claim(client, namespace, name, pv, host_path, reclaim=None):
    """A ReadWriteMany claim ``name`` bound to a PersistentVolume ``pv`` of its own: the local runner maps it to one
    directory that every pod of the namespace shares (``<workdir>/volumes/<namespace>/<name>``)."""
    spec = {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "",
        "hostPath": {"path": host_path},
        "claimRef": {"namespace": namespace, "name": name},
    }
    if reclaim:
        spec["persistentVolumeReclaimPolicy"] = reclaim
    client.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv}, "spec": spec})
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "storageClassName": "",
                "volumeName": pv,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    )


def unique(prefix):
    """A name no other test uses (tests share one endpoint per worker)."""
    return "{0}-{1}".format(prefix, uuid.uuid4().hex[:8])


def run_tool(name, args, timeout):
    """Run tools/<name> the way users do, with this interpreter's environment (moto, cryptography)."""
    return subprocess.run(
        [os.path.join(REPO, "tools", name)] + list(args),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=dict(os.environ, TRAINKIT_PYTHON=sys.executable),
    )


def build_collection(output_dir, env):
    """`ansible-galaxy collection build` of the checkout into output_dir; returns the tarball's path."""
    build = subprocess.run(
        [os.path.join(BIN, "ansible-galaxy"), "collection", "build", REPO, "--output-path", str(output_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(output_dir),
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return pathlib.Path(output_dir) / "trainkit-aws-0.1.0.tar.gz"


def install_collection(tarball, path, env):
    """`ansible-galaxy collection install` of a tarball into path, offline; --force, because the checkout's copy may
    be on ANSIBLE_COLLECTIONS_PATH and would make ansible-galaxy skip the install."""
    install = subprocess.run(
        [os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "--force", str(tarball)]
        + ["-p", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return pathlib.Path(path) / "ansible_collections" / "trainkit" / "aws"


class LocalAWS:
    """tools/local-aws with a state directory of its own."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.url = None
        self.pid = None

    def tool(self, *args):
        return run_tool("local-aws", list(args) + ["--state-dir", self.state_dir], timeout=120)

    def start(self, realism=None, control_plane=None):
        extra = (["--realism", realism] if realism else []) + (
            ["--control-plane", control_plane] if control_plane else []
        )
        result = self.tool("start", *extra)
        assert result.returncode == 0, result.stderr
        self.url = result.stdout.strip().splitlines()[-1]
        with open(os.path.join(self.state_dir, "pid")) as handle:
            self.pid = int(handle.read())
        return result

    def stop(self):
        return self.tool("stop")

    def env(self):
        """What `tools/local-aws env` exports: the endpoint, and its HTTPS proxy and CA for kube-aws."""
        with open(os.path.join(self.state_dir, "proxy")) as handle:
            proxy = handle.read().strip()
        return {
            "AWS_ENDPOINT_URL": self.url,
            "TRAINKIT_LOCAL_AWS_PROXY": proxy,
            "TRAINKIT_LOCAL_AWS_CA_BUNDLE": os.path.join(self.state_dir, "ca.pem"),
        }

    def client(self, service):
        # the tests' own calls retry like the modules do (the throttled lane answers some with throttling errors)
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "adaptive", "max_attempts": 12}),
        )

    def templates(self, prefix=""):
        """Every CloudFormation template a stack was created or updated with here (the endpoint keeps them under
        templates/ in its state directory, <stack>.<n>.json|yaml), of the stacks whose names start with prefix."""
        directory = os.path.join(self.state_dir, "templates")
        if not os.path.isdir(directory):
            return []
        return sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.startswith(prefix))

    def requests(self, since=0):
        """The request log's entries (service, operation, status, latency_ms) from line ``since`` on."""
        path = os.path.join(self.state_dir, "requests.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as handle:
            return [json.loads(line) for number, line in enumerate(handle) if number >= since and line.strip()]

    def mark(self):
        """The request log's length now: pass it to requests()/changes() to see what came after."""
        return len(self.requests())

    def changes(self, since):
        """Operations after ``since`` that could change something (anything but Describe/List/Get/Head...)."""
        return [
            "{0}:{1}".format(r["service"], r["operation"])
            for r in self.requests(since)
            if not r["operation"].startswith(READ_ONLY)
        ]


class Result(dict):
    """A module's result dict, plus what the ansible process printed."""

    output = ""
    rc = 0

    @property
    def changed(self):
        return bool(self.get("changed"))

    @property
    def failed(self):
        return bool(self.get("failed")) or self.get("_status") == "failed"


def training_port_base():
    """The first port of the training jobs this pytest process runs through playbooks.

    On a real cluster every pod has a network namespace of its own, so every job can keep the role's default port
    (7164). The local cluster's pods are processes of this machine's one network namespace, each on a loopback pod
    IP of its own - but PyTorch's TCPStore (the rendezvous of torchrun and of the fabric check) listens on the
    wildcard address, so two jobs of two xdist workers on the same port collide: ``EADDRINUSE`` on port 7164, a
    failure of the rehearsal that no cluster has. Each worker (gw0, gw1, ...) gets a range of its own, 100 ports
    wide (a job takes ``ports.num`` + ``ports.num_sparse`` of it), below the kernel's ephemeral ports, which
    ``pod_process.free_port()`` of the tests that pick their own port draws from."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return 20000 + 100 * (index % 100)


class Ansible:
    """Runs `ansible` ad-hoc module calls and `ansible-playbook` against the local endpoint.

    Every playbook run gets ``training_job_ports`` of this worker's range (training_port_base) unless its extra
    vars name their own."""

    def __init__(self, endpoint_url, work_dir):
        self.endpoint_url = endpoint_url
        self.work_dir = work_dir
        self.log_path = os.path.join(work_dir, "ansible.log")

    def env(self, extra=None):
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("AWS_") or key.startswith("ANSIBLE_"):
                del env[key]
        env.update(
            AWS_ENDPOINT_URL=self.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=collections_root(),
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            ANSIBLE_LOG_PATH=self.log_path,
            ANSIBLE_NOCOLOR="true",
            ANSIBLE_CALLBACK_PLUGINS=os.path.join(REPO, "tests", "harness", "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="result_file",
            ANSIBLE_LOAD_CALLBACK_PLUGINS="true",
            ANSIBLE_FORCE_COLOR="false",
            PATH=os.pathsep.join([BIN, AWSCLI_BIN, os.environ.get("PATH", "")]),
            # inventories/local lists the SSH test bed's nodes only where a test points it at one
            TRAINKIT_LOCAL_NODES_DIR=os.path.join(self.work_dir, "no-local-nodes"),
        )
        env.update(extra or {})
        return env

    def module(self, name, args, check=False, diff=False, env=None, extra_vars=None):
        """Run trainkit.aws.<name> once on localhost; returns its result dict (diff included)."""
        handle, results = tempfile.mkstemp(dir=self.work_dir, prefix="result-", suffix=".jsonl")
        os.close(handle)
        command = [os.path.join(BIN, "ansible"), "localhost", "-m", "trainkit.aws." + name, "-a", json.dumps(args)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        if extra_vars:
            command += ["-e", json.dumps(extra_vars)]
        extra = dict(env or {}, TRAINKIT_TEST_RESULTS=results)
        proc = subprocess.run(
            command, capture_output=True, text=True, env=self.env(extra), cwd=self.work_dir, timeout=600, check=False
        )
        found = read_results(results)
        if not found:
            raise AssertionError(
                "ansible left no result (rc {0}):\n{1}\n{2}".format(proc.returncode, proc.stdout, proc.stderr)
            )
        result = found[-1]
        result.output = proc.stdout + proc.stderr
        result.rc = proc.returncode
        return result

    def modules(self, calls, env=None):
        """Run each (name, args) of ``calls`` as trainkit.aws.<name> on localhost, in order, in one playbook whose
        tasks ignore their errors: what ``module`` does for each call, at the cost of one Ansible start-up instead of
        one per call. Returns the results in the order of ``calls``."""
        handle, results = tempfile.mkstemp(dir=self.work_dir, prefix="results-", suffix=".jsonl")
        os.close(handle)
        tasks = [
            {"name": "call {0}".format(index), "trainkit.aws." + name: args, "ignore_errors": True}
            for index, (name, args) in enumerate(calls)
        ]
        play = os.path.join(self.work_dir, os.path.basename(results) + ".yml")
        with open(play, "w") as handle:
            json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
        proc = subprocess.run(
            [os.path.join(BIN, "ansible-playbook"), play],
            capture_output=True,
            text=True,
            env=self.env(dict(env or {}, TRAINKIT_TEST_RESULTS=results)),
            cwd=self.work_dir,
            timeout=900,
            check=False,
        )
        found = dict((result["_task"], result) for result in read_results(results))
        missing = [index for index in range(len(calls)) if "call {0}".format(index) not in found]
        if missing:
            raise AssertionError(
                "calls {0} left no result (rc {1}):\n{2}\n{3}".format(
                    missing, proc.returncode, proc.stdout, proc.stderr
                )
            )
        return [found["call {0}".format(index)] for index in range(len(calls))]

    def playbook(
        self, *playbooks, inventory="inventories/local", extra_vars=None, check=False, env=None, verbosity=0, tags=None
    ):
        """Run ansible-playbook from the checkout; returns (rc, output, recap dict of localhost)."""
        command = [os.path.join(BIN, "ansible-playbook"), "-i", inventory]
        command += list(playbooks)
        if tags:
            command += ["--tags", ",".join(tags)]
        extra_vars = dict(extra_vars or {})
        extra_vars.setdefault("training_job_ports", {"base": training_port_base()})
        command += ["-e", json.dumps(extra_vars)]
        if check:
            command.append("--check")
        if verbosity:
            command.append("-" + "v" * verbosity)
        proc = subprocess.run(
            command, capture_output=True, text=True, env=self.env(env), cwd=REPO, timeout=900, check=False
        )
        output = proc.stdout + proc.stderr
        return proc.returncode, output, recap(output)


STAGES = ("identity", "network", "cluster", "storage", "nodes", "addons", "train")


def stages_alone(ansible, variables, stages=STAGES, env=None):
    """Each stage playbook in an ansible-playbook run of its own, after site.yml built everything: {stage: (rc,
    changed, the output's tail)}. The README promises that any playbook runs on its own and finds what exists by
    name and tags; run after a complete site.yml, none has anything to change."""
    found = {}
    for stage in stages:
        rc, output, counts = ansible.playbook("playbooks/{0}.yml".format(stage), extra_vars=variables, env=env)
        task, changed_tasks = None, []
        for line in output.splitlines():
            if line.startswith("TASK ["):
                task = line
            elif line.startswith("changed:") and task:
                changed_tasks.append(task)
        found[stage] = (rc, counts.get("changed", 0), changed_tasks or output[-3000:])
    return found


def read_results(path):
    """Every task result the result_file callback wrote, in order."""
    with open(path) as handle:
        return [Result(json.loads(line)) for line in handle if line.strip()]


def recap(output, host="localhost"):
    """{'ok': n, 'changed': n, 'failed': n, ...} summed over every PLAY RECAP line of ``host``."""
    totals = {}
    for line in output.splitlines():
        if line.split(" ", 1)[0] == host and "ok=" in line:
            for field in line.split(":", 1)[1].split():
                key, value = field.split("=")
                totals[key] = totals.get(key, 0) + int(value)
    return totals


def vpcs_of(ec2, cluster):
    return ec2.describe_vpcs(Filters=[{"Name": "tag:trainkit:cluster", "Values": [cluster]}])["Vpcs"]


def ingress(group):
    """A group's ingress rules as (protocol, from, to, source) tuples."""
    rules = set()
    for perm in group["IpPermissions"]:
        ports = (None, None) if perm["IpProtocol"] == "-1" else (perm.get("FromPort"), perm.get("ToPort"))
        for pair in perm.get("UserIdGroupPairs", []):
            rules.add((perm["IpProtocol"],) + ports + (pair["GroupId"],))
        for cidr in perm.get("IpRanges", []):
            rules.add((perm["IpProtocol"],) + ports + (cidr["CidrIp"],))
    return rules


class LocalNodes:
    """tools/local-nodes (real SSH nodes in network namespaces) with a work directory of its own."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.inventory = None
        self.ssh_config = os.path.join(workdir, "ssh_config")

    def tool(self, *args):
        # a cold start debootstraps the nodes' root file system and builds nvidia-ctk first (a few minutes)
        return run_tool("local-nodes", list(args) + ["--workdir", self.workdir], timeout=1800)

    def start(self):
        result = self.tool("start")
        assert result.returncode == 0, result.stderr[-3000:]
        self.inventory = result.stdout.strip().splitlines()[-1]
        return result

    def stop(self):
        return self.tool("stop")

    def state(self):
        with open(os.path.join(self.workdir, "state.json")) as handle:
            return json.load(handle)

    def address(self, node):
        return self.state()["nodes"][node]["address"]

    def ssh(self, node, command, jump=True, timeout=60, stdin=None):
        """Run ``command`` on ``node`` as the nodes' user, through the bastion unless ``jump`` is false (``stdin``:
        text for its standard input)."""
        argv = ["ssh", "-F", self.ssh_config]
        if node == "bastion-1":
            target = "127.0.1.2"
        else:
            target = self.address(node)
            if jump:
                argv += ["-o", "ProxyJump=admin@127.0.1.2"]
        return subprocess.run(
            argv + ["admin@" + target, command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


class LocalK8s:
    """tools/local-k8s with a work directory of its own."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.kubeconfig = None

    def tool(self, *args):
        # a cold start builds the binaries first (minutes), or waits for another worker's build
        return run_tool("local-k8s", list(args) + ["--workdir", self.workdir], timeout=3000)

    def start(self, realism=None):
        result = self.tool("start", *(["--realism", realism] if realism else []))
        assert result.returncode == 0, result.stderr[-3000:]
        self.kubeconfig = result.stdout.strip().splitlines()[-1]
        return result

    def pids(self):
        with open(os.path.join(self.workdir, "state.json")) as handle:
            return dict((name, proc["pid"]) for name, proc in json.load(handle)["processes"].items())

    def stop(self):
        return self.tool("stop")

    def client(self):
        sys.path.insert(0, collections_root())
        from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client

        return Client(self.kubeconfig)
