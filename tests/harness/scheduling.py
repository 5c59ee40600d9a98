# -*- coding: utf-8 -*-
"""How pytest-xdist shares the tests among its workers (``--dist loadgroup``): groups kept together, the costliest
work first.

A test marked ``xdist_group(name)`` runs on the same worker as every other test of that group (they share a test
bed, a cluster built by a module fixture, or run in order); every other test is a unit of its own, so that the
independent tests of one file spread over the workers. xdist's own ``loadgroup`` does this by renaming the marked
tests' node ids, which pytest 9 no longer allows: the mark was silently ignored and a group's tests ran on several
workers. Here the workers tell the controller the groups instead (a JSON file in a directory the controller hands
them), and the controller's scheduler is xdist's load-scope scheduler with the groups as its scopes.

Order: each worker sorts its collection by the group's recorded duration, longest first (the order xdist then hands
out the units), keeping the tests of a group in their file order. Durations come from ``durations.json`` beside this
file's tests (``make durations`` records them); a test not recorded yet counts as ``DEFAULT_SECONDS``. A stale file
only makes the order less good, never a test wrong.
"""

import json
import os
import tempfile

from xdist.scheduler import LoadScopeScheduling

DEFAULT_SECONDS = 10.0
GROUPS_DIR = "trainkit_groups_dir"


def group_of(item):
    """The item's group name, or None: the names of its xdist_group marks, as xdist's loadgroup joins them."""
    names = set()
    for mark in item.iter_markers("xdist_group"):
        names.add(str(mark.args[0] if mark.args else mark.kwargs.get("name", "default")))
    return "_".join(sorted(names)) or None


def load_durations(path):
    """{node id: seconds} from a durations file ({} when there is none)."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def longest_first(items, durations, group=group_of, nodeid=lambda item: item.nodeid):
    """``items`` ordered by the recorded duration of their unit (a group, or the test alone), longest first; the
    tests of one group stay together and in their order; ties keep the collection order."""
    unit_of, cost, first = {}, {}, {}
    for index, item in enumerate(items):
        unit = group(item) or nodeid(item)
        unit_of[id(item)] = unit
        cost[unit] = cost.get(unit, 0.0) + float(durations.get(nodeid(item), DEFAULT_SECONDS))
        first.setdefault(unit, index)
    order = dict((id(item), index) for index, item in enumerate(items))
    return sorted(items, key=lambda item: (-cost[unit_of[id(item)]], first[unit_of[id(item)]], order[id(item)]))


class DurationRecorder:
    """(controller) Each test's setup + call + teardown seconds, merged into the durations file at the end (so a
    partial run updates only what it ran). Where the workers measured the CPU time their tests used (CpuAccount),
    it is written beside, to ``<durations>.cpu.json``: where the suite's minutes go when both cores are busy."""

    def __init__(self, path):
        self.path = path
        self.seen = {}
        self.cpu = {}

    def pytest_runtest_logreport(self, report):
        self.seen[report.nodeid] = self.seen.get(report.nodeid, 0.0) + report.duration
        for name, value in report.user_properties:
            if name == CPU_PROPERTY:
                self.cpu[report.nodeid] = value

    def pytest_sessionfinish(self):
        for path, seen in ((self.path, self.seen), (self.path.replace(".json", ".cpu.json"), self.cpu)):
            if not seen:
                continue
            durations = load_durations(path)
            durations.update((nodeid, round(seconds, 1)) for nodeid, seconds in seen.items())
            with open(path, "w") as handle:
                json.dump(dict(sorted(durations.items())), handle, indent=0)
                handle.write("\n")


CPU_PROPERTY = "cpu_seconds"
CPUACCT = "/sys/fs/cgroup/cpuacct"


class CpuAccount:
    """(worker, with --store-durations, where cgroup v1's cpuacct is writable: root) The CPU time of everything the
    worker runs during each test - ansible, its modules, the endpoints and control planes it started, training
    processes - from a cgroup of the worker's own (children stay in their parent's cgroup), in the test's
    teardown report for the controller."""

    def __init__(self, name):
        self.path = os.path.join(CPUACCT, name)
        os.makedirs(self.path, exist_ok=True)
        with open(os.path.join(self.path, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
        self.start = None

    @classmethod
    def possible(cls):
        return os.access(os.path.join(CPUACCT, "cgroup.procs"), os.W_OK)

    def usage(self):
        with open(os.path.join(self.path, "cpuacct.usage")) as handle:
            return int(handle.read()) / 1e9

    def pytest_runtest_setup(self, item):
        self.start = self.usage()

    def pytest_runtest_teardown(self, item):
        # (before the teardown report is made: it copies the item's user_properties)
        if self.start is not None:
            item.user_properties.append((CPU_PROPERTY, self.usage() - self.start))

    def pytest_unconfigure(self):
        """Back to the parent cgroup; the cgroup goes once the processes left in it (a daemon) are gone."""
        with open(os.path.join(os.path.dirname(self.path), "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def write_groups(items, directory, worker):
    """The worker's {node id: group} for the controller (every worker collects the same tests)."""
    groups = dict((item.nodeid, group_of(item)) for item in items if group_of(item))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=worker, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(groups, out)
    os.replace(temporary, os.path.join(directory, worker + ".json"))


def read_groups(directory):
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as handle:
                return json.load(handle)
    return {}


class GroupScheduling(LoadScopeScheduling):
    """xdist's load-scope scheduling whose scopes are the xdist_group groups, and single tests otherwise."""

    def __init__(self, config, log=None, directory=None):
        super().__init__(config, log)
        self.directory = directory
        self.groups = None

    def _split_scope(self, nodeid):
        if self.groups is None:
            # read once every worker has collected (schedule() runs then): each wrote its groups first
            self.groups = read_groups(self.directory)
        group = self.groups.get(nodeid)
        return "group:" + group if group else nodeid
