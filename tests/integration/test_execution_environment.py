# -*- coding: utf-8 -*-
"""The execution environment: ansible-builder makes its build context from execution-environment.yml, and every
dependency the collection needs is named in it. Building the image itself needs podman or docker, which these
machines do not have; the context is what is checked."""

import os
import shutil
import subprocess

import pytest
import yaml

from harness import BIN
from harness import REPO
from harness import build_collection
from harness import downloaded
from harness import install_collection
from harness import run_tool

pytestmark = pytest.mark.awx


def tool_path(name):
    """The binary tools/<name> builds (or finds in the cache): the last line it prints."""
    proc = run_tool(name, [], timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def context(tmp_path_factory, ansible):
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(os.path.join(REPO, "execution-environment.yml"), work)
    staged = work / "build" / "ee"
    (staged / "bin").mkdir(parents=True)
    env = ansible.env()
    build_collection(staged, env)
    for name in ("eksctl-build", "kube-aws-build"):
        shutil.copy(tool_path(name), staged / "bin")
    create = subprocess.run(
        [
            os.path.join(BIN, "ansible-builder"),
            "create",
            "--file",
            str(work / "execution-environment.yml"),
            "--context",
            str(work / "context"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(work),
        timeout=300,
        check=False,
    )
    assert create.returncode == 0, create.stdout + create.stderr
    return work


@pytest.mark.xdist_group("ee_context")  # shares the module's build context
def test_builder_create_makes_a_context_with_everything(context):
    # Dockerfile with ansible-builder's default runtime (docker), Containerfile with --container-runtime podman
    [containerfile] = [
        (context / "context" / name).read_text()
        for name in ("Containerfile", "Dockerfile")
        if (context / "context" / name).exists()
    ]
    build = context / "context" / "_build"
    assert 'ARG EE_BASE_IMAGE="registry.access.redhat.com/ubi9/python-311:latest"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    assert "COPY _build/bin/eksctl _build/bin/kube-aws /usr/local/bin/" in containerfile
    for binary in ("eksctl", "kube-aws"):
        assert os.access(build / "bin" / binary, os.X_OK), binary
    assert (build / "dist" / "trainkit-aws-0.1.0.tar.gz").is_file()
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert galaxy["collections"] == [{"name": "dist/trainkit-aws-0.1.0.tar.gz", "type": "file"}]
    assert "awscli" in (build / "requirements.txt").read_text()
    assert "ansible-core>=2.17.0,<2.20" in containerfile and "ansible-runner" in containerfile


@pytest.mark.xdist_group("ee_context")
def test_every_dependency_is_named(context, tmp_path, ansible):
    """What ansible-builder's introspection (run inside the image build) collects from the installed collection."""
    env = ansible.env()
    install_collection(context / "build" / "ee" / "trainkit-aws-0.1.0.tar.gz", tmp_path / "collections", env)
    pip_file, bindep_file = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    introspect = subprocess.run(
        [
            os.path.join(BIN, "ansible-builder"),
            "introspect",
            str(tmp_path / "collections"),
            "--user-pip",
            str(context / "context" / "_build" / "requirements.txt"),
            "--write-pip",
            str(pip_file),
            "--write-bindep",
            str(bindep_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert introspect.returncode == 0, introspect.stdout + introspect.stderr
    python = pip_file.read_text()
    for name in ("boto3", "botocore", "kubernetes", "jsonschema", "awscli"):
        assert name in python, (name, python)
    system = bindep_file.read_text()
    assert "python3" in system and "openssh-clients [platform:rpm]" in system, system
    # and they resolve together (awscli pins its botocore, boto3 another range): pip's resolver, without installing,
    # offline over the wheels make ee-wheels resolved and downloaded from requirements.txt and execution-environment.yml
    lines = [line.split("#", 1)[0].strip() for line in python.splitlines()]
    requirements = [line for line in lines if line] + ["ansible-core>=2.17.0,<2.20", "ansible-runner>=2.4.0"]
    wheels = downloaded("ee-wheels")
    resolve = subprocess.run(
        [os.path.join(BIN, "python"), "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed"]
        + ["--no-index", "--find-links", wheels]
        + requirements,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert resolve.returncode == 0, resolve.stdout[-2000:] + resolve.stderr[-2000:]
