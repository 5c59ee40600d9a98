# -*- coding: utf-8 -*-
"""The GPU lane's runner (tools/gpu-test) where no GPU is, so that the lane is whole on the day a GPU machine runs it.

The lent GPU machines have one python3, a virtualenv's (/opt/torch/.venv) with torch and pytest, no ansible-core and
no network (/work/.library/device/KINDS.md). The training environment's python stands in for it: a virtualenv with
torch and neither pytest nor ansible-core. The lane's tests that need no CUDA - the GPU smoke test's command,
node_nvidia's check-only run and the MPI script - also run here, on the local runner's nvidia-smi stand-in (tools/local_standins.py),
so that they cannot break unseen between GPU runs; the CUDA tests only run on a GPU.
"""

import os
import subprocess
import sys

import pytest

from harness import REPO
from harness import downloaded
from harness import train_python

pytestmark = [pytest.mark.training, pytest.mark.gpu]


def lane(tmp_path, python, args, path=None, env=None):
    """tools/gpu-test with ``python`` as the machine's python3, its installs in tmp_path, offline."""
    environ = dict(os.environ, GPU_PYTHON=python, GPU_WHEELS=downloaded("gpu-wheels"), GPU_SITE=str(tmp_path / "site"))
    environ.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)  # the lane's machine reaches no index
    environ.pop("PYTHONPATH", None)
    if path:
        environ["PATH"] = path + os.pathsep + environ["PATH"]
    environ.update(env or {})
    result = subprocess.run(
        [os.path.join(REPO, "tools", "gpu-test")] + list(args),
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    sys.stdout.write(result.stdout[-4000:] + result.stderr[-2000:])
    return result


def header(result):
    [line] = [line for line in result.stdout.splitlines() if line.startswith("gpu-test: ")]
    return line


def test_the_lane_keeps_the_machines_torch_and_brings_pytest_and_ansible_offline(tmp_path):
    """A virtualenv made from a virtualenv's python sees the base interpreter's packages, not torch: the runner
    installs what the python lacks into a directory of its own instead, and the lane sees torch and ansible-core."""
    python = train_python()
    torch = subprocess.run(
        [python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    result = lane(tmp_path, python, [])
    assert result.returncode == 0, result.stderr[-3000:]
    line = header(result)
    assert line.startswith("gpu-test: {0} ".format(python)), line
    assert "torch {0} ".format(torch) in line and "ansible-core 2." in line and "pytest " in line, line
    assert "7 skipped" in result.stdout and "no NVIDIA GPU here" in result.stdout, result.stdout[-2000:]
    # a second run installs nothing again
    again = lane(tmp_path, python, [])
    assert again.returncode == 0 and header(again) == line


def test_the_lanes_tests_without_cuda_pass_on_the_nvidia_smi_stand_in(tmp_path):
    """With nvidia-smi listing a GPU the lane runs for real: the GPU smoke test's command read from the module,
    node_nvidia in check-only mode under --check (ansible-core from the wheels) and the MPI script under the training
    environment's MPICH; the CUDA tests left out."""
    python = train_python()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    standin = bin_dir / "nvidia-smi"
    standin.write_text(
        '#!/bin/sh\nexec "{0}" "{1}" nvidia-smi "$@"\n'.format(
            sys.executable, os.path.join(REPO, "tools", "local_standins.py")
        )
    )
    standin.chmod(0o755)
    result = lane(
        tmp_path,
        python,
        ["-k", "smoke or node_nvidia or mpi"],
        path=str(bin_dir),
        env={"NVIDIA_VISIBLE_DEVICES": "GPU-0f6d1c2e", "TRAINKIT_NODE_INSTANCE_TYPE": "p5e.48xlarge"},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "GPU lane: GPU 0: simulated GPU of p5e.48xlarge, driver [N/A]" in result.stdout, result.stdout[-2000:]
    assert "3 passed, 4 deselected" in result.stdout, result.stdout[-2000:]
