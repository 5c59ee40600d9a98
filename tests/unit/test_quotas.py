# -*- coding: utf-8 -*-
"""Which Service Quotas code limits an instance type, and what node groups need of each: values in, values out."""

import pytest

from ansible_collections.trainkit.aws.plugins.module_utils import quotas


@pytest.mark.parametrize(
    "instance_type, family, on_demand, spot",
    [
        ("g5.xlarge", "G and VT", "L-DB2E81BA", "L-3819A6DF"),
        ("g4dn.12xlarge", "G and VT", "L-DB2E81BA", "L-3819A6DF"),
        ("g5g.xlarge", "G and VT", "L-DB2E81BA", "L-3819A6DF"),
        ("vt1.3xlarge", "G and VT", "L-DB2E81BA", "L-3819A6DF"),
        ("p4d.24xlarge", "P", "L-417A185B", "L-7212CCBC"),
        ("p5.48xlarge", "P", "L-417A185B", "L-7212CCBC"),
        ("trn1.32xlarge", "Trn", "L-2C3B7624", "L-6B0D517C"),
        ("inf2.xlarge", "Inf", "L-1945791B", "L-B5D1601B"),
        ("dl1.24xlarge", "DL", "L-6E869C2A", None),
        ("hpc7g.16xlarge", "HPC", "L-F7808C92", None),
        ("x2idn.16xlarge", "X", "L-7295265B", None),
        ("u-6tb1.112xlarge", "High Memory", "L-43DA4232", None),
        ("m5.xlarge", "Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08"),
        ("c7gn.large", "Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08"),
        ("im4gn.large", "Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08"),
        ("d3.xlarge", "Standard (A, C, D, H, I, M, R, T, Z)", "L-1216C47A", "L-34B43A08"),
    ],
)
def test_each_instance_type_counts_against_its_familys_quota(instance_type, family, on_demand, spot):
    assert quotas.family_of(instance_type) == (family, on_demand, spot)


def test_a_family_without_known_codes_is_not_guessed():
    assert quotas.family_of("mac1.metal") is None
    assert quotas.family_of("nonsense") is None


def test_node_groups_need_their_largest_size_times_their_largest_type_per_family_and_purchase():
    vcpus = {"m5.xlarge": 4, "g5.xlarge": 4, "g6.xlarge": 4, "g5.12xlarge": 48, "p4d.24xlarge": 96}
    groups = [
        {"name": "cpu", "instance_type": "m5.xlarge", "count": 2},
        {"name": "gpu", "instance_type": "g5.12xlarge", "desired_capacity": 1, "max_size": 3},
        {"name": "gpu-spot", "instance_types": ["g5.xlarge", "g6.xlarge"], "spot": True, "count": 2},
        {"name": "big", "instance_type": "p4d.24xlarge"},
    ]
    needs = quotas.vcpu_needs(groups, vcpus)
    assert needs[("L-1216C47A", False)]["vcpus"] == 8
    assert needs[("L-DB2E81BA", False)]["vcpus"] == 144 and needs[("L-DB2E81BA", False)]["groups"] == ["gpu"]
    assert needs[("L-3819A6DF", True)]["vcpus"] == 8 and needs[("L-3819A6DF", True)]["types"] == [
        "g5.xlarge",
        "g6.xlarge",
    ]
    assert needs[("L-417A185B", False)]["vcpus"] == 96
    assert len(needs) == 4


def test_the_increase_command_names_the_quota_and_the_value():
    assert quotas.increase_command("ec2", "L-DB2E81BA", 16.0, "us-west-2") == (
        "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
        "--desired-value 16 --region us-west-2"
    )
