# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A process and everything below it, killed at once - as a pod's processes die with its cgroup or its machine.
Standard library only (the GPU lane's pod runs import it too)."""

import os
import signal


def descendants(pid):
    """Every process below ``pid`` (/proc/<pid>/task/<tid>/children), also those that started sessions of their own
    (torchrun's workers), which killing a process group would miss."""
    found = []
    try:
        tasks = os.listdir("/proc/{0}/task".format(pid))
    except OSError:
        return found
    for task in tasks:
        try:
            with open("/proc/{0}/task/{1}/children".format(pid, task)) as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            continue
        for child in children:
            found.append(child)
            found.extend(descendants(child))
    return found


def start_time(pid):
    """When ``pid`` started (clock ticks after boot, /proc/<pid>/stat field 22), or None when it is gone: with the
    pid, it names one process even after the pid is reused."""
    try:
        with open("/proc/{0}/stat".format(pid)) as handle:
            stat = handle.read()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # fields from 3 on follow the command name's ')'


def kill_tree(pid):
    """SIGKILL ``pid`` and every process below it; returns the pids."""
    tree = [pid] + descendants(pid)
    for each in tree:
        try:
            os.kill(each, signal.SIGKILL)
        except OSError:
            pass
    return tree
