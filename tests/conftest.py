# -*- coding: utf-8 -*-
"""Fixtures shared by the unit and integration tests.

The integration tests drive the collection the way users do - `ansible` and `ansible-playbook` processes with
the collection on ANSIBLE_COLLECTIONS_PATH - against a real local AWS endpoint (moto's server on 127.0.0.1,
started by tools/local-aws), and check the results through boto3.
"""

import os
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))

import harness  # noqa: E402  (needs the path above)
import scheduling  # noqa: E402  (needs the path above)

DURATIONS = os.path.join(REPO, "tests", "durations.json")

# The unit tests import the collection's Python code as ansible_collections.trainkit.aws.
sys.path.insert(0, harness.collections_root())


# -- sharing the tests among xdist's workers (tests/harness/scheduling.py), and their recorded durations ----------
def pytest_addoption(parser):
    parser.addoption(
        "--store-durations",
        action="store_true",
        help="record each test's duration (setup, call and teardown) in tests/durations.json, which orders the work "
        "of --dist loadgroup (longest first)",
    )


def pytest_configure(config):
    if config.getoption("store_durations") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(scheduling.DurationRecorder(DURATIONS), "trainkit-durations")
    if config.getoption("store_durations") and hasattr(config, "workerinput") and scheduling.CpuAccount.possible():
        name = "trainkit-{0}-{1}".format(config.workerinput["workerid"], os.getpid())
        config.pluginmanager.register(scheduling.CpuAccount(name), "trainkit-cpu")
    if not hasattr(config, "workerinput") and config.getoption("dist", "no") == "loadgroup":
        config.trainkit_groups_dir = tempfile.mkdtemp(prefix="trainkit-groups-")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """(controller) Where each worker writes the groups of the tests it collected."""
    directory = getattr(node.config, "trainkit_groups_dir", None)
    if directory:
        node.workerinput[scheduling.GROUPS_DIR] = directory


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """(controller) --dist loadgroup: xdist_group marks honoured under pytest 9, the longest work first."""
    directory = getattr(config, "trainkit_groups_dir", None)
    if not directory:
        return None
    # the workers' collection is already longest first: xdist must not re-sort the units by their test counts
    config.option.loadscopereorder = False
    return scheduling.GroupScheduling(config, log, directory)


def pytest_collection_modifyitems(config, items):
    """(worker) Longest first, then tell the controller the groups."""
    directory = getattr(config, "workerinput", {}).get(scheduling.GROUPS_DIR)
    if directory:
        items[:] = scheduling.longest_first(items, scheduling.load_durations(DURATIONS))
        scheduling.write_groups(items, directory, config.workerinput["workerid"])


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
