# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 instance types the simulated node groups know: vCPUs, memory (GiB) and NVIDIA GPUs."""

from __future__ import annotations

INSTANCE_TYPES = {
    # general purpose / compute
    "t3.medium": (2, 4, 0),
    "t3.large": (2, 8, 0),
    "m5.large": (2, 8, 0),
    "m5.xlarge": (4, 16, 0),
    "m5.2xlarge": (8, 32, 0),
    "m5.4xlarge": (16, 64, 0),
    "c5.xlarge": (4, 8, 0),
    "c5.2xlarge": (8, 16, 0),
    "c5.4xlarge": (16, 32, 0),
    "r5.xlarge": (4, 32, 0),
    # GPU
    "p2.xlarge": (4, 61, 1),
    "p2.8xlarge": (32, 488, 8),
    "p2.16xlarge": (64, 732, 16),
    "p3.2xlarge": (8, 61, 1),
    "p3.8xlarge": (32, 244, 4),
    "p3.16xlarge": (64, 488, 8),
    "p3dn.24xlarge": (96, 768, 8),
    "g4dn.xlarge": (4, 16, 1),
    "g4dn.2xlarge": (8, 32, 1),
    "g4dn.12xlarge": (48, 192, 4),
    "g4dn.metal": (96, 384, 8),
    "g5.xlarge": (4, 16, 1),
    "g5.2xlarge": (8, 32, 1),
    "g5.12xlarge": (48, 192, 4),
    "g5.48xlarge": (192, 768, 8),
    "g5.4xlarge": (16, 64, 1),
    "g4dn.4xlarge": (16, 64, 1),
    "g6.xlarge": (4, 16, 1),
    "g6.2xlarge": (8, 32, 1),
    "g6.12xlarge": (48, 192, 4),
    "g6e.xlarge": (4, 32, 1),
    "p4d.24xlarge": (96, 1152, 8),
    "p5.48xlarge": (192, 2048, 8),
    "p5e.48xlarge": (192, 2048, 8),
    "g6.4xlarge": (16, 64, 1),
    "g6e.2xlarge": (8, 64, 1),
    "g6e.12xlarge": (48, 384, 4),
    # Graviton with NVIDIA T4G
    "g5g.xlarge": (4, 8, 1),
    "g5g.2xlarge": (8, 16, 1),
}
# EFA interfaces of the table's types that have EFA (EC2's DescribeInstanceTypes: NetworkInfo.EfaInfo
# .MaximumEfaInterfaces, as botocore's and moto's copies of it give them; tests/unit/test_instance_types.py checks
# this against moto's data); the others have none
EFA_INTERFACES = {
    "p3dn.24xlarge": 1,
    "g4dn.12xlarge": 1,
    "g4dn.metal": 1,
    "g5.12xlarge": 1,
    "g5.48xlarge": 1,
    "g6.12xlarge": 1,
    "g6e.12xlarge": 1,
    "p4d.24xlarge": 4,
    "p5.48xlarge": 32,
    "p5e.48xlarge": 32,
}
# the label an EFA node group's nodes carry (trainkit sets it, as terraform-aws-eks-blueprints' EFA groups do): the
# EFA device plugin is scheduled on it; and the extended resource that plugin advertises
EFA_LABEL = "vpc.amazonaws.com/efa.present"
EFA_RESOURCE = "vpc.amazonaws.com/efa"
# instance families on Arm (Graviton); every other family in the table is x86_64
ARM64_FAMILIES = ("g5g", "m6g", "m7g", "c6g", "c7g", "r6g", "t4g")


def architecture(instance_type):
    """x86_64 or arm64: the processor of an instance type, from its family."""
    return "arm64" if instance_type.split(".")[0] in ARM64_FAMILIES else "x86_64"


def mix_problems(instance_types, label):
    """Why a node group may not mix these instance types: its nodes must be alike for the pods placed on any of
    them - the same number of GPUs and the same architecture (images are built per architecture). Types this table
    does not know cannot be checked, and are named."""
    problems = []
    unknown = [t for t in instance_types if t not in INSTANCE_TYPES]
    known = [t for t in instance_types if t in INSTANCE_TYPES]
    if unknown and len(instance_types) > 1:
        problems.append(
            "{0}: trainkit cannot tell the GPUs of {1}, so it cannot check that the instance types are alike; mix "
            "only types it knows (plugins/module_utils/instance_types.py), or give one type".format(
                label, ", ".join(unknown)
            )
        )
    for what, value in (("GPU count", gpus_of), ("architecture", architecture)):
        found = sorted(set((str(value(t)), t) for t in known))
        if len(set(v for v, _t in found)) > 1:
            problems.append(
                "{0}: its instance types must have one {1}, got {2}".format(
                    label, what, ", ".join("{0} ({1})".format(t, v) for v, t in found)
                )
            )
    return problems


def efa_problems(group, label, efa_of):
    """Why a node group may not be an EFA group (``efa: true``): every instance type must have EFA - ``efa_of``
    gives a type's EFA interfaces (0 without EFA, None when it cannot tell: not checked here) - and the group must
    name one zone. eksctl refuses more (its validation: "efaEnabled nodegroups must have only one subnet or one
    availability zone") and, given none, picks a subnet arbitrarily (pkg/vpc/vpc.go): trainkit has it named, so
    that the capacity check looks at the zone the nodes really go to."""
    if not group.get("efa"):
        return []
    problems = []
    types = group.get("instance_types") or [group.get("instance_type")]
    without = [t for t in types if t and efa_of(t) == 0]
    if without:
        problems.append(
            "{0}: efa needs instance types with EFA (EC2's EfaSupported); {1} {2} none. Use a type that has it - "
            "for example p5.48xlarge (32), p4d.24xlarge (4), g6e.12xlarge, g5.48xlarge or g4dn.12xlarge (1) - or "
            "set efa: false".format(label, ", ".join(without), "has" if len(without) == 1 else "have")
        )
    zones = group.get("zones") or []
    if len(zones) != 1:
        problems.append(
            "{0}: an EFA group's nodes share one cluster placement group in one zone: give zones: [<one zone>] "
            "(got {1})".format(label, ", ".join(zones) if zones else "none")
        )
    return problems


def described_efa(item):
    """EFA interfaces of an instance type as EC2 describes it (a DescribeInstanceTypes item): 0 without EFA
    (NetworkInfo.EfaSupported false), else EfaInfo.MaximumEfaInterfaces (1 where EC2 leaves it out)."""
    network = item.get("NetworkInfo") or {}
    if not network.get("EfaSupported"):
        return 0
    return (network.get("EfaInfo") or {}).get("MaximumEfaInterfaces") or 1


def efa_of(instance_type):
    """EFA interfaces of a type the table knows (0: none), None for a type it does not know."""
    if instance_type not in INSTANCE_TYPES:
        return None
    return EFA_INTERFACES.get(instance_type, 0)


def gpus_of(instance_type):
    """NVIDIA GPUs of a known instance type."""
    return INSTANCE_TYPES[instance_type][2]


def capacity(instance_type, gpus=None, max_pods=110):
    """Node capacity for an instance type; ``gpus`` overrides the table's GPU count."""
    cpus, memory_gib, table_gpus = INSTANCE_TYPES[instance_type]
    result = {"cpu": str(cpus), "memory": "{0}Gi".format(memory_gib), "pods": str(max_pods)}
    count = table_gpus if gpus is None else gpus
    if count:
        result["nvidia.com/gpu"] = str(count)
    return result


def node_object(
    cluster,
    region,
    group,
    instance_type,
    name,
    zone,
    pod_cidr,
    address,
    labels=None,
    taints=None,
    gpus=None,
    extra_labels=None,
    device_plugin=False,
    efa=False,
):
    """A simulated (kwok) Node of one node group: the labels EKS gives its nodes, the instance type's capacity.

    Its GPU count is in the annotation ``trainkit.io/gpus``; with ``device_plugin`` the capacity leaves
    ``nvidia.com/gpu`` out, for the device plugin's registration to add (tools/local_runner.py). With ``efa`` (an
    EFA group's node) it carries the EFA label and its EFA interfaces in ``trainkit.io/efa``, which the EFA device
    plugin registers as ``vpc.amazonaws.com/efa``; it has none before, as on EC2."""
    node_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": instance_type,
        "topology.kubernetes.io/zone": zone,
        "topology.kubernetes.io/region": region,
        "eks.amazonaws.com/nodegroup": group,
        "type": "kwok",
    }
    if efa:
        node_labels[EFA_LABEL] = "true"
    node_labels.update(extra_labels or {})
    node_labels.update(dict((k, str(v)) for k, v in (labels or {}).items()))
    cap = capacity(instance_type, gpus)
    gpu_count = cap.pop("nvidia.com/gpu", "0") if device_plugin else cap.get("nvidia.com/gpu", "0")
    annotations = {"kwok.x-k8s.io/node": "fake", "trainkit.io/gpus": gpu_count}
    if efa:
        annotations["trainkit.io/efa"] = str(EFA_INTERFACES.get(instance_type, 0))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels, "annotations": annotations},
        "spec": {
            "podCIDR": pod_cidr,
            "podCIDRs": [pod_cidr],
            "providerID": "kwok://{0}/{1}".format(zone, name),
            "taints": [dict((k, v) for k, v in t.items() if v is not None) for t in taints or []],
        },
        "status": {
            "capacity": cap,
            "allocatable": dict(cap),
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
        },
    }
