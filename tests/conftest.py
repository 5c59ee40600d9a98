# -*- coding: utf-8 -*-
"""Fixtures shared by the unit and integration tests.

The integration tests drive the collection the way users do - `ansible` and `ansible-playbook` processes with
the collection on ANSIBLE_COLLECTIONS_PATH - against a real local AWS endpoint (moto's server on 127.0.0.1,
started by tools/local-aws), and check the results through boto3.
"""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))

import harness  # noqa: E402  (needs the path above)

# The unit tests import the collection's Python code as ansible_collections.trainkit.aws.
sys.path.insert(0, harness.collections_root())


@pytest.fixture(scope="session")
def local_aws(tmp_path_factory):
    """One local AWS endpoint per test process (xdist worker), stopped by its pid at the end."""
    endpoint = harness.LocalAWS(str(tmp_path_factory.mktemp("local-aws")))
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="session")
def local_k8s(tmp_path_factory):
    """One local control plane per test process (built once into the cache), stopped by its pids at the end."""
    plane = harness.LocalK8s(str(tmp_path_factory.mktemp("local-k8s")))
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def ansible(local_aws, tmp_path_factory):
    return harness.Ansible(local_aws.url, str(tmp_path_factory.mktemp("ansible")))


@pytest.fixture(scope="session")
def boto(local_aws):
    return local_aws.client


@pytest.fixture
def inventory_env(local_aws):
    """Environment for playbooks over inventories/local against this test's endpoint (and its HTTPS proxy)."""
    return local_aws.env()
