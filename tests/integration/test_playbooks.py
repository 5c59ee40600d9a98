# -*- coding: utf-8 -*-
"""The identity and network playbooks on the local inventory, end to end, then the teardown."""

import os
import sys

from harness import collections_root
from harness import mpi_operator_slot
from harness import unique
from harness import vpcs_of


def tagged_leftovers(boto, cluster):
    """Everything in the endpoint that still carries the cluster tag or the cluster's names."""
    ec2, s3, kms, iam, route53 = boto("ec2"), boto("s3"), boto("kms"), boto("iam"), boto("route53")
    tag = [{"Name": "tag:trainkit:cluster", "Values": [cluster]}]
    found = []
    found += [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]]
    found += [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]]
    found += [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]]
    found += [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]]
    found += [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=tag)["RouteTables"]]
    found += [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == cluster]
    found += [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(cluster + "-")]
    found += [a["AliasName"] for a in kms.list_aliases()["Aliases"] if cluster in a["AliasName"]]
    found += [g["GroupName"] for g in iam.list_groups()["Groups"] if g["GroupName"].startswith(cluster)]
    found += [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(cluster)]
    found += [
        p["InstanceProfileName"]
        for p in iam.list_instance_profiles()["InstanceProfiles"]
        if p["InstanceProfileName"].startswith(cluster)
    ]
    found += [u["UserName"] for u in iam.list_users()["Users"] if u["UserName"].startswith(cluster)]
    found += [z["Name"] for z in route53.list_hosted_zones()["HostedZones"] if z["Name"].startswith(cluster + ".")]
    stack_names = (cluster, cluster + "-", "eksctl-" + cluster + "-")  # kube-aws's root and nested stacks, eksctl's
    found += [
        s["StackName"]
        for s in boto("cloudformation").describe_stacks()["Stacks"]
        if s["StackName"].startswith(stack_names)
    ]
    found += [
        g["AutoScalingGroupName"]
        for g in boto("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        if g["AutoScalingGroupName"].startswith(cluster + "-")
    ]
    efs, fsx = boto("efs"), boto("fsx")
    for fs in efs.describe_file_systems(CreationToken="trainkit-" + cluster)["FileSystems"]:
        found.append(fs["FileSystemId"])
        found += [
            t["MountTargetId"] for t in efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
        ]
        found += [
            a["AccessPointId"] for a in efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
        ]
    found += [
        f["FileSystemId"]
        for f in fsx.describe_file_systems()["FileSystems"]
        if {"Key": "trainkit:cluster", "Value": cluster} in f.get("Tags", [])
    ]
    prefix = "/trainkit/{0}/".format(cluster)  # secrets_store ssm / secretsmanager
    found += [
        p["Name"]
        for p in boto("ssm").describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}]
        )["Parameters"]
    ]
    found += [s["Name"] for s in boto("secretsmanager").list_secrets()["SecretList"] if s["Name"].startswith(prefix)]
    return found


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


def test_site_runs_and_local_inventory_refuses_other_endpoints(ansible, boto, local_aws, tmp_path):
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

    with mpi_operator_slot():
        site_run_twice_check_and_teardown(ansible, boto, local_aws, tmp_path, cluster, extra)


def site_run_twice_check_and_teardown(ansible, boto, local_aws, tmp_path, cluster, extra):
    rc, output, recap = ansible.playbook("site.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    # the add-ons stage: the device plugin on the GPU node group's nodes, the smoke test on one, the MPI operator
    assert "GPU 0: simulated GPU of p3.2xlarge on node" in output, output[-3000:]
    assert "mpi_operator: 0.7.0" in output.split("Summary |", 1)[-1]
    # no SSH test bed up: the nodes stage's plays match no host and are skipped
    nodes_stage = output.split("PLAY [Nodes | EFS and FSx for Lustre mounted on every node]", 1)[1]
    assert nodes_stage.split("\n", 2)[1].strip() == "skipping: no hosts matched", nodes_stage[:500]
    [vpc] = vpcs_of(boto("ec2"), cluster)
    summary = output.split("Summary |", 1)[-1]
    assert "vpc: " + vpc["VpcId"] in summary, "the summary names the VPC"
    # the data-split job and a real 3-worker PaddlePaddle job ran on the local cluster, their outputs on the claim
    assert "status: succeeded" in summary and "world_size: 3" in summary, summary[-3000:]
    outputs = tmp_path / "k8s" / "volumes" / "default" / "efsvol" / "fit-a-line" / "output"
    assert sorted(p.name for p in outputs.iterdir()) == ["node_0", "node_1", "node_2"]
    rc, output, recap = ansible.playbook("site.yml", extra_vars=extra)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]

    # check mode on the fully built account: nothing to do, nothing called but reads
    built = sorted(tagged_leftovers(boto, cluster))
    mark = local_aws.mark()
    rc, output, recap = ansible.playbook("site.yml", extra_vars=extra, check=True)
    assert rc == 0 and recap["changed"] == 0, output[-3000:]
    # teardown --check: runs to the end (storage still exists when the network step looks), reports the deletes
    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra, check=True)
    assert rc == 0 and recap["changed"] > 0, output[-3000:]
    assert "a real run deletes the network only once they are gone" in " ".join(output.split())
    assert local_aws.changes(mark) == []
    assert sorted(tagged_leftovers(boto, cluster)) == built

    rc, output, recap = ansible.playbook("playbooks/teardown.yml", extra_vars=extra)
    assert rc == 0, output[-3000:]
    assert "changed: [localhost] => (item=fit-a-line)" in output and "(item=fit-a-line-split)" in output
    assert "Addons | Remove the MPI operator" in output and "Addons | Remove the NVIDIA device plugin" in output
    assert tagged_leftovers(boto, cluster) == []


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
