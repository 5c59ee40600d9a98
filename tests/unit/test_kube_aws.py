# -*- coding: utf-8 -*-
"""kube-aws's asset directory as kube_aws_cluster manages it: cluster.yaml keys, fingerprints, template fixes."""

import json

from ansible_collections.trainkit.aws.plugins.module_utils import _kube_aws as assets

CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
PARAMS = {
    "cluster_name": "demo",
    "region_name": "us-west-2",
    "s3_uri": "s3://assets/kube-aws/",
    "ami_id": "ami-0123456789abcdef0",
    "key_name": "demo",
    "kms_key_arn": "arn:aws:kms:us-west-2:123456789012:key/k",
    "kubernetes_version": "1.16.10",
    "external_dns_name": "demo.k8s.internal",
    "hosted_zone_id": None,
    "api_access_cidrs": [],
    "api_security_group_ids": ["sg-master"],
    "ssh_access_cidrs": [],
    "vpc_cidr": "172.20.0.0/16",
    "availability_zone": None,
    "vpc_id": "vpc-1",
    "controller_count": 2,
    "controller_instance_type": None,
    "etcd_count": 3,
    "node_pools": [
        {"name": "gpu-pool", "instance_type": "p3.2xlarge", "count": 2, "zones": ["us-west-2b"], "labels": {"a": 1}},
        {
            "name": "cpu",
            "instance_type": "m5.large",
            "count": 1,
            "taints": [{"key": "k", "effect": "NoSchedule"}],
            "managed_policies": [CSI_POLICY],
        },
    ],
    "tags": {"team": "ml"},
    "extra_config": {"kubernetes": {"networking": {"selfHosting": {"type": "flannel"}}}},
}
SUBNETS = [{"id": "subnet-a", "az": "us-west-2a"}, {"id": "subnet-b", "az": "us-west-2b"}]


def test_cluster_config_sets_its_keys_and_keeps_the_rest():
    base = {
        "clusterName": "old",
        "availabilityZone": "us-west-2a",
        "apiEndpoints": [{"name": "default", "loadBalancer": {"recordSetManaged": True, "private": True}}],
        "kubernetes": {"networking": {"selfHosting": {"type": "canal", "typha": False}}},
        "kubeAwsPlugins": {"dashboard": {"enabled": True}},
        "mine": "kept",
    }
    config = assets.cluster_config(base, PARAMS, SUBNETS, "f1")
    assert config["mine"] == "kept" and base["clusterName"] == "old", "the base is not changed"
    assert config["clusterName"] == "demo" and config["s3URI"] == "s3://assets/kube-aws"
    assert config["kubernetesVersion"] == "v1.16.10"
    assert "availabilityZone" not in config, "kube-aws refuses it beside subnets"
    assert config["subnets"] == [
        {"name": "Subnet1", "id": "subnet-a", "availabilityZone": "us-west-2a"},
        {"name": "Subnet2", "id": "subnet-b", "availabilityZone": "us-west-2b"},
    ]
    balancer = config["apiEndpoints"][0]["loadBalancer"]
    assert balancer == {
        "private": True,
        "recordSetManaged": False,
        "subnets": [{"name": "Subnet1"}, {"name": "Subnet2"}],
        # never kube-aws's default 0.0.0.0/0 (pkg/api/api_endpoint_lb.go): only the network's master group
        "apiAccessAllowedSourceCIDRs": [],
        "securityGroupIds": ["sg-master"],
    }
    # nor its SSH and ICMP from anywhere (sshAccessAllowedSourceCIDRs, openICMP)
    assert config["sshAccessAllowedSourceCIDRs"] == [] and config["openICMP"] is False
    assert config["vpcCIDR"] == "172.20.0.0/16"
    listed = assets.cluster_config(base, dict(PARAMS, api_access_cidrs=["203.0.113.0/24"]), SUBNETS, "f1")
    assert listed["apiEndpoints"][0]["loadBalancer"]["apiAccessAllowedSourceCIDRs"] == ["203.0.113.0/24"]
    gpu, cpu = config["worker"]["nodePools"]
    assert gpu["subnets"] == [{"name": "Subnet2"}] and "nodePoolRollingStrategy" not in gpu
    assert gpu["amiId"] == PARAMS["ami_id"] and gpu["nodeLabels"] == {"a": "1"}
    assert cpu["nodePoolRollingStrategy"] == "Parallel", "a pool across zones cannot roll by zone"
    assert "iam" not in gpu
    assert cpu["iam"] == {"role": {"managedPolicies": [{"arn": CSI_POLICY}]}}
    assert cpu["taints"] == [{"key": "k", "value": "", "effect": "NoSchedule"}]
    assert config["controller"]["count"] == 2 and config["etcd"]["count"] == 3
    assert config["kubeAwsPlugins"]["dashboard"]["enabled"] is False
    assert config["stackTags"] == {
        "trainkit:cluster": "demo",
        "KubernetesCluster": "demo",
        "team": "ml",
        assets.FINGERPRINT_TAG: "f1",
    }
    assert config["kubernetes"]["networking"]["selfHosting"] == {"type": "flannel", "typha": False}, "extra_config"
    again = assets.cluster_config(config, PARAMS, SUBNETS, "f1")
    assert json.dumps(again) == json.dumps(config), "stable, key order included"


def test_cluster_config_without_subnets_and_with_a_zone():
    params = dict(PARAMS, vpc_id=None, availability_zone="us-west-2c", hosted_zone_id="Z1")
    config = assets.cluster_config({}, params, [])
    assert config["availabilityZone"] == "us-west-2c" and "subnets" not in config
    assert config["apiEndpoints"][0]["loadBalancer"] == {
        "apiAccessAllowedSourceCIDRs": [],
        "securityGroupIds": ["sg-master"],
        "hostedZone": {"id": "Z1"},
    }
    assert "vpc" not in config and "subnets" not in config["worker"]["nodePools"][0]


def test_fingerprint_follows_the_inputs_only(tmp_path):
    for name, text in (("stack-templates/root.json.tmpl", "{}"), ("credentials/ca.pem", "CA")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    config = assets.cluster_config({}, PARAMS, SUBNETS)
    first = assets.fingerprint(str(tmp_path), config)
    (tmp_path / "credentials" / "ca.pem.enc").write_text("ciphertext, new on every render")
    tagged = assets.cluster_config({}, PARAMS, SUBNETS, first)
    assert assets.fingerprint(str(tmp_path), tagged) == first, "derived files and the tag itself do not count"
    (tmp_path / "stack-templates" / "root.json.tmpl").write_text('{"edited": true}')
    assert assets.fingerprint(str(tmp_path), config) != first
    more = dict(PARAMS, node_pools=[dict(PARAMS["node_pools"][0], count=3)])
    assert assets.fingerprint(str(tmp_path), assets.cluster_config({}, more, SUBNETS)) != assets.fingerprint(
        str(tmp_path), config
    )


def test_duplicate_resource_keeps_the_last_definition():
    template = """{
  "Resources": {
    "Dup": {
      "Properties": {"FromPort": 443, "Note": "a } in a string"},
      "Type": "AWS::EC2::SecurityGroupIngress"
    },
    {{if .Something}}"Other": {"Type": "X"},{{end}}
    "Dup": {
      "Properties": {"IpProtocol": "-1"},
      "Type": "AWS::EC2::SecurityGroupIngress"
    }
  }
}"""
    fixed = assets.drop_duplicate_key(template, "Dup")
    assert fixed.count('"Dup"') == 1 and '"IpProtocol": "-1"' in fixed and "443" not in fixed
    assert "{{if .Something}}" in fixed
    assert assets.drop_duplicate_key(fixed, "Dup") == fixed, "idempotent"


def test_names_kube_aws_and_cloudformation_would_build():
    assert assets.logical_name("gpu-pool") == "Gpupool"
    assert assets.role_name_problems("paddle-demo", ["gpu"], "us-west-2") == []
    [problem] = assets.role_name_problems("paddle-demo", ["g" * 40], "us-west-2")
    assert "node pool " + "g" * 40 in problem and "over IAM's 64" in problem
    [control] = assets.role_name_problems("a" * 28, [], "us-west-2")
    assert "the control plane" in control and "by 1" in control
    assert all(len(n) <= 128 for n in assets.nested_stack_names("paddle-demo", ["gpu"]))


def test_every_aws_module_is_in_the_aws_action_group():
    """Roles hand their AWS settings to modules through module_defaults of group/trainkit.aws.aws."""
    import glob
    import os

    import yaml

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "meta", "runtime.yml")) as handle:
        group = set(yaml.safe_load(handle)["action_groups"]["aws"])
    aws_modules = set()
    for path in glob.glob(os.path.join(root, "plugins", "modules", "*.py")):
        with open(path) as handle:
            if "AWSModule(" in handle.read():
                aws_modules.add(os.path.basename(path)[:-3])
    assert "kube_aws_cluster" in aws_modules
    assert aws_modules - group <= {"validate_inputs"}, aws_modules - group


def test_the_api_load_balancers_icmp_comes_from_the_vpc_not_the_world():
    """kube-aws v0.16.4's network.json.tmpl admits ICMP from 0.0.0.0/0 to SecurityGroupElbAPIServer whatever
    cluster.yaml says (found by the kube-aws site test's world-open check); the fix admits it from the VPC and leaves
    the other groups' world egress alone."""
    template = """{
  "Resources": {
    "SecurityGroupElbAPIServer" : {
      "Properties": {
        "GroupDescription": {
          "Ref": "AWS::StackName"
        },
        "SecurityGroupIngress": [
          {
             "CidrIp": "0.0.0.0/0",
             "FromPort": -1,
             "IpProtocol": "icmp",
             "ToPort": -1
          }
        ]
      }
    },
    "SecurityGroupController": {"Properties": {"SecurityGroupEgress": [{"CidrIp": "0.0.0.0/0", "IpProtocol": "icmp"}]}}
  }
}"""
    fixed = assets.no_world_icmp(template)
    assert fixed.count("0.0.0.0/0") == 1 and '"CidrIp": "{{$.VPCCIDR}}"' in fixed
    assert assets.no_world_icmp(fixed) == fixed


def test_spot_and_mixed_node_pools_are_refused_with_the_provider_that_has_them():
    from ansible_collections.trainkit.aws.plugins.module_utils import _kube_aws as kube_aws_cluster

    pool = {"name": "gpu", "instance_type": "p3.2xlarge", "instance_types": [], "spot": False, "count": 1, "taints": []}
    assert kube_aws_cluster.pool_problems([pool]) == []
    for extra in ({"spot": True}, {"instance_type": None, "instance_types": ["p3.2xlarge", "p3.8xlarge"]}):
        found = kube_aws_cluster.pool_problems([dict(pool, **extra)])
        assert any("spot and instance_types are for the eksctl and local providers" in p for p in found), found
