# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over node groups: which of them have NVIDIA GPUs (plugins/module_utils/instance_types.py)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import INSTANCE_TYPES
from ansible_collections.trainkit.aws.plugins.module_utils.instance_types import gpus_of

NVIDIA_FAMILIES = re.compile(r"^(p[2-6][-a-z0-9]*|g4dn|g5g?|g6[a-z]*|gr6)\.")


def gpus_of_type(instance_type):
    if instance_type in INSTANCE_TYPES:
        return gpus_of(instance_type)
    # an instance type the collection does not know: one of the EC2 families with NVIDIA GPUs has at least one
    return 1 if NVIDIA_FAMILIES.match(instance_type) else 0


def gpu_nodegroups(nodegroups):
    """The node groups whose nodes have NVIDIA GPUs: ``gpus`` when set, else their instance types' (a group's types
    have one GPU count: the modules refuse others). Each comes back with ``gpus`` and ``instance_types`` set."""
    if not isinstance(nodegroups, list):
        raise AnsibleFilterError("gpu_nodegroups expects a list of node groups, got {0}".format(type(nodegroups)))
    out = []
    for group in nodegroups:
        types = (group.get("instance_types") or [group.get("instance_type")]) if isinstance(group, dict) else [None]
        if not all(isinstance(t, str) and t for t in types):
            raise AnsibleFilterError(
                "gpu_nodegroups: each node group needs an instance_type or instance_types, got {0!r}".format(group)
            )
        count = int(group["gpus"]) if group.get("gpus") is not None else max(gpus_of_type(t) for t in types)
        if count > 0:
            out.append(dict(group, gpus=count, instance_types=list(types)))
    return out


class FilterModule:
    def filters(self):
        return {"gpu_nodegroups": gpu_nodegroups}
