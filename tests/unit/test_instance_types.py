# -*- coding: utf-8 -*-
"""The instance types the collection knows, checked against EC2's own data as moto ships it (DescribeInstanceTypes
answers copied from AWS): vCPUs, memory, GPUs and EFA interfaces."""

import pytest

from ansible_collections.trainkit.aws.plugins.module_utils import instance_types

moto_types = pytest.importorskip("moto.ec2.models.instance_types")


def test_the_tables_efa_interfaces_are_ec2s():
    ec2 = moto_types.INSTANCE_TYPES
    checked = 0
    for name in instance_types.INSTANCE_TYPES:
        if name not in ec2:  # moto's data leaves out retired types (p2, p3)
            continue
        network = ec2[name]["NetworkInfo"]
        wanted = network["EfaInfo"]["MaximumEfaInterfaces"] if network.get("EfaSupported") else 0
        assert instance_types.efa_of(name) == wanted, name
        checked += 1
    assert checked > 20
    assert instance_types.efa_of("x9.huge") is None


def test_an_efa_node_carries_the_label_and_its_interfaces_and_advertises_none_before_the_plugin():
    args = ("c", "us-west-2", "efa", "p4d.24xlarge", "n", "us-west-2b", "127.10.1.0/24", "127.11.1.1")
    node = instance_types.node_object(*args, efa=True)
    assert node["metadata"]["labels"][instance_types.EFA_LABEL] == "true"
    assert node["metadata"]["annotations"]["trainkit.io/efa"] == "4"
    assert instance_types.EFA_RESOURCE not in node["status"]["capacity"]
    plain = instance_types.node_object(*args)
    assert instance_types.EFA_LABEL not in plain["metadata"]["labels"]
    assert "trainkit.io/efa" not in plain["metadata"]["annotations"]


def test_training_names_the_efa_resource_as_the_node_tables_do():
    """training.py is loaded alone in the GPU lane (tests/harness/pod_process.py) and keeps its own copy."""
    from ansible_collections.trainkit.aws.plugins.module_utils import training

    assert training.EFA_RESOURCE == instance_types.EFA_RESOURCE
