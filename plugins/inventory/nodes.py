# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: nodes
short_description: The running EC2 instances of a trainkit cluster, grouped by role, GPU and node group
version_added: 0.1.0
description:
  - Finds the cluster's running instances by its tags (C(kubernetes.io/cluster/<name>), which trainkit, eksctl and
    kube-aws all set, or C(trainkit:cluster)) and makes each a host, for the node roles that work over SSH (mounts,
    Lustre client, NVIDIA drivers).
  - Groups - C(masters) and C(workers) (from C(trainkit:role), kube-aws's C(kube-aws:role) and node pool tags, EKS and
    eksctl node group tags, or kube-up's C(Role)), C(etcd), C(gpu) (NVIDIA GPU instance types),
    C(nodegroup_<name>) (C(eks.amazonaws.com/nodegroup), C(alpha.eksctl.io/nodegroup-name),
    C(kube-aws:node-pool:name), C(trainkit:nodegroup)), C(eks_managed) (EKS managed node groups, whose AMI
    brings the NVIDIA driver), and C(bastion).
  - The bastion is the instance tagged C(trainkit:role=bastion), or the host given as O(bastion) (then a tagged instance
    is a host like any other). It is reached at its public address; every other host gets C(ProxyJump) through it in
    C(ansible_ssh_common_args), so private nodes need no public address. The jump uses your SSH agent or
    C(~/.ssh/config) for the bastion's key.
  - C(ansible_user) follows the AMI family (Amazon Linux and RHEL C(ec2-user), Ubuntu C(ubuntu), Debian C(admin),
    Flatcar/Container Linux C(core), Rocky C(rocky)), unless O(user) says otherwise.
  - The inventory file's name must end in C(trainkit_nodes.yml) or C(trainkit_nodes.yaml).
  - Results can be cached (O(cache)), so that a play does not ask EC2 again for every run.
author:
  - trainkit.aws contributors (@trainkit)
extends_documentation_fragment:
  - inventory_cache
options:
  plugin:
    description: The plugin's name.
    type: str
    required: true
    choices: [trainkit.aws.nodes]
  cluster_name:
    description: The cluster whose instances are listed.
    type: str
    required: true
  region:
    description: AWS region. Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION).
    type: str
    env:
      - name: AWS_REGION
      - name: AWS_DEFAULT_REGION
  profile:
    description: A named AWS profile.
    type: str
    env:
      - name: AWS_PROFILE
  access_key:
    description: AWS access key ID.
    type: str
    env:
      - name: AWS_ACCESS_KEY_ID
  secret_key:
    description: AWS secret access key.
    type: str
    env:
      - name: AWS_SECRET_ACCESS_KEY
  session_token:
    description: AWS session token.
    type: str
    env:
      - name: AWS_SESSION_TOKEN
  endpoint_url:
    description: Another EC2 endpoint, such as the local AWS endpoint of the tests.
    type: str
    env:
      - name: AWS_ENDPOINT_URL
  aws_ca_bundle:
    description: CA bundle to verify the endpoint with.
    type: path
    env:
      - name: AWS_CA_BUNDLE
  hostnames:
    description: What names and addresses the hosts (the bastion is always reached at its public address).
    type: str
    choices: [private_ip, public_ip, private_dns]
    default: private_ip
  bastion:
    description:
      - A bastion outside the cluster, as C([user@]host[:port]), used instead of an instance tagged
        C(trainkit:role=bastion). It is added to the group C(bastion).
    type: str
  user:
    description: C(ansible_user) of every host, instead of the one the AMI family implies.
    type: str
  private_key_file:
    description: C(ansible_ssh_private_key_file) of every host (for example the identity step's key).
    type: path
  private_key_store:
    description:
      - Where the identity step keeps the nodes' private key when it is not a file (its C(identity_secrets_store)) -
        V(ssm) or V(secretsmanager).
      - The key is read and decrypted when the inventory is parsed, written to a file only you can read in a private
        temporary directory that is removed when Ansible exits, and that file becomes every host's
        C(ansible_ssh_private_key_file). The key is never cached or printed.
      - Mutually exclusive with O(private_key_file).
    type: str
    choices: [ssm, secretsmanager]
  private_key_secret:
    description:
      - The name of the SSM parameter or Secrets Manager secret with O(private_key_store).
      - Default - C(/trainkit/<cluster_name>/key-pairs/<cluster_name>), the identity step's key pair.
    type: str
"""

EXAMPLES = r"""
# inventories/aws/cluster.trainkit_nodes.yml
plugin: trainkit.aws.nodes
cluster_name: paddle-prod
region: us-west-2
private_key_file: ~/.trainkit/paddle-prod/credentials/paddle-prod.pem
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/trainkit/inventory
cache_timeout: 300

# then: ansible-inventory -i inventories/aws/cluster.trainkit_nodes.yml --graph

---
# In AWX/Tower, with the identity step's identity_secrets_store=ssm: the key comes from SSM Parameter Store
plugin: trainkit.aws.nodes
cluster_name: paddle-prod
region: us-west-2
private_key_store: ssm   # /trainkit/paddle-prod/key-pairs/paddle-prod
"""

import atexit
import os
import re
import shlex
import shutil
import tempfile

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.plugins.inventory import Cacheable

from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import INSTANCE_TYPES

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError

    HAS_BOTO3 = True
except ImportError:  # pragma: no cover - boto3 is a requirement of the collection
    HAS_BOTO3 = False

# NVIDIA GPU families (g4ad is AMD)
NVIDIA_FAMILY = re.compile(r"^(p[2-6][a-z]*|g3s?|g4dn|g5g?|g6e?|gr6)\.")
# AMI name or description -> the user its images log in as
AMI_USERS = (
    (re.compile(r"ubuntu", re.I), "ubuntu"),
    (re.compile(r"debian", re.I), "admin"),
    (re.compile(r"flatcar|coreos|container.linux", re.I), "core"),
    (re.compile(r"rocky", re.I), "rocky"),
    (re.compile(r"centos", re.I), "centos"),
)
DEFAULT_USER = "ec2-user"  # Amazon Linux, the EKS AMIs, RHEL
ROLE_GROUPS = {
    "master": "masters",
    "masters": "masters",
    "controller": "masters",
    "control-plane": "masters",
    "worker": "workers",
    "workers": "workers",
    "node": "workers",
    "minion": "workers",
    "etcd": "etcd",
    "bastion": "bastion",
}


def is_nvidia(instance_type):
    known = INSTANCE_TYPES.get(instance_type)
    if known is not None:
        return known[2] > 0
    return bool(NVIDIA_FAMILY.match(instance_type or ""))


def ami_user(image):
    text = " ".join(filter(None, [(image or {}).get("Name"), (image or {}).get("Description")]))
    for pattern, user in AMI_USERS:
        if pattern.search(text):
            return user
    return DEFAULT_USER


def role_of(tags, cluster):
    """masters, workers, etcd or bastion, from the tags the tools that make nodes set (None when none says)."""
    for key in ("trainkit:role", "kube-aws:role"):
        if tags.get(key, "").lower() in ROLE_GROUPS:
            return ROLE_GROUPS[tags[key].lower()]
    if nodegroup_of(tags):
        return "workers"
    kube_up = tags.get("Role", "").lower()
    for suffix, group in (("-master", "masters"), ("-minion", "workers"), ("-node", "workers")):
        if kube_up == cluster.lower() + suffix or kube_up == suffix[1:]:
            return group
    if "kube-aws-controller" in tags.get("Name", ""):
        return "masters"
    return None


def nodegroup_of(tags):
    for key in ("eks.amazonaws.com/nodegroup", "alpha.eksctl.io/nodegroup-name", "kube-aws:node-pool:name"):
        if tags.get(key):
            return tags[key]
    return tags.get("trainkit:nodegroup")


def group_name(text):
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def parse_bastion(spec):
    """'[user@]host[:port]' -> (user or None, host, port or None)."""
    user, _at, rest = spec.rpartition("@")
    host, _colon, port = rest.partition(":")
    if not host or (port and not port.isdigit()):
        raise AnsibleError("bastion {0!r} must look like [user@]host[:port]".format(spec))
    return user or None, host, int(port) if port else None


# secret name -> the private key file written for it in this process (refresh_inventory parses again)
_KEY_FILES = {}


def private_key_file_of(secret, material):
    """Write a stored private key to a 0600 file in a 0700 temporary directory removed when the process exits."""
    if secret in _KEY_FILES:
        return _KEY_FILES[secret]
    directory = tempfile.mkdtemp(prefix="trainkit-key-")  # mode 0700
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, "id_node")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(material if material.endswith("\n") else material + "\n")
    _KEY_FILES[secret] = path
    return path


def jump_target(user, host, port):
    return "{0}{1}{2}".format(user + "@" if user else "", host, ":{0}".format(port) if port else "")


class InventoryModule(BaseInventoryPlugin, Cacheable):
    NAME = "trainkit.aws.nodes"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("trainkit_nodes.yml", "trainkit_nodes.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        self._read_config_data(path)
        if not HAS_BOTO3:
            raise AnsibleError("the trainkit.aws.nodes inventory needs boto3: pip install boto3")
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        found = None
        if use_cache:
            try:
                found = self._cache[cache_key]
            except KeyError:
                found = None
        if found is None:
            found = self.describe()
            if self.get_option("cache"):
                self._cache[cache_key] = found
        key_file = self.get_option("private_key_file")
        if self.get_option("private_key_store"):
            if key_file:
                raise AnsibleError("trainkit.aws.nodes: set private_key_file or private_key_store, not both")
            key_file = self.stored_private_key()
        self.populate(found, key_file)

    def stored_private_key(self):
        """The identity step's private key from SSM or Secrets Manager, as a private temporary file."""
        cluster = self.get_option("cluster_name")
        store = self.get_option("private_key_store")
        secret = self.get_option("private_key_secret") or "/trainkit/{0}/key-pairs/{0}".format(cluster)
        try:
            if store == "ssm":
                answer = self.client("ssm").get_parameter(Name=secret, WithDecryption=True)
                material = answer["Parameter"]["Value"]
            else:
                material = self.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AnsibleError(
                "trainkit.aws.nodes: reading the private key {0} from {1} failed with {2}: {3}".format(
                    secret, store, error.get("Code"), error.get("Message")
                )
            )
        except BotoCoreError as exc:
            raise AnsibleError("trainkit.aws.nodes: {0}".format(exc))
        return private_key_file_of(secret, material)

    # -- EC2 ------------------------------------------------------------------------------------------------
    def client(self, service="ec2"):
        session = boto3.session.Session(
            profile_name=self.get_option("profile"),
            aws_access_key_id=self.get_option("access_key"),
            aws_secret_access_key=self.get_option("secret_key"),
            aws_session_token=self.get_option("session_token"),
            region_name=self.get_option("region"),
        )
        if not session.region_name:
            raise AnsibleError("trainkit.aws.nodes: no AWS region (set region, AWS_REGION or a profile's region)")
        return session.client(
            service,
            endpoint_url=self.get_option("endpoint_url") or None,
            verify=self.get_option("aws_ca_bundle") or None,
            config=Config(retries={"mode": "adaptive", "max_attempts": 10}),
        )

    def describe(self):
        """{instances: [...], images: {id: {Name, Description}}} - what populate() needs, cacheable as JSON."""
        cluster = self.get_option("cluster_name")
        ec2 = self.client()
        running = {"Name": "instance-state-name", "Values": ["running"]}
        instances = {}
        try:
            for filters in (
                [running, {"Name": "tag-key", "Values": ["kubernetes.io/cluster/" + cluster]}],
                [running, {"Name": "tag:trainkit:cluster", "Values": [cluster]}],
            ):
                pages = ec2.get_paginator("describe_instances").paginate(Filters=filters)
                for reservation in pages.build_full_result().get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        instances[instance["InstanceId"]] = instance
            image_ids = sorted(set(i.get("ImageId") for i in instances.values() if i.get("ImageId")))
            images = {}
            if image_ids:
                for image in ec2.describe_images(ImageIds=image_ids).get("Images", []):
                    images[image["ImageId"]] = {"Name": image.get("Name"), "Description": image.get("Description")}
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise AnsibleError(
                "trainkit.aws.nodes: {0} failed with {1}: {2}".format(
                    exc.operation_name, error.get("Code"), error.get("Message")
                )
            )
        except BotoCoreError as exc:
            raise AnsibleError("trainkit.aws.nodes: {0}".format(exc))
        return {
            "instances": [self.summary(i) for i in sorted(instances.values(), key=lambda i: i["InstanceId"])],
            "images": images,
        }

    @staticmethod
    def summary(instance):
        return {
            "id": instance["InstanceId"],
            "type": instance.get("InstanceType"),
            "image_id": instance.get("ImageId"),
            "private_ip": instance.get("PrivateIpAddress"),
            "public_ip": instance.get("PublicIpAddress"),
            "private_dns": instance.get("PrivateDnsName"),
            "zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
            "vpc_id": instance.get("VpcId"),
            "subnet_id": instance.get("SubnetId"),
            "tags": dict((t["Key"], t["Value"]) for t in instance.get("Tags", [])),
        }

    # -- hosts and groups -------------------------------------------------------------------------------------
    def populate(self, found, key_file=None):
        cluster = self.get_option("cluster_name")
        for group in ("masters", "workers", "etcd", "gpu", "eks_managed", "bastion"):
            self.inventory.add_group(group)
        bastion_user, bastion_host, bastion_port = (None, None, None)
        if self.get_option("bastion"):
            bastion_user, bastion_host, bastion_port = parse_bastion(self.get_option("bastion"))
            self.inventory.add_host(bastion_host, group="bastion")
            self.inventory.set_variable(bastion_host, "ansible_host", bastion_host)
            if bastion_port:
                self.inventory.set_variable(bastion_host, "ansible_port", bastion_port)
            if bastion_user or self.get_option("user"):
                self.inventory.set_variable(bastion_host, "ansible_user", bastion_user or self.get_option("user"))
        hosts = []
        for instance in found["instances"]:
            role = role_of(instance["tags"], cluster)
            user = self.get_option("user") or ami_user(found["images"].get(instance["image_id"]))
            if role == "bastion":
                address = instance["public_ip"] or instance["private_ip"]
                if bastion_host is None:
                    bastion_user, bastion_host = user, address
                    hosts.append((address, address, instance, role, user))
                    continue
            address = instance[self.get_option("hostnames")] or instance["private_ip"]
            hosts.append((address, address, instance, role, user))
        for name, address, instance, role, user in hosts:
            self.inventory.add_host(name)
            variables = {
                "ansible_host": address,
                "ansible_user": user,
                "ec2_instance_id": instance["id"],
                "ec2_instance_type": instance["type"],
                "ec2_private_ip": instance["private_ip"],
                "ec2_public_ip": instance["public_ip"],
                "ec2_private_dns": instance["private_dns"],
                "ec2_availability_zone": instance["zone"],
                "ec2_tags": instance["tags"],
                "trainkit_node_role": role,
                "trainkit_nodegroup": nodegroup_of(instance["tags"]),
            }
            if key_file:
                variables["ansible_ssh_private_key_file"] = key_file
            is_bastion = name == bastion_host
            if bastion_host and not is_bastion:
                jump = jump_target(bastion_user, bastion_host, bastion_port)
                variables["ansible_ssh_common_args"] = "-o ProxyJump={0}".format(shlex.quote(jump))
            for key, value in variables.items():
                self.inventory.set_variable(name, key, value)
            if is_bastion:
                self.inventory.add_child("bastion", name)
                continue
            if role in ("masters", "workers", "etcd"):
                self.inventory.add_child(role, name)
            if is_nvidia(instance["type"]):
                self.inventory.add_child("gpu", name)
            if "eks.amazonaws.com/nodegroup" in instance["tags"]:
                self.inventory.add_child("eks_managed", name)
            nodegroup = nodegroup_of(instance["tags"])
            if nodegroup:
                group = self.inventory.add_group("nodegroup_" + group_name(nodegroup))
                self.inventory.add_child(group, name)
