# -*- coding: utf-8 -*-
"""The GPU lane: real NVIDIA GPUs, the shipped training scripts through the real launcher, nvidia-smi, node_nvidia's
checks. Every test is marked gpu and skipped where nvidia-smi lists no GPU (CI, laptops): make gpu-test."""

import shutil
import subprocess

import pytest


def gpu_list():
    """nvidia-smi's GPUs as (index, name, driver version) tuples, and why there are none."""
    if not shutil.which("nvidia-smi"):
        return [], "no nvidia-smi on PATH"
    query = ["nvidia-smi", "--query-gpu=index,name,driver_version", "--format=csv,noheader"]
    try:
        answer = subprocess.run(query, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], "nvidia-smi failed: {0}".format(exc)
    gpus = [tuple(f.strip() for f in line.split(",")) for line in answer.stdout.splitlines() if line.strip()]
    if answer.returncode != 0 or not gpus:
        return [], "nvidia-smi lists no GPU (rc {0}): {1}".format(
            answer.returncode, (answer.stdout + answer.stderr)[:300]
        )
    return gpus, ""


GPUS, WHY_NONE = gpu_list()


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
    skip = pytest.mark.skip(reason="no NVIDIA GPU here - " + WHY_NONE) if not GPUS else None
    for item in items:
        item.add_marker(pytest.mark.gpu)
        if skip:
            item.add_marker(skip)


def pytest_report_header(config):  # pylint: disable=unused-argument
    if not GPUS:
        return "GPU lane: skipped - " + WHY_NONE
    return "GPU lane: " + "; ".join("GPU {0}: {1}, driver {2}".format(*g) for g in GPUS)


@pytest.fixture(scope="session")
def gpus():
    return GPUS
