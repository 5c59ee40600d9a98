# -*- coding: utf-8 -*-
"""The collection run the way AWX and Tower run it: ansible-runner with a private data directory.

AWX installs the project's collections into the job's private data directory, writes the inventory and the extra
variables there, injects the credentials as environment variables (the Amazon Web Services credential type sets
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and runs `ansible-runner` on it, playbook by playbook (a workflow of
job templates). Here: identity -> network -> storage -> teardown of the installed collection (trainkit.aws.<stage>),
no checkout on any path Ansible reads, secrets in SSM as the docs recommend for AWX, then the job events and
artifacts searched for every secret."""

import json
import os
import re
import subprocess

import pytest
import yaml

from harness import AWSCLI_BIN
from harness import BIN
from harness import REGION
from harness import REPO
from harness import build_collection
from harness import install_collection
from harness import tagged_leftovers
from harness import unique
from harness import vpcs_of

# slow: four stages through ansible-runner from the installed tarball (~1.5 min)
pytestmark = [pytest.mark.awx, pytest.mark.slow]

# What Python's warnings module prints when ansible-playbook starts - "<file>:<line>: <Category>: <message>", then the
# source line - which ansible-runner records as verbose events before the playbook's. cryptography 51 deprecates DSA
# (pyca/cryptography#15597), and every ansible-core up to 2.21 imports its DSA names at start
# (ansible/_internal/_ssh/_ssh_agent.py), so with cryptography 51 every run begins with that warning.
PYTHON_WARNING = re.compile(r"^(\S+\.py:\d+: \w*Warning: .+|  \S.*)$")
STAGES = ["trainkit.aws.identity", "trainkit.aws.network", "trainkit.aws.storage", "trainkit.aws.teardown"]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory, ansible):
    return build_collection(tmp_path_factory.mktemp("awx-build"), ansible.env())


def private_data_dir(root, tarball, cluster, injected, endpoint):
    """What AWX writes before it starts ansible-runner: collections, inventory, extra vars, the credentials' env."""
    root.mkdir()
    (root / "project").mkdir()  # the project: the collection's playbooks are run by their FQCN
    installed = install_collection(
        tarball, root / "requirements_collections", {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]}
    )
    # the inventory's variables as AWX keeps them (the installed local inventory's group_vars), without credentials:
    # AWX injects those through the environment
    with open(installed / "inventories" / "local" / "group_vars" / "all.yml") as handle:
        variables = yaml.safe_load(handle)
    variables.update(trainkit_cluster_name=cluster, trainkit_aws_access_key="", trainkit_aws_secret_key="")
    variables["trainkit_credentials_dir"] = str(root / "credentials")
    variables["trainkit_storage_backend"] = "efs"
    (root / "inventory").mkdir()
    (root / "inventory" / "hosts").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": os.path.join(BIN, "python"),
                        }
                    },
                    "vars": variables,
                }
            }
        )
    )
    (root / "env").mkdir()
    extravars = {
        "identity_secrets_store": "ssm",
        "identity_users": [cluster + "-ops"],
        "cluster_local_workdir": str(root.parent / "k8s"),
    }
    (root / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (root / "env" / "envvars").write_text(
        yaml.safe_dump(
            {
                "AWS_ACCESS_KEY_ID": injected["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": injected["SecretAccessKey"],
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": endpoint,
                "ANSIBLE_COLLECTIONS_PATH": str(root / "requirements_collections"),
            }
        )
    )
    return installed


def runner(root, playbook, ident):
    """ansible-runner run, as AWX's worker runs it; returns (rc, the artifact directory)."""
    env = {
        "PATH": os.pathsep.join([BIN, AWSCLI_BIN, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ["HOME"],  # the cache of the local control plane's binaries lives under it
        "LANG": "C.UTF-8",
    }
    for key in ("TRAINKIT_CACHE_DIR", "GOPATH", "GOMODCACHE", "GOCACHE"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-runner"), "run", str(root), "-p", playbook, "--ident", ident],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(root / "project"),
        timeout=1200,
        check=False,
    )
    artifacts = root / "artifacts" / ident
    return proc, artifacts


def events(artifacts):
    found = []
    for name in sorted(os.listdir(artifacts / "job_events"), key=lambda n: int(n.split("-", 1)[0])):
        with open(artifacts / "job_events" / name) as handle:
            found.append(json.load(handle))
    return found


def test_identity_network_storage_teardown_through_ansible_runner(ansible, boto, local_aws, tarball, tmp_path):
    cluster = unique("awx")
    iam = boto("iam")
    # the credential AWX injects: a real key of the endpoint, so that a leak of it could be seen
    iam.create_user(UserName="awx-credential-" + cluster)
    injected = iam.create_access_key(UserName="awx-credential-" + cluster)["AccessKey"]
    root = tmp_path / "pdd"
    installed = private_data_dir(root, tarball, cluster, injected, local_aws.url)

    stats = {}
    for number, playbook in enumerate(STAGES):
        proc, artifacts = runner(root, playbook, "{0}-{1}".format(number, playbook.split(".")[-1]))
        stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else proc.stdout
        assert proc.returncode == 0, stdout[-4000:] + proc.stderr[-2000:]
        assert (artifacts / "rc").read_text().strip() == "0"
        assert (artifacts / "status").read_text().strip() == "successful"
        found = events(artifacts)
        start = next(i for i, event in enumerate(found) if event["event"] != "verbose")
        warnings, found = found[:start], found[start:]
        assert all(PYTHON_WARNING.match(event.get("stdout") or "") for event in warnings), warnings
        assert found[0]["event"] == "playbook_on_start" and found[-1]["event"] == "playbook_on_stats"
        stats[playbook] = found[-1]["event_data"]
        # the roles ran from the installed copy, never from the checkout
        for event in found:
            task_path = event["event_data"].get("task_path", "")
            if task_path:
                assert task_path.startswith(str(installed)), task_path
                assert not task_path.startswith(REPO + "/roles"), task_path
        if playbook == "trainkit.aws.network":
            assert len(vpcs_of(boto("ec2"), cluster)) == 1
        if playbook == "trainkit.aws.storage":
            # the local cluster came up (from the installed collection's tools) and the claim is bound to EFS
            [volume] = [
                e
                for e in found
                if e["event"] == "runner_on_ok"
                and e["event_data"].get("task") == "K8s storage | NFS volume and claim over EFS"
            ]
            assert volume["event_data"]["res"]["changed"] is True
        if number == 0:
            # captured now: after the teardown the secrets are gone from AWS, and the search below needs them
            ssm = boto("ssm")
            access = json.loads(
                ssm.get_parameter(Name="/trainkit/{0}/access-keys/{0}-ops".format(cluster), WithDecryption=True)[
                    "Parameter"
                ]["Value"]
            )
            material = ssm.get_parameter(Name="/trainkit/{0}/key-pairs/{0}".format(cluster), WithDecryption=True)[
                "Parameter"
            ]["Value"]
    assert stats["trainkit.aws.identity"]["changed"].get("localhost", 0) > 0
    assert stats["trainkit.aws.teardown"]["failures"] == {}
    assert tagged_leftovers(boto, cluster) == []

    # nothing written on the controller: the secrets went to SSM
    assert not (root / "credentials").exists() or not any((root / "credentials").rglob("*"))

    # no secret in any job event, stdout or other artifact (ansible-runner's `command` artifact records the
    # environment it was given, the injected credential included, by design: AWX deletes the private data dir)
    secrets = {
        "the operator's secret key": access["SecretAccessKey"],
        "the private key": "".join(material.strip().splitlines()[1:-1])[:48],
    }
    searched = [path for path in (root / "artifacts").rglob("*") if path.is_file()]
    assert len(searched) > 100  # every stage's events, stdout, rc, status, command
    for path in searched:
        text = path.read_text(errors="replace")
        for what, secret in secrets.items():
            assert secret not in text, "{0} in {1}".format(what, path)
        if path.name != "command":
            assert injected["SecretAccessKey"] not in text, "the injected AWS secret key in {0}".format(path)
