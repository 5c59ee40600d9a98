# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS on the local AWS endpoint, enough for the real eksctl: loaded by tools/local_aws_server.py.

moto models EKS clusters and node groups, but eksctl needs more of AWS than that:

- EKS calls moto has no route for: DescribeClusterVersions, DescribeAddonVersions, DescribeAddonConfiguration,
  CreateAddon/DescribeAddon/ListAddons/DeleteAddon, and the access entries API;
- CloudFormation stacks whose templates hold ``AWS::EKS::Cluster`` and ``AWS::EKS::Nodegroup`` (eksctl creates
  every cluster and managed node group that way): they are created through moto's EKS model, their ``GetAtt``
  attributes answer, and deleting the stack deletes them; ``UpdateTerminationProtection`` works;
- a cluster's ``endpoint`` and ``certificateAuthority`` are the local control plane's (tools/local-k8s), when one
  runs, so the kubeconfig eksctl writes reaches a real API server, whose token webhook (tools/local_token_webhook.py)
  accepts the ``aws eks get-token`` tokens of this endpoint;
- a node group's instances appear in that control plane as simulated nodes (kwok) with the node group's labels,
  taints and instance type, and go again when the node group is deleted or scaled down.
"""

import base64
import datetime
import json
import os
import re
import importlib.util
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request

from local_k8s import cache_root  # the same cache directory tools/local-k8s uses (tools/ is on sys.path)


def _load_instance_types():
    """plugins/module_utils/instance_types.py (pure Python): the node logic the local_cluster module uses too."""
    path = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "plugins", "module_utils", "instance_types.py"
    )
    spec = importlib.util.spec_from_file_location("trainkit_instance_types", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INSTANCE_TYPES = _load_instance_types()
NODE_CLUSTER = "alpha.eksctl.io/cluster-name"
NODE_GROUP = "eks.amazonaws.com/nodegroup"
TAINTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}

VERSIONS = ("1.30", "1.31", "1.32", "1.33", "1.34")
DEFAULT_VERSION = "1.34"
PLATFORM = "eks.10"
# addon -> versions (newest first); every one is compatible with every version above
ADDONS = {
    "vpc-cni": ("v1.20.4-eksbuild.1", "v1.19.6-eksbuild.1"),
    "kube-proxy": ("v1.34.1-eksbuild.2", "v1.33.5-eksbuild.2"),
    "coredns": ("v1.12.4-eksbuild.1", "v1.11.4-eksbuild.24"),
    "metrics-server": ("v0.8.0-eksbuild.2",),
    "aws-ebs-csi-driver": ("v1.51.1-eksbuild.1",),
    "aws-efs-csi-driver": ("v2.1.13-eksbuild.1",),
    "aws-mountpoint-s3-csi-driver": ("v2.1.0-eksbuild.1",),
    "eks-pod-identity-agent": ("v1.3.9-eksbuild.3",),
}
# where a cluster's API server is when no local control plane runs: a loopback port nothing listens on
UNREACHABLE = "https://127.0.0.1:9"
ADDON_TYPES = {"aws-ebs-csi-driver": "storage", "aws-efs-csi-driver": "storage", "vpc-cni": "networking"}
ADDON_SCHEMA = json.dumps({"$schema": "http://json-schema.org/draft-06/schema#", "type": "object", "properties": {}})


def now():
    return datetime.datetime.now(datetime.timezone.utc).timestamp()


def json_answer(status, document, request_id):
    payload = json.dumps(document).encode()
    reasons = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    return "{0} {1}".format(status, reasons.get(status, "Error")), headers, payload


def json_error(status, code, message, request_id):
    line, headers, payload = json_answer(status, {"message": message}, request_id)
    return line, headers + [("x-amzn-ErrorType", code)], payload


def xml_answer(operation, inner, request_id):
    body = (
        '<{0}Response xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><{0}Result>{1}</{0}Result>'
        "<ResponseMetadata><RequestId>{2}</RequestId></ResponseMetadata></{0}Response>"
    ).format(operation, inner, request_id)
    return "200 OK", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()


class LocalEKS:
    """The EKS calls and CloudFormation resources moto lacks, and the tie to the local control plane."""

    def __init__(self, control_plane_dir=None):
        self.control_plane_dir = control_plane_dir
        self.addons = {}  # (region, cluster) -> {name: addon}
        self.access_entries = {}  # (region, cluster) -> {principalArn: entry}
        self.lock = threading.Lock()

    def workdir(self):
        return self.control_plane_dir or os.path.join(cache_root(), "local-k8s")

    def control_plane(self):
        """(endpoint, base64 CA) of the local control plane when it runs, else an unreachable one."""
        workdir = self.workdir()
        try:
            with open(os.path.join(workdir, "state.json")) as handle:
                server = json.load(handle)["server"]
            with open(os.path.join(workdir, "pki", "ca.crt"), "rb") as handle:
                return server, base64.b64encode(handle.read()).decode()
        except (OSError, ValueError, KeyError):
            return UNREACHABLE, self.throwaway_ca()

    def throwaway_ca(self):
        """A real, unused CA certificate (base64 PEM): what eksctl parses when no control plane runs."""
        if getattr(self, "_ca", None) is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID

            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
            start = datetime.datetime.now(datetime.timezone.utc)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(start + datetime.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            self._ca = base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()
        return self._ca

    # -- nodes ------------------------------------------------------------------------------------------
    def kube(self, method, path, body=None, content_type="application/json"):
        """One call to the local control plane as its admin; None when no control plane runs."""
        workdir = self.workdir()
        try:
            with open(os.path.join(workdir, "state.json")) as handle:
                server = json.load(handle)["server"]
        except (OSError, ValueError, KeyError):
            return None
        pki = os.path.join(workdir, "pki")
        context = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        context.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(server + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return {}
            raise

    def pod_network(self):
        """The second octets of the control plane's pod network and node addresses (tools/local-k8s publishes
        them in kube-system/trainkit-local-network; 127.10 and 127.11 for a plane that did not)."""
        data = (self.kube("GET", "/api/v1/namespaces/kube-system/configmaps/trainkit-local-network") or {}).get("data")
        try:
            return int(data["pods"].split(".")[1]), int(data["nodes"].split(".")[1])
        except (TypeError, KeyError, IndexError, ValueError):
            return 10, 11

    def sync_nodes(self, region, cluster_name, group_name):
        """The node group's simulated nodes: as many as its desired size (none once it is gone)."""
        cluster = eks_backend(region).clusters.get(cluster_name)
        group = cluster.nodegroups.get(group_name) if cluster is not None else None
        if group is not None and group.status not in ("ACTIVE", "UPDATING"):
            return
        selector = urllib.parse.quote("{0}={1},{2}={3}".format(NODE_CLUSTER, cluster_name, NODE_GROUP, group_name))
        listing = self.kube("GET", "/api/v1/nodes?labelSelector=" + selector)
        if listing is None:
            return  # no control plane: the node group has no nodes anyone could see
        current = sorted(n["metadata"]["name"] for n in listing.get("items", []))
        wanted = int((group.scaling_config or {}).get("desiredSize", 0)) if group is not None else 0
        for name in current[wanted:]:
            self.kube("DELETE", "/api/v1/nodes/" + name)
        if len(current) >= wanted:
            return
        pods, addresses = self.pod_network()
        used = set()
        for node in self.kube("GET", "/api/v1/nodes").get("items", []):
            cidr = node.get("spec", {}).get("podCIDR") or ""
            if cidr.startswith("127.{0}.".format(pods)):
                used.add(int(cidr.split(".")[2]))
        free = [n for n in range(1, 255) if n not in used]
        zones = sorted(set(ec2_backend(region).get_subnet(s).availability_zone for s in group.subnets)) or [
            region + "a"
        ]
        instance_type = (group.instance_types or ["m5.large"])[0]
        for index in range(len(current), wanted):
            octet = free.pop(0)
            name = "ip-127-{0}-{1}-1.{2}.compute.internal".format(addresses, octet, region)
            node = INSTANCE_TYPES.node_object(
                cluster_name,
                region,
                group_name,
                instance_type if instance_type in INSTANCE_TYPES.INSTANCE_TYPES else "m5.large",
                name,
                zones[index % len(zones)],
                "127.{0}.{1}.0/24".format(pods, octet),
                "127.{0}.{1}.1".format(addresses, octet),
                labels=group.labels,
                taints=[
                    {"key": t.get("key"), "value": t.get("value"), "effect": TAINTS.get(t.get("effect"))}
                    for t in group.taints or []
                ],
                extra_labels={
                    NODE_CLUSTER: cluster_name,
                    "eks.amazonaws.com/capacityType": group.capacity_type,
                    "eks.amazonaws.com/nodegroup-image": "ami-0123456789abcdef0",
                },
                # an EFA group's nodes (trainkit labels them): their EFA interfaces for the EFA device plugin
                efa=(group.labels or {}).get(INSTANCE_TYPES.EFA_LABEL) == "true",
            )
            self.kube("POST", "/api/v1/nodes", node)

    def later_sync(self, seconds, region, cluster_name, group_name):
        REALISM.clock.later(seconds, lambda: self.sync_nodes(region, cluster_name, group_name))

    # -- dispatch --------------------------------------------------------------------------------------
    def serves(self, service, operation):
        """Whether answer() serves this call (rather than moto)."""
        if service == "eks":
            return hasattr(self, "eks_" + (operation or ""))
        return service == "cloudformation" and operation == "UpdateTerminationProtection"

    def answer(self, service, operation, environ, body, request_id):
        """(status line, headers, payload) for a call this layer serves, else None (moto answers)."""
        region = region_of(environ)
        path = urllib.parse.unquote(environ.get("PATH_INFO", "/")).rstrip("/")
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
        if service == "eks":
            handler = getattr(self, "eks_" + (operation or ""), None)
            if handler is not None:
                return handler(region, path, query, load(body), request_id)
        if service == "cloudformation" and operation == "UpdateTerminationProtection":
            return self.cfn_termination_protection(region, environ, body, request_id)
        return None

    # -- EKS calls moto has no route for ---------------------------------------------------------------
    def eks_DescribeClusterVersions(self, region, path, query, body, request_id):
        wanted = [v for v in query.get("clusterVersions", "").split(",") if v]
        listed = []
        for version in VERSIONS:
            if wanted and version not in wanted:
                continue
            if query.get("defaultOnly") == "true" and version != DEFAULT_VERSION:
                continue
            minor = int(version.split(".")[1])
            listed.append(
                {
                    "clusterVersion": version,
                    "clusterType": "eks",
                    "defaultPlatformVersion": PLATFORM,
                    "defaultVersion": version == DEFAULT_VERSION,
                    "releaseDate": 1700000000 + minor * 7776000,
                    "endOfStandardSupportDate": 1800000000 + minor * 7776000,
                    "endOfExtendedSupportDate": 1830000000 + minor * 7776000,
                    "status": "STANDARD_SUPPORT",
                    "versionStatus": "STANDARD_SUPPORT",
                    "kubernetesPatchVersion": version + ".4",
                }
            )
        return json_answer(200, {"clusterVersions": listed}, request_id)

    def eks_DescribeAddonVersions(self, region, path, query, body, request_id):
        version = query.get("kubernetesVersion")
        if version and version not in VERSIONS:
            return json_answer(200, {"addons": []}, request_id)
        listed = []
        for name, versions in sorted(ADDONS.items()):
            if query.get("addonName") and query["addonName"] != name:
                continue
            listed.append(
                {
                    "addonName": name,
                    "type": ADDON_TYPES.get(name, "other"),
                    "owner": "aws",
                    "publisher": "eks",
                    "addonVersions": [
                        {
                            "addonVersion": v,
                            "architecture": ["amd64", "arm64"],
                            "computeTypes": ["ec2"],
                            "compatibilities": [
                                {"clusterVersion": c, "platformVersions": ["*"], "defaultVersion": i == 0}
                                for c in ([version] if version else VERSIONS)
                            ],
                            "requiresConfiguration": False,
                            "requiresIamPermissions": name in ("vpc-cni", "aws-ebs-csi-driver", "aws-efs-csi-driver"),
                        }
                        for i, v in enumerate(versions)
                    ],
                }
            )
        return json_answer(200, {"addons": listed}, request_id)

    def eks_DescribeAddonConfiguration(self, region, path, query, body, request_id):
        name, version = query.get("addonName"), query.get("addonVersion")
        if version not in ADDONS.get(name, ()):
            return json_error(
                400, "InvalidParameterException", "Addon {0} {1} not found".format(name, version), request_id
            )
        document = {"addonName": name, "addonVersion": version, "configurationSchema": ADDON_SCHEMA}
        document["podIdentityConfiguration"] = []
        return json_answer(200, document, request_id)

    def cluster_or_error(self, region, name, request_id):
        cluster = eks_backend(region).clusters.get(name)
        if cluster is None:
            return None, json_error(
                404, "ResourceNotFoundException", "No cluster found for name: {0}.".format(name), request_id
            )
        return cluster, None

    def eks_CreateAddon(self, region, path, query, body, request_id):
        name = path.split("/")[2]
        cluster, error = self.cluster_or_error(region, name, request_id)
        if error:
            return error
        addon_name = body.get("addonName")
        if addon_name not in ADDONS:
            return json_error(
                400, "InvalidParameterException", "Addon {0} is not supported".format(addon_name), request_id
            )
        with self.lock:
            addons = self.addons.setdefault((region, name), {})
            token = body.get("clientRequestToken")
            if addon_name in addons and token and addons[addon_name].get("_token") == token:
                # a retry of the same request (the SDK's idempotency token): EKS answers it again
                return json_answer(200, {"addon": public(addons[addon_name])}, request_id)
            if addon_name in addons:
                return json_error(
                    409, "ResourceInUseException", "Addon already exists with name: {0}".format(addon_name), request_id
                )
            addons[addon_name] = {
                "addonName": addon_name,
                "clusterName": name,
                "status": "ACTIVE",
                "addonVersion": body.get("addonVersion") or ADDONS[addon_name][0],
                "health": {"issues": []},
                "addonArn": "{0}/addon/{1}".format(cluster.arn.replace(":cluster/", ":addon/"), addon_name),
                "createdAt": now(),
                "modifiedAt": now(),
                "serviceAccountRoleArn": body.get("serviceAccountRoleArn"),
                "tags": body.get("tags") or {},
                "configurationValues": body.get("configurationValues") or "",
                "podIdentityAssociations": [],
                "_token": token,
            }
            return json_answer(200, {"addon": public(addons[addon_name])}, request_id)

    def addon_or_error(self, region, path, request_id):
        parts = path.split("/")
        addon = self.addons.get((region, parts[2]), {}).get(parts[4])
        if addon is None:
            return None, json_error(
                404,
                "ResourceNotFoundException",
                "No addon: {0} found in cluster: {1}".format(parts[4], parts[2]),
                request_id,
            )
        return addon, None

    def eks_DescribeAddon(self, region, path, query, body, request_id):
        addon, error = self.addon_or_error(region, path, request_id)
        return error or json_answer(200, {"addon": public(addon)}, request_id)

    def eks_UpdateAddon(self, region, path, query, body, request_id):
        addon, error = self.addon_or_error(region, path, request_id)
        if error:
            return error
        for key in ("addonVersion", "serviceAccountRoleArn", "configurationValues"):
            if body.get(key):
                addon[key] = body[key]
        addon["modifiedAt"] = now()
        update = {"id": request_id, "status": "Successful", "type": "AddonUpdate", "params": [], "errors": []}
        return json_answer(200, {"update": dict(update, createdAt=now())}, request_id)

    def eks_DeleteAddon(self, region, path, query, body, request_id):
        addon, error = self.addon_or_error(region, path, request_id)
        if error:
            return error
        with self.lock:
            self.addons[(region, path.split("/")[2])].pop(addon["addonName"], None)
        return json_answer(200, {"addon": dict(public(addon), status="DELETING")}, request_id)

    def eks_ListAddons(self, region, path, query, body, request_id):
        name = path.split("/")[2]
        _cluster, error = self.cluster_or_error(region, name, request_id)
        return error or json_answer(200, {"addons": sorted(self.addons.get((region, name), {}))}, request_id)

    # access entries: the cluster creator is an admin, the rest is kept as given
    def eks_CreateAccessEntry(self, region, path, query, body, request_id):
        name = path.split("/")[2]
        cluster, error = self.cluster_or_error(region, name, request_id)
        if error:
            return error
        principal = body.get("principalArn")
        entry = {
            "clusterName": name,
            "principalArn": principal,
            "kubernetesGroups": body.get("kubernetesGroups") or [],
            "accessEntryArn": "{0}/{1}".format(cluster.arn.replace(":cluster/", ":access-entry/"), principal),
            "createdAt": now(),
            "modifiedAt": now(),
            "tags": body.get("tags") or {},
            "username": body.get("username") or principal,
            "type": body.get("type") or "STANDARD",
        }
        with self.lock:
            self.access_entries.setdefault((region, name), {})[principal] = entry
        return json_answer(200, {"accessEntry": entry}, request_id)

    def eks_ListAccessEntries(self, region, path, query, body, request_id):
        name = path.split("/")[2]
        _cluster, error = self.cluster_or_error(region, name, request_id)
        entries = sorted(self.access_entries.get((region, name), {}))
        return error or json_answer(200, {"accessEntries": entries}, request_id)

    def eks_AssociateAccessPolicy(self, region, path, query, body, request_id):
        name = path.split("/")[2]
        document = {"clusterName": name, "principalArn": urllib.parse.unquote(path.split("/")[4])}
        document["associatedAccessPolicy"] = {
            "policyArn": body.get("policyArn"),
            "accessScope": body.get("accessScope"),
            "associatedAt": now(),
            "modifiedAt": now(),
        }
        return json_answer(200, document, request_id)

    def eks_DeleteAccessEntry(self, region, path, query, body, request_id):
        parts = path.split("/")
        with self.lock:
            self.access_entries.get((region, parts[2]), {}).pop(urllib.parse.unquote(parts[4]), None)
        return json_answer(200, {}, request_id)

    # -- CloudFormation ---------------------------------------------------------------------------------
    def cfn_termination_protection(self, region, environ, body, request_id):
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        from moto.cloudformation.models import cloudformation_backends

        backend = cloudformation_backends[account_of(environ)][region]
        name = form.get("StackName")
        stack = backend.stacks.get(name) or next(
            (s for s in backend.stacks.values() if s.name == name and s.status != "DELETE_COMPLETE"), None
        )
        if stack is None:
            return None  # moto's own ValidationError for an unknown stack
        stack.enable_termination_protection = form.get("EnableTerminationProtection") == "true"
        return xml_answer("UpdateTerminationProtection", "<StackId>{0}</StackId>".format(stack.stack_id), request_id)


def public(addon):
    """An addon as EKS shows it (without what this layer keeps for itself)."""
    return dict((k, v) for k, v in addon.items() if not k.startswith("_"))


def load(body):
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def region_of(environ):
    match = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def account_of(environ):
    from moto.core import DEFAULT_ACCOUNT_ID

    return DEFAULT_ACCOUNT_ID


def cluster_version(region, name):
    cluster = eks_backend(region).clusters.get(name)
    return cluster.version if cluster is not None else None


def eks_backend(region):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.eks.models import eks_backends

    return eks_backends[DEFAULT_ACCOUNT_ID][region]


# -- CloudFormation resources -------------------------------------------------------------------------------
def tag_dict(tags):
    if isinstance(tags, dict):
        return dict(tags)
    return dict((t["Key"], t["Value"]) for t in tags or [])


def lower_keys(value):
    """CloudFormation's PascalCase properties as the EKS API's camelCase."""
    if isinstance(value, dict):
        return dict((k[:1].lower() + k[1:], lower_keys(v)) for k, v in value.items())
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def models():
    """The CloudFormation models of AWS::EKS::Cluster and AWS::EKS::Nodegroup, registered with moto on definition."""
    from moto.core.common_models import CloudFormationModel

    class EKSClusterResource(CloudFormationModel):
        __module__ = "moto.eks.trainkit"  # moto files its models by the service its module path names

        def __init__(self, cluster, region):
            self.cluster = cluster
            self.region = region
            self.physical_resource_id = cluster.name

        @staticmethod
        def cloudformation_name_type():
            return "Name"

        @staticmethod
        def cloudformation_type():
            return "AWS::EKS::Cluster"

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr in (
                "Arn",
                "Endpoint",
                "CertificateAuthorityData",
                "ClusterSecurityGroupId",
                "EncryptionConfigKeyArn",
                "OpenIdConnectIssuerUrl",
                "Id",
            )

        def get_cfn_attribute(self, attr):
            c = self.cluster
            return {
                "Arn": c.arn,
                "Endpoint": c.endpoint,
                "CertificateAuthorityData": c.certificate_authority["data"],
                "ClusterSecurityGroupId": c.resources_vpc_config.get("clusterSecurityGroupId", ""),
                "EncryptionConfigKeyArn": "",
                "OpenIdConnectIssuerUrl": c.identity["oidc"]["issuer"],
                "Id": c.name,
            }[attr]

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
            props = cloudformation_json.get("Properties", {})
            vpc_config = lower_keys(props.get("ResourcesVpcConfig") or {})
            cluster = eks_backend(region_name).create_cluster(
                name=props.get("Name") or resource_name,
                role_arn=props["RoleArn"],
                resources_vpc_config=vpc_config,
                version=props.get("Version"),
                kubernetes_network_config=lower_keys(props.get("KubernetesNetworkConfig")) or None,
                logging=lower_keys(props.get("Logging")) or None,
                tags=tag_dict(props.get("Tags")),
                encryption_config=lower_keys(props.get("EncryptionConfig")) or None,
            )
            return cls(cluster, region_name)

        def delete(self, account_id, region_name):
            backend = eks_backend(region_name)
            if backend.clusters.pop(self.cluster.name, None) is not None:
                group = self.cluster.resources_vpc_config.get("clusterSecurityGroupId")
                if group:
                    forget_group(region_name, group)

    class EKSNodegroupResource(CloudFormationModel):
        __module__ = "moto.eks.trainkit"

        def __init__(self, group, region):
            self.group = group
            self.region = region
            self.physical_resource_id = "{0}/{1}".format(group.cluster_name, group.nodegroup_name)

        @staticmethod
        def cloudformation_name_type():
            return "NodegroupName"

        @staticmethod
        def cloudformation_type():
            return "AWS::EKS::Nodegroup"

        @classmethod
        def has_cfn_attr(cls, attr):
            return attr in ("Arn", "ClusterName", "NodegroupName", "Id")

        def get_cfn_attribute(self, attr):
            g = self.group
            return {"Arn": g.arn, "ClusterName": g.cluster_name, "NodegroupName": g.nodegroup_name}.get(
                attr, self.physical_resource_id
            )

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
            props = cloudformation_json.get("Properties", {})
            template = props.get("LaunchTemplate")
            group = eks_backend(region_name).create_nodegroup(
                cluster_name=props["ClusterName"],
                node_role=props["NodeRole"],
                nodegroup_name=props.get("NodegroupName") or resource_name,
                subnets=props.get("Subnets") or [],
                scaling_config=lower_keys(props.get("ScalingConfig")) or None,
                disk_size=props.get("DiskSize"),
                instance_types=props.get("InstanceTypes"),
                ami_type=props.get("AmiType"),
                remote_access=lower_keys(props.get("RemoteAccess")) or None,
                labels=props.get("Labels") or {},
                taints=lower_keys(props.get("Taints")) or [],
                tags=tag_dict(props.get("Tags")),
                launch_template=lower_keys(template) if template else None,
                capacity_type=props.get("CapacityType"),
                version=props.get("Version") or cluster_version(region_name, props["ClusterName"]),
                release_version=props.get("ReleaseVersion"),
            )
            return cls(group, region_name)

        def delete(self, account_id, region_name):
            cluster = eks_backend(region_name).clusters.get(self.group.cluster_name)
            if cluster is not None and cluster.nodegroups.pop(self.group.nodegroup_name, None) is not None:
                cluster.nodegroup_count -= 1
            LOCAL.sync_nodes(region_name, self.group.cluster_name, self.group.nodegroup_name)

    return EKSClusterResource, EKSNodegroupResource


EKS_STACK_TIMES = {
    "AWS::EKS::Cluster": ("eks_cluster_create", "eks_cluster_delete"),
    "AWS::EKS::Nodegroup": ("eks_nodegroup_create", "eks_nodegroup_delete"),
}


def stack_times(stack):
    """Extra (create, delete) seconds a stack takes for the EKS resources its template holds."""
    template = stack.template_dict if isinstance(getattr(stack, "template_dict", None), dict) else {}
    kinds = set(r.get("Type") for r in (template.get("Resources") or {}).values() if isinstance(r, dict))
    create = max([REALISM.time(EKS_STACK_TIMES[k][0]) for k in kinds if k in EKS_STACK_TIMES] or [0.0])
    delete = max([REALISM.time(EKS_STACK_TIMES[k][1]) for k in kinds if k in EKS_STACK_TIMES] or [0.0])
    return create, delete


REALISM = None
LOCAL = None


def install(realism, control_plane_dir):
    """Patch moto's EKS and CloudFormation models; returns the LocalEKS that serves the rest."""
    global REALISM
    REALISM = realism
    models()
    global LOCAL
    eks = LOCAL = LocalEKS(control_plane_dir)
    patch_clusters(eks)
    return eks


def patch_clusters(eks):
    """A new cluster gets what EKS gives it: its cluster security group, and the local control plane's endpoint."""
    from moto.eks.models import EKSBackend

    create_cluster, delete_cluster = EKSBackend.create_cluster, EKSBackend.delete_cluster

    def create(self, *args, **kwargs):
        cluster = create_cluster(self, *args, **kwargs)
        ec2 = ec2_backend(self.region_name)
        subnets = cluster.resources_vpc_config.get("subnetIds") or []
        vpc_id = ec2.get_subnet(subnets[0]).vpc_id if subnets else None
        if vpc_id:
            group = ec2.create_security_group(
                name="eks-cluster-sg-{0}-{1}".format(cluster.name, cluster.arn.__hash__() % 10**10),
                description="EKS created security group applied to ENI that is attached to EKS Control Plane "
                "master nodes, as well as any managed workloads.",
                vpc_id=vpc_id,
                tags={"kubernetes.io/cluster/" + cluster.name: "owned", "aws:eks:cluster-name": cluster.name},
            )
            cluster.resources_vpc_config["clusterSecurityGroupId"] = group.id
            cluster.resources_vpc_config["vpcId"] = vpc_id
        endpoint = eks.control_plane()
        if endpoint:  # the cluster's API server: the local control plane's, or an unreachable one
            cluster.endpoint, cluster.certificate_authority = endpoint[0], {"data": endpoint[1]}
        return cluster

    def delete(self, name):
        cluster = self.clusters.get(name)
        group = cluster.resources_vpc_config.get("clusterSecurityGroupId") if cluster else None
        result = delete_cluster(self, name)
        if group and name not in self.clusters:
            forget_group(self.region_name, group)
        return result

    EKSBackend.create_cluster, EKSBackend.delete_cluster = create, delete
    create_nodegroup, delete_nodegroup = EKSBackend.create_nodegroup, EKSBackend.delete_nodegroup
    update_nodegroup = EKSBackend.update_nodegroup_config

    def create_group(self, *args, **kwargs):
        group = create_nodegroup(self, *args, **kwargs)
        eks.later_sync(REALISM.time("eks_nodegroup_create"), self.region_name, group.cluster_name, group.nodegroup_name)
        return group

    def delete_group(self, cluster_name, nodegroup_name):
        group = delete_nodegroup(self, cluster_name, nodegroup_name)
        eks.later_sync(REALISM.time("eks_nodegroup_delete"), self.region_name, cluster_name, nodegroup_name)
        return group

    def update_group(self, *args, **kwargs):
        update = update_nodegroup(self, *args, **kwargs)
        for cluster in self.clusters.values():
            for group in list(cluster.nodegroups.values()):
                eks.later_sync(0, self.region_name, cluster.name, group.nodegroup_name)
        return update

    EKSBackend.create_nodegroup, EKSBackend.delete_nodegroup = create_group, delete_group
    EKSBackend.update_nodegroup_config = update_group


def forget_group(region, group_id):
    try:
        ec2_backend(region).delete_security_group(group_id=group_id)
    except Exception as exc:  # still in use: AWS too leaves it to whoever uses it
        print("local_eks: cluster security group {0} kept: {1!r}".format(group_id, exc))


def ec2_backend(region):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    return ec2_backends[DEFAULT_ACCOUNT_ID][region]
