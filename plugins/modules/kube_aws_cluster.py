#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kube_aws_cluster
short_description: A Kubernetes cluster built by kube-aws (CloudFormation stacks), from the identity and network steps
version_added: 0.1.0
description:
  - B(kube-aws is archived.) Its last release, v0.16.4, deploys Kubernetes 1.16 on Container Linux/Flatcar AMIs, and
    it receives no fixes. Use it for clusters that already run on it; build new ones with
    M(trainkit.aws.eksctl_cluster).
  - Drives the C(kube-aws) binary in O(asset_dir), the directory kube-aws keeps C(cluster.yaml), C(credentials/),
    C(stack-templates/), C(userdata/) and C(kubeconfig) in, the way its guide does it by hand - C(init), C(render
    credentials) (with C(--generate-ca) only while there is no CA yet), C(render stack), C(validate), C(apply).
  - The module owns some keys of C(cluster.yaml) (cluster name, region, S3 URI, KMS key, key pair, AMI, API endpoint,
    subnets and VPC, controller, etcd and node pools, stack tags) and sets them from its options; every other key,
    and edits to C(stack-templates/) and C(userdata/), are kept and deployed. C(cluster.yaml) is rewritten as plain
    YAML, so the comments C(kube-aws init) wrote are not kept.
  - A re-run with nothing changed makes no change - the inputs of the deployment (C(cluster.yaml), the templates,
    plugins and credentials) are fingerprinted and compared with the fingerprint the root stack carries as the tag
    C(trainkit:kube-aws-config) (C(kube-aws diff) cannot tell, since its assets embed KMS ciphertexts that differ
    on every render). A changed input, such as a worker count, re-applies (C(kube-aws apply), a stack update).
  - Works around two kube-aws v0.16.4 defects - the dashboard plugin, on by default, needs a
    C(credentials/dashboard.pem) nothing makes (it is disabled), and C(network.json.tmpl) defines
    C(SecurityGroupControllerIngressFromControllerToController) twice (the first, 443-only rule is removed).
  - Bad input fails before kube-aws runs, with every problem listed - names CloudFormation or kube-aws would reject,
    stack or IAM role names CloudFormation would build past their limits (128 and 64 characters), a missing
    O(ami_id) (without one kube-aws fetches the Flatcar AMI list from the internet), a KMS key or S3 bucket in
    another region, a key pair that does not exist.
  - In check mode, C(init) and the C(render) steps run in a temporary copy of O(asset_dir) and nothing is written,
    uploaded or deployed; the diff is that of C(cluster.yaml). C(kube-aws validate) uploads the templates to S3, so
    it runs in real runs only, before every apply.
  - O(state=absent) runs C(kube-aws destroy) (or deletes the root stack when O(asset_dir) is gone) and, since
    destroy does not wait, waits until the root and nested stacks are gone; then it deletes what kube-aws uploaded
    under C(<s3_uri>/kube-aws/clusters/<cluster_name>/) (O(s3_uri), else the one in C(cluster.yaml)). O(asset_dir)
    is left as it is.
  - kube-aws uses aws-sdk-go v1, which ignores O(endpoint_url). Against an endpoint that is not AWS (the local
    rehearsal), give O(https_proxy) - C(tools/local-aws status) prints the local endpoint's proxy and CA bundle
    (O(aws_ca_bundle)).
author:
  - trainkit.aws contributors (@trainkit)
options:
  cluster_name:
    description:
      - The cluster's name, also the root CloudFormation stack's. Letters, digits and C(-), starting with a letter,
        at most 28 characters (IAM role and load balancer names are built from it).
    type: str
    required: true
    aliases: [name]
  state:
    description: Whether the cluster should exist.
    type: str
    choices: [present, absent]
    default: present
  asset_dir:
    description:
      - Where C(cluster.yaml), C(credentials/) (files 0600), C(stack-templates/), C(userdata/) and C(kubeconfig) live.
        Keep it - it holds the cluster's CA and admin credentials.
    type: path
    required: true
  availability_zone:
    description: The zone kube-aws builds its own subnet in, when O(subnets) is empty.
    type: str
  key_name:
    description: EC2 key pair for SSH to the nodes (the identity step's). Required with O(state=present).
    type: str
  kms_key_arn:
    description: ARN of the KMS key in the region that encrypts the cluster's TLS assets (the identity step's).
    type: str
  s3_uri:
    description: C(s3://bucket/prefix) kube-aws uploads the stack templates and userdata to; the bucket must be in
      the region.
    type: str
  external_dns_name:
    description: The DNS name of the Kubernetes API endpoint (the controllers' load balancer).
    type: str
  hosted_zone_id:
    description: Route53 hosted zone kube-aws creates the O(external_dns_name) record in. Give this or O(no_record_set).
    type: str
  api_access_cidrs:
    description:
      - CIDR blocks the API endpoint's load balancer admits (kube-aws's C(apiAccessAllowedSourceCIDRs)). kube-aws's
        own default is C(0.0.0.0/0); this module never leaves it to that. List C(0.0.0.0/0) to have it on purpose.
      - Empty - only the groups in O(api_security_group_ids) reach it (one of the two is required).
    type: list
    elements: str
    default: []
  ssh_access_cidrs:
    description:
      - CIDR blocks the controllers, etcd and worker nodes admit on TCP 22 (kube-aws's C(sshAccessAllowedSourceCIDRs),
        whose own default is C(0.0.0.0/0)). Empty - no SSH from any CIDR block (a bastion's group can be added with
        O(extra_config)).
    type: list
    elements: str
    default: []
  api_security_group_ids:
    description:
      - Security groups attached to the API endpoint's load balancer (kube-aws's C(securityGroupIds)), whose rules
        admit the API's clients - for example the network's master group, which admits the workers and
        C(network_api_cidrs) on the API port.
    type: list
    elements: str
    default: []
  no_record_set:
    description: Do not manage a DNS record for the API endpoint (point O(external_dns_name) at the load balancer
      yourself).
    type: bool
    default: false
  ami_id:
    description: The Container Linux/Flatcar AMI of every node, in the region. Required with O(state=present).
    type: str
  vpc_id:
    description: An existing VPC (the network step's C(vpc_id)). Without it kube-aws builds a VPC of its own.
    type: str
  subnets:
    description:
      - Existing subnets in O(vpc_id) for the controllers, etcd, the load balancer and the node pools, as ids or as
        dicts with C(id) (or C(subnet_id)) and C(az) - the C(subnets) of the C(trainkit_network) fact fit as they
        are. Zones of bare ids are looked up.
    type: list
    elements: raw
    default: []
  controller_count:
    description: Number of controller instances.
    type: int
    default: 1
  controller_instance_type:
    description: Controller instance type. Default - kube-aws's (C(t2.medium)).
    type: str
  etcd_count:
    description: Number of etcd instances.
    type: int
    default: 1
  worker_count:
    description: Number of workers of the single node pool C(nodepool1), when O(node_pools) is empty.
    type: int
    default: 1
  worker_instance_type:
    description: Instance type of C(nodepool1), when O(node_pools) is empty.
    type: str
    default: t3.medium
  node_pools:
    description: The worker node pools (each a nested stack with an auto scaling group).
    type: list
    elements: dict
    default: []
    aliases: [nodegroups]
    suboptions:
      name:
        description: Node pool name (letters, digits and C(-), starting with a letter).
        type: str
        required: true
      instance_type:
        description: EC2 instance type, for example C(p3.2xlarge) for one NVIDIA V100. Required.
        type: str
      instance_types:
        description:
          - Accepted so that the cluster role's node groups fit every provider, and refused when not empty - trainkit
            renders kube-aws node pools of one instance type (use the eksctl provider for spot and mixed groups).
        type: list
        elements: str
        default: []
      spot:
        description: Accepted for the same reason, and refused when true.
        type: bool
        default: false
      efa:
        description: Accepted for the same reason, and refused when true (kube-aws has no EFA support; use eksctl).
        type: bool
        default: false
      count:
        description: Number of nodes.
        type: int
        default: 1
        aliases: [desired_capacity]
      zones:
        description: Only the subnets of O(subnets) in these zones. Default - all of them.
        type: list
        elements: str
        default: []
      labels:
        description: Kubernetes labels of the nodes.
        type: dict
        default: {}
      taints:
        description: Taints, each C(key), C(value) and C(effect) (C(NoSchedule), C(NoExecute), C(PreferNoSchedule)).
        type: list
        elements: dict
        default: []
      gpus:
        description: Accepted so that the cluster role's node groups fit every provider; not used.
        type: int
      nvidia_driver:
        description: Have kube-aws install this NVIDIA driver version on the nodes at boot (its C(gpu.nvidia)).
        type: str
      managed_policies:
        description:
          - ARNs of managed policies attached to the pool's IAM role besides kube-aws's own (its
            C(iam.role.managedPolicies)), for example AWS's CSI drivers' policies.
        type: list
        elements: str
        default: []
  kubernetes_version:
    description:
      - Kubernetes version, for example C(v1.16.10). kube-aws v0.16 deploys 1.16 only; another minor version fails
        before kube-aws runs. Default - the binary's (v1.16.10 for v0.16.4).
    type: str
  tags:
    description:
      - Stack tags (C(stackTags)) - CloudFormation puts them on the stacks and the resources in them. The cluster's
        tags (C(trainkit:cluster), C(KubernetesCluster); kube-aws adds C(kubernetes.io/cluster/<name>) itself) are
        always among them.
    type: dict
    default: {}
  extra_config:
    description: Merged last into C(cluster.yaml), for kube-aws settings these options do not name.
    type: dict
    default: {}
  kube_aws_path:
    description: The kube-aws binary. Default - C(kube-aws) on PATH.
    type: path
  https_proxy:
    description:
      - Proxy for kube-aws's AWS calls (C(HTTPS_PROXY) and C(HTTP_PROXY) of its environment). Required when
        O(endpoint_url) is set, since kube-aws ignores endpoint settings.
    type: str
  wait_timeout:
    description: Seconds to wait for the stacks to be complete (apply) or gone (absent).
    type: int
    default: 1800
extends_documentation_fragment:
  - trainkit.aws.aws
notes:
  - Check mode supported; diff supported (C(cluster.yaml)).
  - kube-aws's own progress is returned as RV(log).
"""

EXAMPLES = r"""
- name: Cluster | kube-aws cluster from the identity and network steps
  trainkit.aws.kube_aws_cluster:
    cluster_name: paddle-demo
    asset_dir: "{{ playbook_dir }}/.state/kube-aws/paddle-demo"
    key_name: "{{ trainkit_identity.key_pair_name }}"
    kms_key_arn: "{{ trainkit_identity.kms_key_arn }}"
    s3_uri: "s3://{{ trainkit_identity.bucket }}/kube-aws"
    external_dns_name: paddle-demo.k8s.example.internal
    hosted_zone_id: "{{ trainkit_network.private_zone_id }}"
    ami_id: ami-0123456789abcdef0   # a Flatcar AMI of the region
    vpc_id: "{{ trainkit_network.vpc_id }}"
    subnets: "{{ trainkit_network.subnets }}"
    node_pools:
      - {name: cpu, instance_type: m5.xlarge, count: 2}
      - {name: gpu, instance_type: p3.2xlarge, count: 2, taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]}
  register: cluster

- name: Cluster | Scale the GPU pool (cluster.yaml is edited and the stacks updated)
  trainkit.aws.kube_aws_cluster:
    cluster_name: paddle-demo
    asset_dir: "{{ playbook_dir }}/.state/kube-aws/paddle-demo"
    # ... as above, with count: 4 for gpu

- name: Cluster | Destroy it and wait until the stacks are gone
  trainkit.aws.kube_aws_cluster:
    cluster_name: paddle-demo
    asset_dir: "{{ playbook_dir }}/.state/kube-aws/paddle-demo"
    state: absent
"""

RETURN = r"""
kubeconfig:
  description: The kubeconfig kube-aws rendered (admin client certificate; paths relative to O(asset_dir)).
  returned: when state=present
  type: str
  sample: /home/me/trainkit/.state/kube-aws/paddle-demo/kubeconfig
stack_name:
  description: The root CloudFormation stack.
  returned: always
  type: str
  sample: paddle-demo
controller_endpoint:
  description: The Kubernetes API endpoint, C(https://) and O(external_dns_name).
  returned: when state=present
  type: str
  sample: https://paddle-demo.k8s.example.internal
asset_dir:
  description: The asset directory.
  returned: always
  type: str
stacks:
  description: The root stack and its nested stacks, as CloudFormation reports them after the run.
  returned: when state=present
  type: list
  elements: dict
  contains:
    name:
      description: Stack name.
      type: str
    logical_id:
      description: The nested stack's logical id in the root stack (C(null) for the root).
      type: str
    status:
      description: Stack status, such as C(CREATE_COMPLETE).
      type: str
config_fingerprint:
  description: The fingerprint of the deployment's inputs (the root stack's C(trainkit:kube-aws-config) tag).
  returned: when state=present
  type: str
cluster_yaml:
  description: C(cluster.yaml) as the module wrote it (or, in check mode, would).
  returned: when state=present
  type: str
commands:
  description: The kube-aws commands that change something, in order (in check mode, those a real run would run).
  returned: always
  type: list
  elements: str
  sample: [init, render credentials --generate-ca, render stack, validate, apply --force]
log:
  description: The last lines of kube-aws's output.
  returned: always
  type: list
  elements: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.trainkit.aws.plugins.module_utils import _kube_aws as assets
from ansible_collections.trainkit.aws.plugins.module_utils._kube_aws import BINARY_VERSION
from ansible_collections.trainkit.aws.plugins.module_utils._kube_aws import S3_URI
from ansible_collections.trainkit.aws.plugins.module_utils._kube_aws import VERSION
from ansible_collections.trainkit.aws.plugins.module_utils._kube_aws import KubeAws
from ansible_collections.trainkit.aws.plugins.module_utils._kube_aws import prepare
from ansible_collections.trainkit.aws.plugins.module_utils._kube_aws import problems_of
from ansible_collections.trainkit.aws.plugins.module_utils._cfn import describe_stacks
from ansible_collections.trainkit.aws.plugins.module_utils._cfn import nested_stacks
from ansible_collections.trainkit.aws.plugins.module_utils._cfn import find_stack
from ansible_collections.trainkit.aws.plugins.module_utils._cfn import wait_complete
from ansible_collections.trainkit.aws.plugins.module_utils._cfn import wait_gone
from ansible_collections.trainkit.aws.plugins.module_utils.cli import read
from ansible_collections.trainkit.aws.plugins.module_utils.aws import AWSModule
from ansible_collections.trainkit.aws.plugins.module_utils.aws import BotoCoreError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import is_not_found
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None


# -- validation -----------------------------------------------------------------------------------------------
def binary_problems(kube_aws, p):
    """What the binary in use says against the options (its version decides the Kubernetes version)."""
    version = kube_aws.version()
    if version is None:
        return ["{0} does not run (kube-aws version failed)".format(kube_aws.path)]
    found = BINARY_VERSION.search(version)
    wanted = VERSION.match(str(p["kubernetes_version"] or ""))
    if found and wanted and found.group(1) == "0" and wanted.group(2) != found.group(2):
        return [
            "kube-aws {0} deploys Kubernetes 1.{1}; kubernetes_version {2} is not one it supports".format(
                found.group(0), found.group(2), p["kubernetes_version"]
            )
        ]
    return []


def aws_problems(module, p, region):
    """Read-only checks, before kube-aws runs: bucket region, KMS key, key pair, subnet zones."""
    problems = []
    bucket = S3_URI.match(p["s3_uri"]).group(1)
    try:
        location = module.client("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint")
        location = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        if location != region:
            problems.append(
                "the bucket {0} of s3_uri is in {1}, not in the cluster's region {2}".format(bucket, location, region)
            )
    except ClientError as exc:
        if not is_not_found(exc, "NoSuchBucket", "404"):
            raise
        problems.append("the bucket {0} of s3_uri does not exist (the identity step makes it)".format(bucket))
    try:
        key = module.client("kms").describe_key(KeyId=p["kms_key_arn"])["KeyMetadata"]
        if key.get("KeyState") not in ("Enabled", None):
            problems.append("the KMS key {0} is {1}".format(p["kms_key_arn"], key.get("KeyState")))
    except ClientError as exc:
        if not is_not_found(exc, "NotFoundException"):
            raise
        problems.append("the KMS key {0} does not exist".format(p["kms_key_arn"]))
    try:
        module.client("ec2").describe_key_pairs(KeyNames=[p["key_name"]])
    except ClientError as exc:
        if not is_not_found(exc, "InvalidKeyPair.NotFound"):
            raise
        problems.append("the key pair {0} does not exist in {1}".format(p["key_name"], region))
    return problems


def vpc_cidr(module, vpc_id):
    """The existing VPC's CIDR block (kube-aws's vpcCIDR must equal it; its templates admit the VPC by it)."""
    if not vpc_id:
        return None
    return module.client("ec2").describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]


def resolve_subnets(module, entries):
    """[{id, az}] from ids or dicts; zones of bare ids come from EC2."""
    subnets = []
    for entry in entries:
        spec = {"id": entry} if isinstance(entry, str) else dict(entry)
        subnets.append(
            {
                "id": spec.get("id") or spec.get("subnet_id"),
                "az": spec.get("az") or spec.get("availability_zone") or spec.get("zone"),
            }
        )
    unknown = [s["id"] for s in subnets if not s["az"]]
    if unknown:
        found = paginate(module.client("ec2"), "describe_subnets", "Subnets", SubnetIds=unknown)
        zones = dict((s["SubnetId"], s["AvailabilityZone"]) for s in found)
        for subnet in subnets:
            subnet["az"] = subnet["az"] or zones.get(subnet["id"])
    return subnets


# -- kube-aws -------------------------------------------------------------------------------------------------
# -- the asset directory --------------------------------------------------------------------------------------
# -- states ---------------------------------------------------------------------------------------------------
def ensure_present(module, kube_aws, region):
    p = module.params
    cfn = module.client("cloudformation")
    subnets = resolve_subnets(module, p["subnets"])
    missing = [s["id"] for s in subnets if not s["az"]]
    problems = aws_problems(module, p, region)
    p = dict(p, vpc_cidr=vpc_cidr(module, p["vpc_id"]))
    if missing:
        problems.append("subnets {0} do not exist".format(", ".join(missing)))
    module.fail_on_problems(problems)
    asset_dir = p["asset_dir"]
    work = asset_dir
    scratch = None
    if module.check_mode:
        scratch = tempfile.mkdtemp(prefix="trainkit-kube-aws-")
        work = os.path.join(scratch, "assets")
        if os.path.isdir(asset_dir):
            shutil.copytree(asset_dir, work, symlinks=True)
        else:
            os.makedirs(work)
    else:
        os.makedirs(asset_dir, mode=0o700, exist_ok=True)
    try:
        before, config, fingerprint = prepare(kube_aws, work, p, region, subnets)
        after = read(os.path.join(work, "cluster.yaml"))
        root = find_stack(cfn, p["cluster_name"])
        deployed = dict((t["Key"], t["Value"]) for t in (root or {}).get("Tags", [])).get(assets.FINGERPRINT_TAG)
        pending = root is not None and root["StackStatus"].endswith("_IN_PROGRESS")
        changed = before != after
        if root is None or deployed != fingerprint:
            changed = True
            kube_aws.change("validate", cwd=work)
            kube_aws.change("apply", "--force", cwd=work)
            pending = not module.check_mode
        if pending and not module.check_mode:
            root = wait_complete(cfn, p["cluster_name"], p["wait_timeout"])
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "kubeconfig": os.path.join(asset_dir, "kubeconfig"),
        "controller_endpoint": "https://" + p["external_dns_name"],
        "config_fingerprint": fingerprint,
        "cluster_yaml": after,
        "stacks": describe_stacks(cfn, root) if root is not None else [],
    }
    return changed, before or "", after, result


def uploaded_assets(module):
    """(bucket, keys) kube-aws uploaded for this cluster: <s3_uri>/kube-aws/clusters/<name>/ (s3_uri, else the one
    in cluster.yaml)."""
    p = module.params
    uri = p["s3_uri"]
    if not uri:
        text = read(os.path.join(p["asset_dir"], "cluster.yaml"))
        uri = ((yaml.safe_load(text) if text else None) or {}).get("s3URI")
    match = S3_URI.match(uri or "")
    if not match:
        return None, []
    prefix = "/".join(x for x in [(match.group(2) or "").strip("/"), "kube-aws", "clusters", p["cluster_name"]] if x)
    try:
        found = paginate(module.client("s3"), "list_objects_v2", "Contents", Bucket=match.group(1), Prefix=prefix + "/")
    except ClientError as exc:
        if is_not_found(exc, "NoSuchBucket", "404"):
            return None, []
        raise
    return match.group(1), [o["Key"] for o in found]


def remove_assets(module):
    """Delete what kube-aws uploaded (destroy leaves it in the bucket); True when there was something."""
    bucket, keys = uploaded_assets(module)
    if keys and not module.check_mode:
        s3 = module.client("s3")
        for start in range(0, len(keys), 1000):
            s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True}
            )
    return bool(keys)


def ensure_absent(module, kube_aws, region):
    p = module.params
    cfn = module.client("cloudformation")
    root = find_stack(cfn, p["cluster_name"])
    if root is None:
        removed = remove_assets(module)
        return removed, "uploaded assets" if removed else None, "" if removed else None, {}
    stack_ids = [root["StackId"]] + [stack_id for _l, stack_id in nested_stacks(cfn, root)]
    if root["StackStatus"] != "DELETE_IN_PROGRESS":
        if module.check_mode:
            kube_aws.change("destroy", "--force")
            return True, root["StackName"], "", {}
        if os.path.isfile(os.path.join(p["asset_dir"], "cluster.yaml")):
            kube_aws.run("destroy", "--force", cwd=p["asset_dir"])
        else:
            module.warn(
                "{0} holds no cluster.yaml: the root stack {1} is deleted directly (what kube-aws destroy does)".format(
                    p["asset_dir"], root["StackName"]
                )
            )
            cfn.delete_stack(StackName=root["StackId"])
    if not module.check_mode:
        # kube-aws destroy only asks CloudFormation to delete the root stack
        wait_gone(cfn, stack_ids, p["wait_timeout"], p["cluster_name"])
    remove_assets(module)
    return True, root["StackName"], "", {}


def main():
    pool = dict(
        name=dict(type="str", required=True),
        instance_type=dict(type="str"),
        instance_types=dict(type="list", elements="str", default=[]),
        spot=dict(type="bool", default=False),
        efa=dict(type="bool", default=False),
        count=dict(type="int", default=1, aliases=["desired_capacity"]),
        zones=dict(type="list", elements="str", default=[]),
        labels=dict(type="dict", default={}),
        taints=dict(type="list", elements="dict", default=[]),
        gpus=dict(type="int"),
        nvidia_driver=dict(type="str"),
        managed_policies=dict(type="list", elements="str", default=[]),
    )
    module = AWSModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True, aliases=["name"]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            asset_dir=dict(type="path", required=True),
            availability_zone=dict(type="str"),
            key_name=dict(type="str", no_log=False),
            kms_key_arn=dict(type="str", no_log=False),
            s3_uri=dict(type="str"),
            external_dns_name=dict(type="str"),
            hosted_zone_id=dict(type="str"),
            api_access_cidrs=dict(type="list", elements="str", default=[]),
            ssh_access_cidrs=dict(type="list", elements="str", default=[]),
            api_security_group_ids=dict(type="list", elements="str", default=[]),
            no_record_set=dict(type="bool", default=False),
            ami_id=dict(type="str"),
            vpc_id=dict(type="str"),
            subnets=dict(type="list", elements="raw", default=[]),
            controller_count=dict(type="int", default=1),
            controller_instance_type=dict(type="str"),
            etcd_count=dict(type="int", default=1),
            worker_count=dict(type="int", default=1),
            worker_instance_type=dict(type="str", default="t3.medium"),
            node_pools=dict(type="list", elements="dict", default=[], options=pool, aliases=["nodegroups"]),
            kubernetes_version=dict(type="str"),
            tags=dict(type="dict", default={}),
            extra_config=dict(type="dict", default={}),
            kube_aws_path=dict(type="path"),
            https_proxy=dict(type="str"),
            wait_timeout=dict(type="int", default=1800),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not p["node_pools"]:
        p["node_pools"] = [
            dict(
                name="nodepool1",
                instance_type=p["worker_instance_type"],
                instance_types=[],
                spot=False,
                count=p["worker_count"],
                zones=[],
                labels={},
                taints=[],
                gpus=None,
                nvidia_driver=None,
            )
        ]
    region = module.region
    problems = problems_of(dict(p, region_name=region))
    path = p["kube_aws_path"] or shutil.which("kube-aws")
    if not path or not os.access(path, os.X_OK):
        problems.append(
            "no kube-aws binary: install kube-aws v0.16.4 (or build it with tools/kube-aws-build) and set "
            "kube_aws_path"
        )
    module.fail_on_problems(problems)
    kube_aws = KubeAws(module, path, region)
    module.fail_on_problems(binary_problems(kube_aws, p))
    ensure = ensure_present if p["state"] == "present" else ensure_absent
    try:
        changed, before, after, result = ensure(module, kube_aws, region)
    except (ClientError, BotoCoreError, TrainkitError) as exc:
        module.fail_aws(
            exc,
            msg="Failed to make the kube-aws cluster {0} {1}.".format(p["cluster_name"], p["state"]),
            commands=kube_aws.commands,
            log=kube_aws.log[-40:],
        )
    result.update(
        stack_name=p["cluster_name"], asset_dir=p["asset_dir"], commands=kube_aws.commands, log=kube_aws.log[-60:]
    )
    if module._diff:
        result["diff"] = {"before": to_text(before or ""), "after": to_text(after or "")}
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
