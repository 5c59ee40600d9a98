# -*- coding: utf-8 -*-
"""The collection as users get it: build, install offline, ansible-doc, and a playbook run by FQCN."""

import json
import os
import subprocess

import pytest
import yaml

from harness import BIN
from harness import REPO
from harness import build_collection
from harness import install_collection
from harness import unique
from harness import vpcs_of

MODULES = ["iam_group", "iam_role", "key_pair", "kms_key", "private_zone", "s3_bucket", "vpc_network"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory, ansible):
    work = tmp_path_factory.mktemp("galaxy")
    env = ansible.env({"ANSIBLE_CONFIG": str(work / "none.cfg")})
    env.pop("ANSIBLE_COLLECTIONS_PATH")
    install_collection(build_collection(work, env), work / "collections", env)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(work / "collections")
    return work, env


@pytest.mark.xdist_group("installed_collection")  # shares the module's built and installed tarball
def test_tarball_holds_no_dev_files(installed):
    root = installed[0] / "collections" / "ansible_collections" / "trainkit" / "aws"
    assert (root / "plugins" / "modules" / "vpc_network.py").exists()
    for unwanted in (
        ".venv",
        ".tmp",
        ".git",
        "Makefile",
        "ansible.cfg",
        "tests",
        "bench",
        "test-requirements.txt",
        "pytest.ini",
    ):
        assert not (root / unwanted).exists(), unwanted
    # what the EE definition and the local rehearsal need does ship
    for wanted in ("meta/execution-environment.yml", "requirements.txt", "bindep.txt", "tools/local-aws"):
        assert (root / wanted).exists(), wanted


@pytest.mark.xdist_group("installed_collection")
def test_survey_playbook_from_the_installed_copy(installed, tmp_path):
    work, env = installed
    run = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "trainkit.aws.survey", "-e", "survey_dest=" + str(tmp_path / "s")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(work),
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    survey = json.loads((tmp_path / "s" / "identity.json").read_text())
    assert survey["name"] == "trainkit.aws.identity"
    store = [q for q in survey["spec"] if q["variable"] == "identity_secrets_store"]
    assert store and store[0]["choices"] == ["file", "ssm", "secretsmanager"] and store[0]["default"] == "file"
    assert sorted(p.name for p in (tmp_path / "s").iterdir())[0] == "addons.json"


@pytest.mark.xdist_group("installed_collection")
def test_the_installed_site_playbook_runs_what_the_checkouts_runs(installed):
    """trainkit.aws.site (what Galaxy and AWX users run) and the checkout's site.yml: the same stages, tasks and
    tags, and the EKS create left in the background while storage is built - the checkout's site.yml is an import
    of the collection's."""
    work, env = installed

    def listing(playbook, cwd, environ):
        run = subprocess.run(
            [os.path.join(BIN, "ansible-playbook"), playbook, "--list-tasks", "--list-tags"],
            capture_output=True,
            text=True,
            env=environ,
            cwd=cwd,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        return [line for line in run.stdout.splitlines() if not line.startswith("playbook:")]

    installed_site = listing("trainkit.aws.site", str(work), env)
    assert "Cluster | The Kubernetes cluster and its node groups\tTAGS: [cluster]" in "\n".join(installed_site)
    checkout_env = dict(env, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".tmp", "collections"))
    assert listing("site.yml", REPO, checkout_env) == installed_site
    with open(os.path.join(REPO, "playbooks", "site.yml")) as handle:
        plays = yaml.safe_load(handle)
    [cluster] = [p for p in plays if p["ansible.builtin.import_playbook"] == "cluster.yml"]
    assert cluster["vars"] == {"cluster_eksctl_background": True} and cluster["tags"] == ["cluster"]


@pytest.mark.xdist_group("installed_collection")
@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(installed, module):
    work, env = installed
    doc = subprocess.run(
        [os.path.join(BIN, "ansible-doc"), "trainkit.aws." + module],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(work),
        check=False,
    )
    assert doc.returncode == 0, doc.stderr
    assert "OPTIONS" in doc.stdout and "RETURN VALUES" in doc.stdout and "endpoint_url" in doc.stdout
    assert "ERROR" not in doc.stderr


@pytest.mark.parametrize(
    "kind,name,option",
    [
        ("role", "node_efs", "node_efs_options"),
        ("role", "node_lustre", "node_lustre_apt_repository"),
        ("role", "node_nvidia", "node_nvidia_reboot"),
        ("role", "node_mount", "node_mount_line"),
        ("inventory", "nodes", "bastion"),
    ],
)
@pytest.mark.xdist_group("installed_collection")
def test_node_roles_and_inventory_render_in_ansible_doc(installed, kind, name, option):
    work, env = installed
    doc = subprocess.run(
        [os.path.join(BIN, "ansible-doc"), "-t", kind, "trainkit.aws." + name],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(work),
        check=False,
    )
    assert doc.returncode == 0 and option in doc.stdout, doc.stdout + doc.stderr
    assert "ERROR" not in doc.stderr


@pytest.mark.xdist_group("installed_collection")
@pytest.mark.slow  # the network stage and its removal by FQCN from the installed copy: ~30 s
def test_network_playbook_by_fqcn_from_installed_copy(installed, boto, tmp_path):
    work, env = installed
    cluster = unique("fqcn")
    inventory = work / "collections" / "ansible_collections" / "trainkit" / "aws" / "inventories" / "local"
    for playbook in ("trainkit.aws.network", "trainkit.aws.teardown"):
        run = subprocess.run(
            [
                os.path.join(BIN, "ansible-playbook"),
                playbook,
                "-i",
                str(inventory),
                "-e",
                "trainkit_cluster_name=" + cluster,
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(work),
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        if playbook == "trainkit.aws.network":
            assert len(vpcs_of(boto("ec2"), cluster)) == 1
    assert vpcs_of(boto("ec2"), cluster) == []
