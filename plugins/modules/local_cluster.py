#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: local_cluster
short_description: Simulated node groups (KWOK nodes) on the local Kubernetes cluster
version_added: 0.1.0
description:
  - Turns node groups - the same list the eksctl provider will use - into Node objects that KWOK manages on the
    local cluster started by C(tools/local-k8s), so the scheduler places pods on them as it would on EC2 nodes.
  - Each node gets the capacity of its instance type (cpu, memory, pods; its GPUs as C(nvidia.com/gpu) - see
    O(device_plugin) - and in the annotation C(trainkit.io/gpus)), the labels
    C(node.kubernetes.io/instance-type), C(topology.kubernetes.io/zone), C(topology.kubernetes.io/region),
    C(eks.amazonaws.com/nodegroup), C(eks.amazonaws.com/capacityType), C(kubernetes.io/hostname),
    C(trainkit.io/cluster), the group's own labels and
    taints, and a pod CIDR of its own inside the cluster's loopback pod network (the one C(tools/local-k8s)
    publishes in the ConfigMap C(kube-system/trainkit-local-network), 127.10.0.0/16 for a cluster started alone), so
    that every pod IP is a loopback address no other local cluster uses.
  - Nodes are named C(<cluster>-<group>-<index>). A larger O(nodegroups[].count) adds nodes, a smaller one removes the last
    ones, and nodes of groups no longer listed are removed. O(state=absent) removes every node of the cluster.
author:
  - trainkit.aws contributors (@trainkit)
options:
  cluster_name:
    description: The cluster; its nodes carry the label C(trainkit.io/cluster=<cluster_name>).
    type: str
    required: true
  state:
    description: Whether the node groups should exist.
    type: str
    choices: [present, absent]
    default: present
  nodegroups:
    description: The node groups.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Group name (a DNS label).
        type: str
        required: true
      instance_type:
        description:
          - EC2 instance type, one the collection knows (for example V(m5.large), V(p3.2xlarge), V(g5.xlarge)). One
            of O(nodegroups[].instance_type) and O(nodegroups[].instance_types) is required.
        type: str
      instance_types:
        description:
          - Several instance types, as a spot group takes them (eksctl's C(instanceTypes)); the nodes take them in
            turn. They must have one GPU count and one architecture.
        type: list
        elements: str
        default: []
      spot:
        description:
          - Spot capacity - the nodes carry C(eks.amazonaws.com/capacityType=SPOT) as EKS's managed spot nodes do
            (V(ON_DEMAND) otherwise), so that placement rules can be tried here.
        type: bool
        default: false
      count:
        description: How many nodes.
        type: int
        default: 1
      gpus:
        description: NVIDIA GPUs per node, instead of the instance type's.
        type: int
      zones:
        description: Availability zones to spread the nodes over (round robin). Default - C(<region>a), C(<region>b), C(<region>c).
        type: list
        elements: str
      labels:
        description: Extra node labels.
        type: dict
        default: {}
      taints:
        description: Node taints.
        type: list
        elements: dict
        default: []
      efa:
        description:
          - An EFA group, as eksctl's C(efaEnabled) makes one - its nodes carry C(vpc.amazonaws.com/efa.present=true)
            and their instance type's EFA interfaces in the annotation C(trainkit.io/efa); they advertise
            C(vpc.amazonaws.com/efa) once the EFA device plugin's pod runs on them (role C(trainkit.aws.addons); the
            local runner registers them). Every instance type must have EFA and O(nodegroups[].zones) must name one
            zone, as for eksctl.
        type: bool
        default: false
  device_plugin:
    description:
      - V(true) - GPU nodes advertise C(nvidia.com/gpu) only once a device plugin registers their GPUs, as EC2 nodes
        do; the local runner (C(tools/local_runner.py)), playing the kubelet, sets the node's capacity and
        allocatable when the NVIDIA device plugin's pod runs on it (role C(trainkit.aws.addons)) and allocatable
        back to 0 when it stops. This module then leaves C(nvidia.com/gpu) to it.
      - V(false) - the nodes advertise their GPUs from the start, as if the plugin always ran.
    type: bool
    default: true
  region:
    description: The region the zones belong to (label C(topology.kubernetes.io/region)).
    type: str
    default: us-west-2
extends_documentation_fragment:
  - trainkit.aws.k8s
attributes:
  check_mode:
    description: Reports which nodes would be added, changed or removed, and changes nothing.
    support: full
  diff_mode:
    description: Returns the node names before and after.
    support: full
"""

EXAMPLES = r"""
- name: Cluster | Simulated node groups
  trainkit.aws.local_cluster:
    cluster_name: paddle-demo
    kubeconfig: "{{ kubeconfig }}"
    nodegroups:
      - {name: cpu, instance_type: m5.xlarge, count: 2}
      - name: gpu
        instance_type: p3.2xlarge
        count: 2
        taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
"""

RETURN = r"""
nodes:
  description: The cluster's simulated nodes.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    nodegroup:
      description: Node group.
      type: str
    instance_type:
      description: Instance type.
      type: str
    capacity_type:
      description: C(SPOT) or C(ON_DEMAND) (the label C(eks.amazonaws.com/capacityType)).
      type: str
    zone:
      description: Availability zone label.
      type: str
    gpus:
      description: NVIDIA GPUs the node has (its annotation C(trainkit.io/gpus)).
      type: int
    gpus_allocatable:
      description: NVIDIA GPUs the node advertises as allocatable now (0 until a device plugin registers them, with O(device_plugin=true)).
      type: int
    efa:
      description: EFA interfaces the node has (its annotation C(trainkit.io/efa); 0 outside EFA groups).
      type: int
    efa_allocatable:
      description: EFA interfaces the node advertises as allocatable now (C(vpc.amazonaws.com/efa); 0 until the EFA device plugin registers them).
      type: int
    pod_cidr:
      description: The node's pod CIDR (loopback).
      type: str
"""

import re


from ansible_collections.trainkit.aws.plugins.module_utils import validate
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import EFA_RESOURCE
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import INSTANCE_TYPES
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import efa_of
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import efa_problems
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import mix_problems
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import node_object as instance_node
from ansible_collections.trainkit.aws.plugins.module_utils.k8s import K8sError
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_module import K8sModule

CLUSTER_LABEL = "trainkit.io/cluster"
GROUP_LABEL = "eks.amazonaws.com/nodegroup"
CAPACITY_LABEL = "eks.amazonaws.com/capacityType"  # what EKS puts on managed nodes: ON_DEMAND or SPOT
# where tools/local-k8s publishes the plane's loopback networks for pods and node addresses
NETWORK_CONFIGMAP = {"namespace": "kube-system", "name": "trainkit-local-network"}
GPU_RESOURCE = "nvidia.com/gpu"
GPUS_ANNOTATION = "trainkit.io/gpus"
EFA_ANNOTATION = "trainkit.io/efa"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def wanted_nodes(params):
    """Node name -> (group, index, zone) for every node the groups describe."""
    nodes = {}
    for group in params["nodegroups"]:
        zones = group["zones"] or [params["region"] + suffix for suffix in "abc"]
        for index in range(group["count"]):
            name = "{0}-{1}-{2}".format(params["cluster_name"].lower(), group["name"], index)
            nodes[name] = (group, index, zones[index % len(zones)])
    return nodes


def types_of(group):
    return list(group["instance_types"]) or [group["instance_type"]]


def node_object(params, name, group, zone, pod_cidr, address, index=0):
    types = types_of(group)
    return instance_node(
        params["cluster_name"],
        params["region"],
        group["name"],
        types[index % len(types)],
        name,
        zone,
        pod_cidr,
        address,
        labels=group["labels"],
        taints=group["taints"],
        gpus=group["gpus"],
        extra_labels={CLUSTER_LABEL: params["cluster_name"], CAPACITY_LABEL: "SPOT" if group["spot"] else "ON_DEMAND"},
        device_plugin=params["device_plugin"],
        efa=group["efa"],
    )


def managed_capacity(node, device_plugin):
    """The node's capacity this module manages: all of it, or, with a device plugin, all but nvidia.com/gpu."""
    capacity = dict(node.get("status", {}).get("capacity", {}))
    if device_plugin:
        capacity.pop(GPU_RESOURCE, None)
    capacity.pop(EFA_RESOURCE, None)  # always the EFA device plugin's
    return capacity


def projection(node, device_plugin):
    """What this module manages of a node: labels, the kwok and GPU annotations, spec and capacity."""
    if node is None:
        return None
    spec = node.get("spec", {})
    annotations = node["metadata"].get("annotations", {})
    return {
        # the API server adds the deprecated beta.kubernetes.io/{os,arch} labels itself
        "labels": dict(
            (k, v) for k, v in node["metadata"].get("labels", {}).items() if not k.startswith("beta.kubernetes.io/")
        ),
        "kwok": annotations.get("kwok.x-k8s.io/node"),
        "gpus": annotations.get(GPUS_ANNOTATION),
        "efa": annotations.get(EFA_ANNOTATION),
        "pod_cidr": spec.get("podCIDR"),
        "taints": sorted(
            (t.get("key"), t.get("value"), t.get("effect"))
            for t in spec.get("taints", []) or []
            if not t.get("key", "").startswith("node.kubernetes.io/")  # set by the node lifecycle controller
        ),
        "capacity": managed_capacity(node, device_plugin),
    }


def existing_nodes(client, cluster):
    _status, listing = client.request("GET", "/api/v1/nodes", query={"labelSelector": CLUSTER_LABEL + "=" + cluster})
    return dict((n["metadata"]["name"], n) for n in listing.get("items", []))


def summary(node):
    labels = node["metadata"]["labels"]
    return {
        "name": node["metadata"]["name"],
        "nodegroup": labels.get(GROUP_LABEL),
        "instance_type": labels.get("node.kubernetes.io/instance-type"),
        "capacity_type": labels.get(CAPACITY_LABEL),
        "zone": labels.get("topology.kubernetes.io/zone"),
        "gpus": int(node["metadata"].get("annotations", {}).get(GPUS_ANNOTATION) or 0),
        "gpus_allocatable": int(node.get("status", {}).get("allocatable", {}).get(GPU_RESOURCE, 0)),
        "efa": int(node["metadata"].get("annotations", {}).get(EFA_ANNOTATION) or 0),
        "efa_allocatable": int(node.get("status", {}).get("allocatable", {}).get(EFA_RESOURCE, 0)),
        "pod_cidr": node.get("spec", {}).get("podCIDR"),
    }


def pod_network(client):
    """The second octets of the cluster's pod network and of its nodes' addresses: (10, 11) for 127.10.0.0/16 and
    127.11.0.0/16, unless the plane published others (tools/local-k8s picks one per running plane)."""
    published = client.get({"apiVersion": "v1", "kind": "ConfigMap", "metadata": NETWORK_CONFIGMAP})
    data = (published or {}).get("data") or {}
    try:
        return int(data["pods"].split(".")[1]), int(data["nodes"].split(".")[1])
    except (KeyError, IndexError, ValueError):
        return 10, 11


def free_subnets(client, network, taken_by_us):
    """Third octets of 127.<network>.N.0/24 not used by any node of any cluster."""
    _status, listing = client.request("GET", "/api/v1/nodes")
    used = set()
    prefix = "127.{0}.".format(network)
    for node in listing.get("items", []):
        cidr = node.get("spec", {}).get("podCIDR") or ""
        if cidr.startswith(prefix):
            used.add(int(cidr.split(".")[2]))
    used.update(taken_by_us)
    return [n for n in range(1, 255) if n not in used]


def ensure(module, client):
    p = module.params
    current = existing_nodes(client, p["cluster_name"])
    wanted = wanted_nodes(p) if p["state"] == "present" else {}
    changed = False
    to_remove = sorted(set(current) - set(wanted))
    kept_octets = set(
        int(n["spec"]["podCIDR"].split(".")[2]) for n in current.values() if n.get("spec", {}).get("podCIDR")
    )
    pods, addresses = pod_network(client)
    free = free_subnets(client, pods, kept_octets)
    for name in sorted(wanted):
        group, index, zone = wanted[name]
        node = current.get(name)
        if node is not None and node.get("spec", {}).get("podCIDR"):
            pod_cidr = node["spec"]["podCIDR"]
        else:
            if not free:
                raise K8sError("No free pod CIDR left in 127.{0}.0.0/16 (254 nodes at most).".format(pods))
            pod_cidr = "127.{0}.{1}.0/24".format(pods, free.pop(0))
        octet = int(pod_cidr.split(".")[2])
        desired = node_object(p, name, group, zone, pod_cidr, "127.{0}.{1}.1".format(addresses, octet), index)
        if projection(node, p["device_plugin"]) == projection(desired, p["device_plugin"]):
            continue
        changed = True
        if module.check_mode:
            continue
        if node is None:
            client.apply(desired, force=True)  # a Node created by apply keeps the status it is given
            continue
        client.apply({k: v for k, v in desired.items() if k != "status"}, force=True)
        if managed_capacity(node, p["device_plugin"]) != managed_capacity(desired, p["device_plugin"]):
            status = dict((key, dict(desired["status"][key])) for key in ("capacity", "allocatable"))
            if not p["device_plugin"]:
                # a merge patch keeps keys it does not name: a GPU count that went away is removed by name
                for key in status:
                    status[key].setdefault(GPU_RESOURCE, None)
            client.request(
                "PATCH",
                "/api/v1/nodes/{0}/status".format(name),
                body={"status": status},
                content_type="application/merge-patch+json",
            )
    for name in to_remove:
        changed = True
        if not module.check_mode:
            client.delete({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}, propagation="Background")
    after = existing_nodes(client, p["cluster_name"]) if not module.check_mode else None
    nodes = [summary(n) for _name, n in sorted((after if after is not None else current).items())]
    return changed, sorted(current), sorted(after) if after is not None else sorted(wanted), nodes


def main():
    module = K8sModule(
        argument_spec=dict(
            cluster_name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            nodegroups=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    instance_type=dict(type="str"),
                    instance_types=dict(type="list", elements="str", default=[]),
                    spot=dict(type="bool", default=False),
                    count=dict(type="int", default=1),
                    gpus=dict(type="int"),
                    zones=dict(type="list", elements="str"),
                    labels=dict(type="dict", default={}),
                    taints=dict(type="list", elements="dict", default=[]),
                    efa=dict(type="bool", default=False),
                ),
            ),
            region=dict(type="str", default="us-west-2"),
            device_plugin=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problems = validate.cluster_name(p["cluster_name"]) + validate.region(p["region"])
    names = [g["name"] for g in p["nodegroups"]]
    if len(set(names)) != len(names):
        problems.append("nodegroups names must be unique")
    for i, group in enumerate(p["nodegroups"]):
        label = "nodegroups[{0}]".format(i)
        if not DNS_LABEL.match(group["name"]):
            problems.append(
                "{0}.name {1!r} must be a DNS label (lowercase letters, digits, '-')".format(label, group["name"])
            )
        if bool(group["instance_type"]) == bool(group["instance_types"]):
            problems.append("{0}: give instance_type or instance_types, one of them".format(label))
            continue
        for instance_type in types_of(group):
            if instance_type not in INSTANCE_TYPES:
                problems.append(
                    "{0}: instance type {1!r} is not known; use one of: {2}".format(
                        label, instance_type, ", ".join(sorted(INSTANCE_TYPES))
                    )
                )
        if all(t in INSTANCE_TYPES for t in types_of(group)):
            problems += mix_problems(types_of(group), label)
            problems += efa_problems(group, label, efa_of)
        if group["count"] < 0 or (group["gpus"] is not None and group["gpus"] < 0):
            problems.append("{0}: count and gpus must not be negative".format(label))
        for zone in group["zones"] or []:
            if not zone.startswith(p["region"]):
                problems.append("{0}.zones: {1!r} is not a zone of region {2}".format(label, zone, p["region"]))
        for taint in group["taints"]:
            if not taint.get("key") or taint.get("effect") not in TAINT_EFFECTS:
                problems.append(
                    "{0}.taints: each taint needs a key and an effect of {1}".format(label, ", ".join(TAINT_EFFECTS))
                )
    module.fail_on_problems(problems)
    try:
        changed, before, after, nodes = ensure(module, module.client)
    except K8sError as exc:
        module.fail_k8s(exc)
    result = dict(changed=changed, nodes=nodes)
    if module._diff:
        result["diff"] = {"before": {"nodes": before}, "after": {"nodes": after}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
