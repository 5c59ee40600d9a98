# -*- coding: utf-8 -*-
"""How make test shares the integration tests among xdist's workers (tests/harness/scheduling.py)."""

import json

import pytest

import scheduling


class Item:
    """What the scheduler reads of a pytest item: its node id and its xdist_group marks."""

    def __init__(self, nodeid, *groups):
        self.nodeid = nodeid
        self.groups = groups

    def iter_markers(self, name):
        assert name == "xdist_group"
        return [pytest.mark.xdist_group(group).mark for group in self.groups]


def ids(items):
    return [i.nodeid for i in items]


def test_a_group_goes_first_by_its_total_and_keeps_its_order():
    items = [
        Item("t.py::short"),
        Item("bed.py::boot", "bed"),
        Item("t.py::long"),
        Item("bed.py::use", "bed"),
        Item("u.py::unknown"),
    ]
    durations = {"t.py::short": 1, "bed.py::boot": 50, "bed.py::use": 40, "t.py::long": 60}
    ordered = scheduling.longest_first(items, durations)
    # the bed (90 s together) before the long test (60 s); the unrecorded test counts DEFAULT_SECONDS (10 s)
    assert ids(ordered) == ["bed.py::boot", "bed.py::use", "t.py::long", "u.py::unknown", "t.py::short"]


def test_ties_and_an_empty_record_keep_the_collection_order():
    items = [Item("a.py::x"), Item("b.py::y", "g"), Item("c.py::z"), Item("b.py::w", "g")]
    # with nothing recorded the group of two (20 s) goes first, the single tests keep their order
    assert ids(scheduling.longest_first(items, {})) == ["b.py::y", "b.py::w", "a.py::x", "c.py::z"]


def test_group_names_join_as_xdist_joins_them():
    assert scheduling.group_of(Item("a.py::x")) is None
    assert scheduling.group_of(Item("a.py::x", "nodes")) == "nodes"
    assert scheduling.group_of(Item("a.py::x", "b", "a")) == "a_b"


def test_the_controller_reads_the_groups_the_workers_wrote(tmp_path):
    items = [Item("a.py::x", "bed"), Item("a.py::y"), Item("b.py::z", "bed")]
    scheduling.write_groups(items, str(tmp_path), "gw0")
    scheduling.write_groups(items, str(tmp_path), "gw1")
    assert scheduling.read_groups(str(tmp_path)) == {"a.py::x": "bed", "b.py::z": "bed"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gw0.json", "gw1.json"]  # no temporary file left


def test_the_durations_file_is_merged_not_replaced(tmp_path):
    path = tmp_path / "durations.json"
    path.write_text(json.dumps({"a.py::x": 5.0, "b.py::y": 7.0}))
    recorder = scheduling.DurationRecorder(str(path))

    class Report:  # what pytest's TestReport carries of it
        def __init__(self, nodeid, duration, user_properties=()):
            self.nodeid, self.duration, self.user_properties = nodeid, duration, list(user_properties)

    for phase in (0.25, 3.0, 0.25):  # setup, call, teardown
        recorder.pytest_runtest_logreport(Report("a.py::x", phase))
    recorder.pytest_sessionfinish()
    assert scheduling.load_durations(str(path)) == {"a.py::x": 3.5, "b.py::y": 7.0}
    assert not (tmp_path / "durations.cpu.json").exists()  # no CPU measured: no file


def test_the_cpu_seconds_a_worker_measured_go_beside_the_durations(tmp_path):
    path = tmp_path / "durations.json"
    (tmp_path / "durations.cpu.json").write_text(json.dumps({"b.py::y": 2.0}))
    recorder = scheduling.DurationRecorder(str(path))
    report = type("Report", (), {"nodeid": "a.py::x", "duration": 4.0})()
    report.user_properties = [("other", 1), (scheduling.CPU_PROPERTY, 1.26)]  # the teardown report's
    recorder.pytest_runtest_logreport(report)
    recorder.pytest_sessionfinish()
    assert scheduling.load_durations(str(path)) == {"a.py::x": 4.0}
    assert scheduling.load_durations(str(tmp_path / "durations.cpu.json")) == {"a.py::x": 1.3, "b.py::y": 2.0}
    assert scheduling.load_durations(str(tmp_path / "missing.json")) == {}
