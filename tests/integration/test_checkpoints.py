# -*- coding: utf-8 -*-
"""The checkpoint contract with real training processes: each shipped script, killed mid-training, resumes from its
newest complete checkpoint and ends where an uninterrupted run ends; a checkpoint write killed midway leaves the
previous checkpoint to resume from.

Each job runs as its pod would (tests/harness/pod_process.py: the command and environment training_job renders, the
launcher, the claim as a directory) with the training environment's python (make train-env-torch). These are the
processes; the cluster's side - pods evicted, nodes lost, the job's failure policy - is tested in test_training.py.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import pod_process
from harness import train_python

pytestmark = [pytest.mark.training]

TOLERANCE = 1e-6  # the same steps from the same state: float32 (torch, paddle) and float64 (numpy) round the same way


def flat(model):
    return [v for group in model["parameters"] for v in group]


def wait_for(path, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, "the job ended before its checkpoint: " + process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "no {0} after {1}s".format(path, timeout)
        time.sleep(0.02)


SHAPES = {
    # framework: (workers, extra spec) - two ranks where one machine can run two (torchrun's processes, mpirun's
    # ranks); a paddle trainer is one pod, and pods on one machine cannot find each other by DNS here
    "pytorch": (1, {"nproc_per_node": 2}),
    "paddle": (1, {}),
    "mpi": (2, {}),
}


@pytest.mark.slow  # three frameworks, each trained three times: ~40 s
@pytest.mark.parametrize("framework", sorted(SHAPES))
def test_killed_mid_training_the_job_resumes_from_its_newest_checkpoint_and_ends_as_if_uninterrupted(
    framework, tmp_path
):
    python = train_python()
    workers, extra = SHAPES[framework]

    reference = pod_process.job_spec("ref", framework, str(tmp_path / "ref"), workers=workers, **extra)
    pod_process.split(reference, python)
    result, uninterrupted = pod_process.run(reference, python)
    assert result.returncode == 0 and uninterrupted, result.stdout[-3000:] + result.stderr[-3000:]
    assert uninterrupted["resumed_from"] == 0

    spec = pod_process.job_spec("job", framework, str(tmp_path / "job"), workers=workers, **extra)
    pod_process.split(spec, python)
    folder = os.path.join(spec["mount_path"], "job", "checkpoints")
    # 200 steps, 20 ms each: killed (SIGKILL, as the kubelet kills a pod that outlives its grace period) once the
    # checkpoint of step 100 is there, still training
    process = pod_process.start(spec, python, {"TRAINKIT_STEP_DELAY": "0.02"})
    try:
        wait_for(os.path.join(folder, "step-00000100.ckpt"), process)
    finally:
        pod_process.kill_pod(process)
    time.sleep(1)  # nothing of the pod may go on writing
    assert pod_process.model_of(spec) is None, "killed before the end"
    killed_at = max(int(name[5:13]) for name in os.listdir(folder) if name.startswith("step-"))
    assert 100 <= killed_at < 200

    result, resumed = pod_process.run(spec, python, {"TRAINKIT_RESTART_COUNT": "1"})
    assert result.returncode == 0 and resumed, result.stdout[-3000:] + result.stderr[-3000:]
    assert resumed["resumed_from"] == killed_at and resumed["restart_count"] == 1, resumed
    assert "resumed from step {0}".format(killed_at) in result.stdout + result.stderr
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(flat(resumed), flat(uninterrupted))), (resumed, uninterrupted)
    assert abs(resumed["loss"] - uninterrupted["loss"]) <= TOLERANCE


def test_a_checkpoint_write_killed_midway_leaves_the_previous_checkpoint_to_resume_from(tmp_path):
    """A pod killed while it writes its last checkpoint: the next run must find the one before, whole, never a torn
    file under a checkpoint's name - with torch.save writing, and with a writer that stops halfway."""
    python = train_python()
    spec = pod_process.job_spec("job", "pytorch", str(tmp_path / "job"))
    pod_process.split(spec, python)
    result, first = pod_process.run(spec, python)
    assert result.returncode == 0 and first["resumed_from"] == 0, result.stderr[-3000:]
    folder = os.path.join(spec["mount_path"], "job", "checkpoints")
    assert sorted(os.listdir(folder)) == ["step-00000150.ckpt", "step-00000200.ckpt"], "the newest two are kept"

    # the next checkpoint's write, stopped halfway (half of torch.save's bytes written, then killed)
    writer = textwrap.dedent("""
        import io, os, sys, time
        import torch
        sys.path.insert(0, sys.argv[2])
        import checkpoint
        def write(path):
            buffer = io.BytesIO()
            torch.save({"step": 250, "model": {}, "optimizer": {}}, buffer)
            with open(path, "wb") as handle:
                handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                handle.flush()
                print("half written", flush=True)
                time.sleep(60)
                handle.write(buffer.getvalue()[len(buffer.getvalue()) // 2 :])
        checkpoint.save(sys.argv[1], 250, write)
        """)
    files = os.path.join(spec["mount_path"], ".opt-trainkit")
    process = subprocess.Popen(
        [python, "-c", writer, folder, files], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout.readline().strip() == "half written"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    names = sorted(os.listdir(folder))
    assert "step-00000250.ckpt" not in names and any(n.endswith(".tmp") for n in names), names

    # a torn file under a checkpoint's name (what a plain open-write would leave): newest() skips it, and says so
    with open(os.path.join(folder, "step-00000150.ckpt"), "rb") as handle:
        torn = handle.read()
    with open(os.path.join(folder, "step-00000300.ckpt"), "wb") as handle:
        handle.write(torn[: len(torn) // 2])

    result, resumed = pod_process.run(spec, python, {"EPOCHS": "260"})
    assert result.returncode == 0 and resumed, result.stdout[-3000:] + result.stderr[-3000:]
    assert resumed["resumed_from"] == 200, resumed
    assert "checkpoint: skipping step 300, which does not load" in result.stdout + result.stderr
    kept = sorted(n for n in os.listdir(folder) if n.startswith("step-"))
    assert kept == ["step-00000250.ckpt", "step-00000260.ckpt"], "the torn 300 is gone, the newest two kept"


def test_the_launcher_exports_the_checkpoint_directory_and_restart_count(tmp_path):
    spec = pod_process.job_spec("job", "pytorch", str(tmp_path / "claim"), checkpoint_path="runs/{job}/ckpt")
    argv, env = pod_process.command_and_env(spec, sys.executable, {"TRAINKIT_RESTART_COUNT": "3"})
    launcher = argv[argv.index("--framework") - 1]
    printed = subprocess.run(
        [sys.executable, launcher, "--framework", "pytorch", "--print-env"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert (
        '"TRAINKIT_CHECKPOINT_DIR": "{0}"'.format(os.path.join(spec["mount_path"], "runs/job/ckpt")) in printed.stdout
    )
    assert '"TRAINKIT_RESTART_COUNT": "3"' in printed.stdout
    assert os.path.isdir(os.path.join(spec["mount_path"], "runs", "job", "ckpt"))
