# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoints that survive being killed mid-write: trainkit's checkpoint contract (standard library only).

training_job puts this file into every job's ConfigMap beside the launcher, at /opt/trainkit/checkpoint.py, so that
the training scripts there can ``import checkpoint``.

The launcher exports TRAINKIT_CHECKPOINT_DIR (on the job's claim, shared by its pods; the module's checkpoint_path,
"{job}/checkpoints" by default) and TRAINKIT_RESTART_COUNT; the job's TRAINKIT_CHECKPOINT_EVERY says how often to
save. A script - trainkit's train_*.py, or yours - does two things:

    step, state = checkpoint.newest(directory, load)    # at start: the newest complete checkpoint, or (0, None)
    checkpoint.save(directory, step, write)              # every N steps, on one rank: write(path) writes the state

save() never leaves a half-written checkpoint under a checkpoint's name: write() fills a temporary file in the same
directory, which is flushed to the disk (fsync) and then renamed (an atomic replace on POSIX file systems, NFS and
Lustre included), and the directory is synced so that the rename itself survives a crash. A process killed at any
point leaves either the previous checkpoints only, or the new one complete. newest() also skips a checkpoint that
does not load (written by something else, or damaged), and says so.
"""

from __future__ import annotations

import os
import re
import sys
import time

NAME = re.compile(r"^step-(\d{8})\.ckpt$")
KEEP = 2  # the checkpoints kept after each save: this one and the one before


def directory(environ=None):
    """TRAINKIT_CHECKPOINT_DIR, created; None when the job has no checkpoint directory."""
    path = (environ if environ is not None else os.environ).get("TRAINKIT_CHECKPOINT_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
    return path or None


def every(environ=None):
    """Steps between checkpoints (TRAINKIT_CHECKPOINT_EVERY, default 50; 0 - none)."""
    return int((environ if environ is not None else os.environ).get("TRAINKIT_CHECKPOINT_EVERY", "50"))


def path_of(folder, step):
    return os.path.join(folder, "step-{0:08d}.ckpt".format(step))


def steps(folder):
    """The steps of the checkpoints in a directory, newest first."""
    found = []
    for name in os.listdir(folder) if folder and os.path.isdir(folder) else []:
        match = NAME.match(name)
        if match:
            found.append(int(match.group(1)))
    return sorted(found, reverse=True)


def fsync_directory(folder):
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def save(folder, step, write):
    """Write the checkpoint of ``step`` atomically; ``write(path)`` writes the state to ``path``."""
    temporary = os.path.join(folder, ".step-{0:08d}.{1}.tmp".format(step, os.getpid()))
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path_of(folder, step))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    fsync_directory(folder)
    # keep the newest KEEP up to this step; newer ones belong to a run this one did not resume from (they did not
    # load, or another run wrote them) and would shadow this one
    earlier = [s for s in steps(folder) if s <= step]
    for old in [s for s in steps(folder) if s > step] + earlier[KEEP:]:
        try:
            os.remove(path_of(folder, old))
        except FileNotFoundError:
            pass
    for name in os.listdir(folder):  # what processes killed mid-write left behind
        if name.startswith(".step-") and name.endswith(".tmp") and ".{0}.".format(os.getpid()) not in name:
            try:
                if os.path.getmtime(os.path.join(folder, name)) < time.time() - 60:
                    os.remove(os.path.join(folder, name))
            except FileNotFoundError:
                pass


def newest(folder, load):
    """(step, state) of the newest checkpoint that loads - ``load(path)`` reads one - or (0, None)."""
    for step in steps(folder):
        try:
            return step, load(path_of(folder, step))
        except Exception as exc:  # pylint: disable=broad-exception-caught  # any reader's error: try the one before
            sys.stderr.write("checkpoint: skipping step {0}, which does not load: {1}\n".format(step, exc))
    return 0, None
