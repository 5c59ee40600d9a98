# -*- coding: utf-8 -*-
"""The identity and network playbooks on the local inventory, end to end, then the teardown."""

import os
import sys

import pytest

from harness import collections_root
from harness import prowler_clean
from harness import tagged_leftovers
from harness import unique
from harness import vpcs_of


@pytest.mark.slow  # identity and network twice, then teardown twice: ~1 min
def test_identity_and_network_playbooks_then_teardown(ansible, boto, local_aws, tmp_path):
    cluster = unique("pb")
    user = cluster + "-alice"
    credentials = tmp_path / "credentials"
    extra = {
        "trainkit_cluster_name": cluster,
        "identity_users": [user],
        "trainkit_credentials_dir": str(credentials),
        "cluster_local_workdir": str(tmp_path / "k8s"),
    }

    rc, first, recap = ansible.playbook(
        "playbooks/identity.yml", "playbooks/network.yml", extra_vars=extra, verbosity=3
    )
    assert rc == 0, first[-3000:]
    assert recap["changed"] > 0 and recap["failed"] == 0

    [vpc] = vpcs_of(boto("ec2"), cluster)
    assert vpc["CidrBlock"] == "172.20.0.0/16"
    assert len(boto("ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]) == 3
    assert [u["UserName"] for u in boto("iam").get_group(GroupName=cluster + "-operators")["Users"]] == [user]
    policy = boto("iam").get_group_policy(GroupName=cluster + "-operators", PolicyName="kms-cloudformation")
    assert cluster in str(policy["PolicyDocument"]) and "123456789012" in str(policy["PolicyDocument"])

    rc, second, recap = ansible.playbook("playbooks/identity.yml", "playbooks/network.yml", extra_vars=extra)
    assert rc == 0, second[-3000:]
    assert recap["changed"] == 0, second[-3000:]

    # the access key reached its file and nothing else: not the output, not the log, not the endpoint's log
    key_file = credentials / (user + ".credentials")
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
    fields = dict(line.split(" = ") for line in key_file.read_text().splitlines() if " = " in line)
    secret, key_id = fields["aws_secret_access_key"], fields["aws_access_key_id"]
    assert len(secret) >= 20
    logs = [first, second, open(ansible.log_path).read(), open(os.path.join(local_aws.state_dir, "server.log")).read()]
    for text in logs:
        assert secret not in text
        assert key_id not in text

    # a loaded endpoint is still found and reused (its state is what the next playbook run needs)
    restart = local_aws.tool("start")
    assert restart.stdout.strip().splitlines()[-1] == local_aws.url and "reusing" in restart.stderr

    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert tagged_leftovers(boto, cluster) == []
    assert not key_file.exists()
    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]


def test_site_check_mode_on_an_empty_account_changes_nothing(ansible, boto, local_aws, tmp_path):
    """site.yml --check on an account without the cluster runs to the end, says what it would build, calls AWS
    read-only, and leaves nothing behind; the ids AWS would assign show as placeholders."""
    cluster = unique("chk")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "cluster_local_workdir": str(tmp_path / "k8s"),
    }
    mark = local_aws.mark()
    rc, output, recap = ansible.playbook("site.yml", extra_vars=extra, check=True)
    assert rc == 0, output[-4000:]
    assert recap["changed"] > 0 and recap.get("failed", 0) == 0
    assert local_aws.changes(mark) == [], "a --check run only reads"
    assert tagged_leftovers(boto, cluster) == []
    flat = " ".join(output.split())
    assert "vpc: vpc-(known after apply)" in flat and "jobs would be submitted after it starts" in flat
    assert not (tmp_path / "k8s").exists(), "check mode starts no control plane"
    # the cost estimate, from the endpoint's price list (tools/local_prices.py): two m5.xlarge at $0.192, two
    # g5.xlarge at $1.006, 1200 GiB of SCRATCH_2 FSx at $0.14 per GB-month; in the preflight and in the summary
    estimate = "About $2.63 an hour ($1,917 a month of 730 hours) on demand, from the AWS Price List"
    assert flat.count(estimate) == 2, flat[-3000:]
    assert "estimate: " + estimate in flat and "node group gpu (g5.xlarge): $2.012" in flat


def test_a_bad_variable_of_the_last_stage_leaves_the_account_untouched(ansible, boto, local_aws, tmp_path):
    """Every stage's variables are checked before the first change: site.yml with a bad storage variable (and a
    bad network and identity one) fails listing all of them, before a single AWS request."""
    cluster = unique("bad")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "cluster_local_workdir": str(tmp_path / "k8s"),
        "storage_fsx_storage_capacity": 1300,
        "storage_efs_access_points": [{"name": "data", "path": "data"}],
        "network_private_zone_records": [{"name": "api", "type": "A", "value": ["api.example.com"]}],
        "identity_bucket_name": "Team_Bucket",
    }
    mark = local_aws.mark()
    rc, output, _recap = ansible.playbook("site.yml", extra_vars=extra)
    assert rc != 0
    assert "Invalid inventory, nothing was changed" in output
    for problem in (
        "storage_fsx.storage_capacity 1300 is not allowed for SCRATCH_2",
        "storage_efs.access point data: path 'data' must start with '/'",
        "network_private_zone_records[0].value: 'api.example.com' is not an IPv4 address",
        "identity_bucket_name: bucket name 'Team_Bucket' is not legal",
    ):
        assert problem in " ".join(output.split()), problem
    assert local_aws.requests(mark) == [], "not one AWS request"
    assert tagged_leftovers(boto, cluster) == []


@pytest.mark.slow  # site.yml twice and in check mode, teardown.yml in check mode and twice for real: ~4 min
@pytest.mark.k8s
@pytest.mark.training
@pytest.mark.mpi
@pytest.mark.xdist_group("local_site_run")  # the run test_operator_policy.py checks too: one worker makes it
def test_site_runs_and_local_inventory_refuses_other_endpoints(ansible, boto, local_aws, local_site_run, tmp_path):
    """site.yml on the local inventory's defaults, again (nothing changes), in check mode (only reads), then
    teardown.yml in check mode and for real. The run is the least-privilege operator's (conftest.py's
    local_site_run), which test_operator_policy.py checks against the recorded policy."""
    cluster = unique("site")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "cluster_local_workdir": str(tmp_path / "k8s"),
    }
    # no AWS_ENDPOINT_URL and no local endpoint running (an empty state directory): refused before any change
    nowhere = {"AWS_ENDPOINT_URL": "", "TRAINKIT_STATE_DIR": str(tmp_path / "no-state")}
    rc, output, _recap = ansible.playbook("playbooks/network.yml", extra_vars=extra, env=nowhere)
    assert rc != 0 and "tools/local-aws start" in output
    assert vpcs_of(boto("ec2"), cluster) == []

    rc, output, _recap = ansible.playbook(
        "playbooks/network.yml", extra_vars=dict(extra, trainkit_cluster_name="bad_name")
    )
    assert rc != 0 and "must start with a letter" in output

    run, seen = local_site_run, local_site_run.after_site
    output = run.site.output
    assert run.site.rc == 0 and run.site.recap["changed"] > 0, output[-3000:]
    # the add-ons stage: the device plugin on the GPU node group's nodes, the smoke test on one, the MPI operator
    assert "GPU 0: simulated GPU of g5.xlarge on node" in output, output[-3000:]
    assert "mpi_operator: 0.7.0" in output.split("Summary |", 1)[-1]
    # no SSH test bed up: the nodes stage's plays match no host and are skipped
    nodes_stage = output.split("PLAY [Nodes | EFS and FSx for Lustre mounted on every node]", 1)[1]
    assert nodes_stage.split("\n", 2)[1].strip() == "skipping: no hosts matched", nodes_stage[:500]
    [vpc] = seen["vpcs"]
    summary = output.split("Summary |", 1)[-1]
    assert "vpc: " + vpc in summary, "the summary names the VPC"
    # the data-split job and a real 3-worker PaddlePaddle job ran on the local cluster, their outputs on the claim
    assert "status: succeeded" in summary and "world_size: 3" in summary, summary[-3000:]
    assert seen["outputs"] == ["node_0", "node_1", "node_2"]
    assert run.again.rc == 0 and run.again.recap["changed"] == 0, run.again.output[-3000:]

    # check mode on the fully built account: nothing to do, nothing called but reads
    rc, output, recap = seen["check_site"]
    assert rc == 0 and recap["changed"] == 0, output[-3000:]
    # teardown --check: runs to the end (storage still exists when the network step looks), reports the deletes
    rc, output, recap = seen["check_teardown"]
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    assert "a real run deletes the network only once they are gone" in " ".join(output.split())
    assert seen["check_changes"] == []
    assert seen["after_check"] == seen["built"]

    # the teardown: its first run removes everything but the VPC (the one call the operator may not make there),
    # the second ends it
    output = run.short.output
    assert "changed: [localhost] => (item=fit-a-line)" in output and "(item=fit-a-line-split)" in output
    assert "Addons | Remove the MPI operator" in output and "Addons | Remove the NVIDIA device plugin" in output
    assert run.teardown.rc == 0, run.teardown.output[-3000:]
    assert run.leftovers == []


def test_a_role_in_a_play_of_your_own_uses_the_inventory_region(ansible, boto, tmp_path):
    """No module_defaults in the play and the environment pointing at another region: the role's own AWS settings
    (network_region from the inventory) decide where the network is built."""
    cluster = unique("own")
    playbook = tmp_path / "own-play.yml"
    playbook.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: trainkit.aws.network
""")
    extra = {"trainkit_cluster_name": cluster, "network_private_zone_name": ""}
    elsewhere = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    rc, output, _recap = ansible.playbook(str(playbook), extra_vars=extra, env=elsewhere)
    assert rc == 0, output[-3000:]
    assert len(vpcs_of(boto("ec2"), cluster)) == 1, "built in the inventory's region, us-west-2"
    rc, output, _recap = ansible.playbook(str(playbook), extra_vars=dict(extra, network_state="absent"), env=elsewhere)
    assert rc == 0, output[-3000:]
    assert vpcs_of(boto("ec2"), cluster) == []


def test_module_defaults_action_group(ansible, boto, local_aws, tmp_path):
    """group/trainkit.aws.aws sets the AWS options of every module: here the environment points nowhere."""
    alias = unique("grouped")
    playbook = tmp_path / "grouped.yml"
    playbook.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  module_defaults:
    group/trainkit.aws.aws:
      region: us-west-2
      endpoint_url: {url}
      access_key: testing
      secret_key: testing
  tasks:
    - name: Key through the group defaults
      trainkit.aws.kms_key:
        alias: {alias}
    - name: And away again
      trainkit.aws.kms_key:
        alias: {alias}
        state: absent
""".format(url=local_aws.url, alias=alias))
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_REGION": "",
        "AWS_DEFAULT_REGION": "",
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
    }
    rc, output, recap = ansible.playbook(str(playbook), inventory="localhost,", env=env)
    assert rc == 0, output[-3000:]
    assert recap["changed"] == 2


@pytest.mark.slow  # the storage stage twice (EFS and FSx life cycles) and the teardown: ~1.5 min
@pytest.mark.k8s
def test_storage_then_teardown_leaves_nothing(ansible, boto, tmp_path):
    cluster = unique("st")
    extra = {
        "trainkit_cluster_name": cluster,
        "trainkit_credentials_dir": str(tmp_path),
        "cluster_local_workdir": str(tmp_path / "k8s"),
        "trainkit_storage_backend": "both",
        "storage_efs_access_points": [{"name": "results", "path": "/results"}],
    }
    rc, output, recap = ansible.playbook("playbooks/storage.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    [fs] = boto("efs").describe_file_systems(CreationToken="trainkit-" + cluster)["FileSystems"]
    assert len(boto("efs").describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]) == 3

    sys.path.insert(0, collections_root())
    from ansible_collections.trainkit.aws.plugins.module_utils.k8s import Client

    client = Client(str(tmp_path / "k8s" / "kubeconfig"))
    try:
        claims = client.request("GET", "/api/v1/namespaces/default/persistentvolumeclaims")[1]["items"]
        phases = dict((c["metadata"]["name"], c["status"]["phase"]) for c in claims)
        assert phases == {"efsvol": "Bound", "fsxvol": "Bound"}
        efs_pv = client.get({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": cluster + "-efs"}})
        assert efs_pv["spec"]["nfs"] == {"server": fs["FileSystemId"] + ".efs.us-west-2.amazonaws.com", "path": "/"}
        assert efs_pv["spec"]["mountOptions"] == [
            "nfsvers=4.1",
            "rsize=1048576",
            "wsize=1048576",
            "hard",
            "timeo=600",
            "retrans=2",
            "noresvport",
        ]
        fsx_pv = client.get({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": cluster + "-fsx"}})
        assert fsx_pv["spec"]["csi"]["driver"] == "fsx.csi.aws.com"
        assert set(fsx_pv["spec"]["csi"]["volumeAttributes"]) == {"dnsname", "mountname"}
    finally:
        client.close()

    rc, output, recap = ansible.playbook("playbooks/storage.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]

    early = ansible.module("vpc_network", {"cluster_name": cluster, "state": "absent"})
    assert early.failed and fs["FileSystemId"] in early["msg"]

    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert tagged_leftovers(boto, cluster) == []
    assert not (tmp_path / "k8s" / "state.json").exists(), "the local control plane was stopped"


@pytest.mark.slow  # reads the local site run (see test_site_runs_and_local_inventory_refuses_other_endpoints)
@pytest.mark.xdist_group("local_site_run")
def test_the_local_site_passes_prowler(local_site_run):
    """After site.yml on the local inventory, Prowler (a scanner we did not write) over the account finds nothing
    wrong with the cluster's resources: no ingress from the world, EFS and S3 encrypted at rest; our own checks fill
    its gaps - every rule of every group, attached or not (open_to_the_world), and FSx encrypted at rest."""
    seen = local_site_run.after_site
    assert local_site_run.site.rc == 0, local_site_run.site.output[-3000:]
    checks = (
        "ec2_securitygroup_allow_ingress_from_internet_to_any_port",
        "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",
        "efs_encryption_at_rest_enabled",
        "s3_bucket_default_encryption",
    )
    prowler_clean(seen["prowler"], checks, "prowler-local-site")
    assert seen["open_to_the_world"] == []
    assert seen["fsx_encrypted"] and all(encrypted for _id, encrypted in seen["fsx_encrypted"]), seen["fsx_encrypted"]


@pytest.mark.slow  # reads the local site run (see test_site_runs_and_local_inventory_refuses_other_endpoints)
@pytest.mark.xdist_group("local_site_run")
def test_each_stage_playbook_alone_finds_what_site_built(local_site_run):
    """After site.yml, each stage playbook in a run of its own (no facts from earlier plays) finds what exists by
    its names and tags and changes nothing - the README's promise that any playbook runs on its own."""
    assert local_site_run.site.rc == 0, local_site_run.site.output[-3000:]
    for stage, (rc, changed, tail) in local_site_run.after_site["stages_alone"].items():
        assert rc == 0 and changed == 0, (stage, rc, changed, tail)
