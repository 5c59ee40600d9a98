# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""moto's server, in this process, behind a realism layer that makes it behave like AWS in time.

    python tools/local_aws_server.py --port N --profile FILE --log FILE

Started by ``tools/local-aws start`` (never by hand). moto answers every call at once and consistently; real AWS
does not. The layer, with times scaled down, gives:

- dependencies: a security group that a network interface still uses cannot be deleted (DependencyViolation);
- life cycles: EFS file systems and mount targets (creating -> available, deleting -> gone; DeleteFileSystem
  fails with FileSystemInUse while a mount target exists), FSx (CREATING -> AVAILABLE, DELETING -> gone, with its
  network interfaces in the subnet until it is gone), EKS clusters and node groups (CREATING -> ACTIVE,
  DELETING -> gone), CloudFormation stacks (CREATE_IN_PROGRESS -> CREATE_COMPLETE, UPDATE_IN_PROGRESS -> UPDATE_COMPLETE,
  DELETE_IN_PROGRESS -> gone);
- eventual consistency: a new VPC, subnet, security group, internet gateway, route table, IAM role, instance
  profile or KMS alias is "not found" by calls that name it, for a short time after its creation;
- throttling: a fraction of requests answered with the service's own throttling error in its protocol's shape;
- a request log, one JSON line per request (service, operation, the IAM action, the caller's access key id,
  status, latency), that ``tools/local-aws summary`` and ``tools/operator_policy.py`` read;
- IAM enforcement when asked (``POST /moto-api/reset-auth`` with ``0``, as moto's own tests do): moto then checks
  every request it serves against the caller's IAM policies, and this layer does the same for the calls it serves
  itself (the EKS API), so that a missing permission fails with AccessDenied naming the action.

EKS as eksctl needs it (the calls moto lacks, EKS resources in CloudFormation stacks, clusters on the local control
plane, node groups as simulated nodes) comes from tools/local_eks.py. Gaps of moto that real AWS does not have are
filled whatever the profile: FSx reports ``Lifecycle`` and
``NetworkInterfaceIds``, and DescribeFileSystems of an FSx id that does not exist fails with FileSystemNotFound.
The profile is JSON: ``{"name": ..., "times": {...}, "consistency": {...}, "throttle": fraction, "seed": n}``;
``off`` is every time 0, no consistency window, no throttling.
"""

import argparse
import heapq
import itertools
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid

# moto's IAM has AWS's managed policies only when asked before it is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

import botocore.session  # noqa: E402
from moto.server import DomainDispatcherApplication  # noqa: E402
from moto.server import create_backend_app  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import local_cfn  # noqa: E402
import local_eks  # noqa: E402
import local_prices  # noqa: E402
import local_proxy  # noqa: E402
import local_quotas  # noqa: E402

# Seconds, scaled down from AWS's minutes; a profile file overrides any of them.
DEFAULT_TIMES = {
    "efs_file_system_create": 1.5,
    "efs_file_system_delete": 1.5,
    "efs_mount_target_create": 2.0,
    "efs_mount_target_delete": 2.0,
    "fsx_create": 4.0,
    "fsx_delete": 3.0,
    "eks_cluster_create": 4.0,
    "eks_cluster_delete": 3.0,
    "eks_nodegroup_create": 3.0,
    "eks_nodegroup_delete": 2.0,
    "cloudformation_stack_create": 2.0,
    "cloudformation_stack_update": 2.0,
    "cloudformation_stack_delete": 2.0,
    "nat_gateway_create": 2.0,
    "nat_gateway_delete": 2.0,
}
# How long a freshly created resource stays invisible to calls that name it.
DEFAULT_CONSISTENCY = {
    "vpc": 1.0,
    "subnet": 1.0,
    "security_group": 1.0,
    "internet_gateway": 1.0,
    "route_table": 1.0,
    "iam_role": 1.0,
    "instance_profile": 1.0,
    "kms_alias": 1.0,
}
PROFILES = {
    "default": {"name": "default", "times": DEFAULT_TIMES, "consistency": DEFAULT_CONSISTENCY, "throttle": 0.0},
    "off": {
        "name": "off",
        "times": dict.fromkeys(DEFAULT_TIMES, 0.0),
        "consistency": dict.fromkeys(DEFAULT_CONSISTENCY, 0.0),
        "throttle": 0.0,
    },
}


def load_profile(spec):
    """'default', 'off', or a JSON file naming any of the keys (the rest come from the default profile)."""
    if spec in PROFILES:
        return json.loads(json.dumps(PROFILES[spec]))
    with open(spec) as handle:
        given = json.load(handle)
    unknown = set(given) - {"name", "times", "consistency", "throttle", "seed", "quotas"}
    unknown |= set("times." + k for k in given.get("times", {}) if k not in DEFAULT_TIMES)
    unknown |= set("consistency." + k for k in given.get("consistency", {}) if k not in DEFAULT_CONSISTENCY)
    if unknown:
        raise ValueError("unknown realism profile keys in {0}: {1}".format(spec, ", ".join(sorted(unknown))))
    profile = json.loads(json.dumps(PROFILES["default"]))
    profile["name"] = given.get("name") or os.path.basename(spec)
    profile["times"].update(given.get("times", {}))
    profile["consistency"].update(given.get("consistency", {}))
    profile["throttle"] = float(given.get("throttle", 0.0))
    if not 0.0 <= profile["throttle"] < 1.0:
        raise ValueError("throttle must be a fraction in [0, 1)")
    if "seed" in given:
        profile["seed"] = given["seed"]
    # Service Quotas values (tools/local_quotas.py): {"ec2/L-DB2E81BA": 0} is an account without G-instance quota
    profile["quotas"] = local_quotas.check_profile(given.get("quotas"))
    return profile


class Clock:
    """Deferred state changes, run (in due order) at the start of the next request after they are due."""

    def __init__(self):
        self.lock = threading.RLock()
        self.events = []
        self.counter = itertools.count()

    def later(self, seconds, action):
        if seconds <= 0:
            action()
            return
        with self.lock:
            heapq.heappush(self.events, (time.monotonic() + seconds, next(self.counter), action))

    def run_due(self):
        with self.lock:
            now = time.monotonic()
            while self.events and self.events[0][0] <= now:
                _due, _n, action = heapq.heappop(self.events)
                try:
                    action()
                except Exception as exc:  # a resource deleted meanwhile by other means
                    print("realism: deferred action failed: {0!r}".format(exc), file=sys.stderr)


class Realism:
    """The profile in force, the deferred life cycle steps and the consistency window."""

    def __init__(self, profile):
        self.profile = profile
        self.clock = Clock()
        self.random = random.Random(profile.get("seed"))
        self.pending = {}  # (service, kind, value) -> (visible_at, error code, status)
        self.lock = threading.Lock()

    def time(self, what):
        return float(self.profile["times"].get(what, 0.0))

    def hide(self, service, kind, value, window, code, status=400):
        seconds = float(self.profile["consistency"].get(window, 0.0))
        if seconds > 0 and value:
            with self.lock:
                self.pending[(service, kind, value)] = (time.monotonic() + seconds, code, status)

    def hidden(self, service, params, operation):
        """(code, status, value) when the request names a resource still inside its consistency window."""
        if not self.pending:
            return None
        now = time.monotonic()
        with self.lock:
            for key in [k for k, v in self.pending.items() if v[0] <= now]:
                del self.pending[key]
            for (svc, kind, value), (_at, code, status) in self.pending.items():
                if svc != service:
                    continue
                for name, given in params:
                    if given != value:
                        continue
                    if kind == "id" and not name.startswith("Filter"):
                        return code, status, value
                    if kind != "id" and name.split(".")[0] == kind and not operation.startswith("Create"):
                        return code, status, value
        return None

    def throttled(self):
        fraction = self.profile.get("throttle") or 0.0
        return fraction > 0 and self.random.random() < fraction


REALISM = None  # set in main(); the patched models read it


# -- moto's models, patched ---------------------------------------------------------------------------------
def patch(cls, name):
    """Decorator: replace cls.name with the wrapper, which receives the original as its first argument."""

    def decorate(wrapper):
        original = getattr(cls, name)

        def method(self, *args, **kwargs):
            return wrapper(original, self, *args, **kwargs)

        method.__name__ = name
        setattr(cls, name, method)
        return wrapper

    return decorate


def patch_efs():
    from moto.efs.exceptions import EFSError
    from moto.efs.exceptions import FileSystemNotFound
    from moto.efs.exceptions import MountTargetNotFound
    from moto.efs.models import EFSBackend

    class IncorrectFileSystemLifeCycleState(EFSError):
        code = 409

        def __init__(self, fs_id, state):
            super().__init__(
                "IncorrectFileSystemLifeCycleState", "File system {0} is {1}, not available.".format(fs_id, state)
            )

    def become(obj, state):
        obj.life_cycle_state = state

    @patch(EFSBackend, "create_file_system")
    def create_file_system(original, self, *args, **kwargs):
        fs = original(self, *args, **kwargs)
        if REALISM.time("efs_file_system_create") > 0:
            fs.life_cycle_state = "creating"
            REALISM.clock.later(REALISM.time("efs_file_system_create"), lambda: become(fs, "available"))
        return fs

    @patch(EFSBackend, "create_mount_target")
    def create_mount_target(original, self, file_system_id, *args, **kwargs):
        fs = self.file_systems_by_id.get(file_system_id)
        if fs is not None and fs.life_cycle_state != "available":
            raise IncorrectFileSystemLifeCycleState(file_system_id, fs.life_cycle_state)
        target = original(self, file_system_id, *args, **kwargs)
        if REALISM.time("efs_mount_target_create") > 0:
            target.life_cycle_state = "creating"
            REALISM.clock.later(REALISM.time("efs_mount_target_create"), lambda: become(target, "available"))
        return target

    @patch(EFSBackend, "delete_mount_target")
    def delete_mount_target(original, self, mount_target_id):
        target = self.mount_targets_by_id.get(mount_target_id)
        if target is None:
            raise MountTargetNotFound(mount_target_id)
        if target.life_cycle_state in ("deleting", "deleted"):
            return None
        target.life_cycle_state = "deleting"

        def gone():
            if mount_target_id in self.mount_targets_by_id:
                original(self, mount_target_id)

        REALISM.clock.later(REALISM.time("efs_mount_target_delete"), gone)
        return None

    @patch(EFSBackend, "delete_file_system")
    def delete_file_system(original, self, file_system_id):
        fs = self.file_systems_by_id.get(file_system_id)
        if fs is None:
            raise FileSystemNotFound(file_system_id)
        if fs.life_cycle_state in ("deleting", "deleted"):
            return None
        if fs.number_of_mount_targets == 0:  # else moto raises FileSystemInUse, as AWS does
            fs.life_cycle_state = "deleting"

            def gone():
                if file_system_id in self.file_systems_by_id:
                    fs.life_cycle_state = "deleted"
                    original(self, file_system_id)

            REALISM.clock.later(REALISM.time("efs_file_system_delete"), gone)
            return None
        return original(self, file_system_id)


def patch_fsx():
    from moto.ec2.models import ec2_backends
    from moto.fsx.exceptions import FileSystemNotFound
    from moto.fsx.models import FileSystem
    from moto.fsx.models import FSxBackend

    FileSystem.lifecycle = "AVAILABLE"
    FileSystem.network_interface_ids = ()
    plain_to_dict = FileSystem.to_dict

    def to_dict(self):
        result = plain_to_dict(self)
        result["Lifecycle"] = self.lifecycle
        result["NetworkInterfaceIds"] = list(self.network_interface_ids)
        if self.file_system_type == "LUSTRE":
            lustre = result.setdefault("LustreConfiguration", {})
            lustre.setdefault("MountName", self.file_system_id[3:11])
        return result

    FileSystem.to_dict = to_dict

    def become(fs, state):
        fs.lifecycle = state

    @patch(FSxBackend, "create_file_system")
    def create_file_system(original, self, *args, **kwargs):
        fs = original(self, *args, **kwargs)
        ec2 = ec2_backends[self.account_id][self.region_name]
        enis = []
        for subnet_id in fs.subnet_ids or []:
            subnet = ec2.get_subnet(subnet_id)
            eni = ec2.create_network_interface(
                subnet,
                None,
                group_ids=list(fs.security_group_ids or []),
                description="ENI for Amazon FSx file system " + fs.file_system_id,
            )
            enis.append(eni.id)
        fs.network_interface_ids = tuple(enis)
        if REALISM.time("fsx_create") > 0:
            fs.lifecycle = "CREATING"
            REALISM.clock.later(REALISM.time("fsx_create"), lambda: become(fs, "AVAILABLE"))
        return fs

    @patch(FSxBackend, "describe_file_systems")
    def describe_file_systems(original, self, file_system_ids=None, **kwargs):
        for fs_id in file_system_ids or []:
            if fs_id not in self.file_systems:
                raise FileSystemNotFound(fs_id)
        return original(self, file_system_ids=file_system_ids, **kwargs)

    @patch(FSxBackend, "delete_file_system")
    def delete_file_system(original, self, file_system_id, *args, **kwargs):
        fs = self.file_systems.get(file_system_id)
        if fs is None:
            raise FileSystemNotFound(file_system_id)
        answer = list(original(self, file_system_id, *args, **kwargs))
        self.file_systems[file_system_id] = fs  # moto removed it at once; AWS keeps it, DELETING, for minutes
        if fs.lifecycle == "DELETING":
            return tuple(answer)
        fs.lifecycle = "DELETING"

        def gone():
            self.file_systems.pop(file_system_id, None)
            ec2 = ec2_backends[self.account_id][self.region_name]
            for eni_id in fs.network_interface_ids:
                try:
                    ec2.delete_network_interface(eni_id)
                except Exception:  # already removed by hand
                    pass

        REALISM.clock.later(REALISM.time("fsx_delete"), gone)
        return tuple(answer)


def patch_ec2_dependencies():
    """AWS refuses to delete a security group that a network interface (an FSx's, a mount target's) still uses,
    and deletes an instance's primary network interface and its launch volumes when the instance terminates."""
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models import EC2Backend

    @patch(EC2Backend, "delete_security_group")
    def delete_security_group(original, self, name=None, group_id=None):
        for eni in list(self.enis.values()):
            if group_id and any(getattr(g, "id", None) == group_id for g in eni.group_set):
                raise DependencyViolationError(
                    "resource {0} has a dependent object (network interface {1})".format(group_id, eni.id)
                )
        return original(self, name=name, group_id=group_id)

    from moto.ec2.models.instances import Instance

    @patch(EC2Backend, "run_instances")
    def run_instances(original, self, *args, **kwargs):
        # An EBS volume of a block device mapping goes with its instance unless DeleteOnTermination says otherwise
        # (AWS's default); moto kept every one whose mapping did not say so, an auto scaling group's root volumes too.
        mappings = list(kwargs.get("block_device_mappings") or [])
        if kwargs.get("launch_config") is not None:
            mappings += kwargs["launch_config"].block_device_mapping_dict or []
        if kwargs.get("launch_template"):
            mappings += self._get_template_from_args(kwargs["launch_template"]).data.get("BlockDeviceMappings") or []
        for mapping in mappings:
            if isinstance(mapping.get("Ebs"), dict):
                mapping["Ebs"].setdefault("DeleteOnTermination", True)
        return original(self, *args, **kwargs)

    @patch(Instance, "terminate")
    def terminate(original, self):
        # An instance's primary interface goes with it; moto kept those of auto scaling instances, which then
        # held their security groups forever.
        primary = self.nics.get(0)
        if primary is not None:
            primary.delete_on_termination = True
        return original(self)


def patch_nat_gateways():
    """NAT gateways take time (AWS: pending for a minute or two, deleting as long), and their addresses and
    interfaces stay until they are gone: moto made them available at once and kept both forever after a delete.

    AWS refuses to release an Elastic IP that is still associated (``InvalidIPAddress.InUse``) and to detach an
    internet gateway from a VPC that still maps public addresses (``DependencyViolation``), so a teardown must
    wait for its NAT gateways to be ``deleted`` before it releases their addresses and removes the gateway.
    """
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models import EC2Backend

    def become(gateway, state):
        gateway.state = state

    @patch(EC2Backend, "create_nat_gateway")
    def create_nat_gateway(original, self, *args, **kwargs):
        gateway = original(self, *args, **kwargs)
        if REALISM.time("nat_gateway_create") > 0:
            gateway.state = "pending"
            REALISM.clock.later(
                REALISM.time("nat_gateway_create"), lambda: gateway.state == "pending" and become(gateway, "available")
            )
        return gateway

    @patch(EC2Backend, "delete_nat_gateway")
    def delete_nat_gateway(original, self, nat_gateway_id):
        gateway = self.nat_gateways.get(nat_gateway_id)
        if gateway is None:
            raise EC2ClientError("NatGatewayNotFound", "The NAT gateway ID '{0}' does not exist".format(nat_gateway_id))
        if gateway.state in ("deleting", "deleted"):
            return gateway
        gateway.state = "deleting"

        def gone():
            for address in list(self.addresses):
                if address.eni is not None and address.eni.id == gateway._eni.id:
                    self.disassociate_address(address=address.public_ip)
            try:
                self.delete_network_interface(gateway._eni.id)
            except Exception:  # already removed by hand
                pass
            gateway.state = "deleted"

        REALISM.clock.later(REALISM.time("nat_gateway_delete"), gone)
        return gateway

    @patch(EC2Backend, "release_address")
    def release_address(original, self, address=None, allocation_id=None):
        found = self.address_by_ip([address]) if address else self.address_by_allocation([allocation_id])
        if found and (found[0].association_id or found[0].eni is not None):
            raise EC2ClientError("InvalidIPAddress.InUse", "Address {0} is in use.".format(found[0].public_ip))
        return original(self, address=address, allocation_id=allocation_id)

    @patch(EC2Backend, "detach_internet_gateway")
    def detach_internet_gateway(original, self, internet_gateway_id, vpc_id):
        for address in self.addresses:
            eni = address.eni
            if eni is not None and getattr(eni.subnet, "vpc_id", None) == vpc_id:
                raise DependencyViolationError(
                    "Network {0} has some mapped public address(es). Please unmap those public address(es) before "
                    "detaching the gateway.".format(vpc_id)
                )
        return original(self, internet_gateway_id, vpc_id)


def patch_eks():
    from moto.eks.models import EKSBackend

    def become(obj, state):
        obj.status = state

    @patch(EKSBackend, "create_cluster")
    def create_cluster(original, self, *args, **kwargs):
        cluster = original(self, *args, **kwargs)
        if REALISM.time("eks_cluster_create") > 0:
            cluster.status = "CREATING"
            REALISM.clock.later(REALISM.time("eks_cluster_create"), lambda: become(cluster, "ACTIVE"))
        return cluster

    @patch(EKSBackend, "delete_cluster")
    def delete_cluster(original, self, name):
        cluster = self.clusters.get(name)
        if cluster is None or REALISM.time("eks_cluster_delete") <= 0:
            return original(self, name)
        if cluster.status != "DELETING":
            from moto.eks.models import validate_safe_to_delete

            validate_safe_to_delete(cluster)  # refuses while node groups exist, as AWS does
            cluster.status = "DELETING"
            REALISM.clock.later(
                REALISM.time("eks_cluster_delete"), lambda: name in self.clusters and original(self, name)
            )
        return cluster

    @patch(EKSBackend, "create_nodegroup")
    def create_nodegroup(original, self, *args, **kwargs):
        group = original(self, *args, **kwargs)
        if REALISM.time("eks_nodegroup_create") > 0:
            group.status = "CREATING"
            REALISM.clock.later(REALISM.time("eks_nodegroup_create"), lambda: become(group, "ACTIVE"))
        return group

    @patch(EKSBackend, "delete_nodegroup")
    def delete_nodegroup(original, self, cluster_name, nodegroup_name):
        cluster = self.clusters.get(cluster_name)
        group = cluster.nodegroups.get(nodegroup_name) if cluster is not None else None
        if group is None or REALISM.time("eks_nodegroup_delete") <= 0:
            return original(self, cluster_name, nodegroup_name)
        if group.status != "DELETING":
            group.status = "DELETING"
            REALISM.clock.later(
                REALISM.time("eks_nodegroup_delete"),
                lambda: nodegroup_name in cluster.nodegroups and original(self, cluster_name, nodegroup_name),
            )
        return group


def patch_cloudformation():
    """Stacks take time: creating (longer with an EKS cluster or node group in them), updating and deleting."""
    from moto.cloudformation.models import CloudFormationBackend

    def become(stack, state):
        stack.status = state
        stack._add_stack_event(state)

    @patch(CloudFormationBackend, "create_stack")
    def create_stack(original, self, *args, **kwargs):
        stack = original(self, *args, **kwargs)
        note_resource_types(stack)
        keep_template(stack)
        seconds = REALISM.time("cloudformation_stack_create") + local_eks.stack_times(stack)[0]
        if seconds > 0 and stack.status == "CREATE_COMPLETE":
            stack.status = "CREATE_IN_PROGRESS"
            REALISM.clock.later(seconds, lambda: become(stack, "CREATE_COMPLETE"))
        return stack

    @patch(CloudFormationBackend, "update_stack")
    def update_stack(original, self, *args, **kwargs):
        stack = original(self, *args, **kwargs)
        note_resource_types(stack)
        keep_template(stack)
        seconds = REALISM.time("cloudformation_stack_update")
        if seconds > 0 and stack.status == "UPDATE_COMPLETE":
            stack.status = "UPDATE_IN_PROGRESS"
            REALISM.clock.later(seconds, lambda: become(stack, "UPDATE_COMPLETE"))
        return stack

    @patch(CloudFormationBackend, "delete_stack")
    def delete_stack(original, self, name_or_stack_id):
        stack = self.stacks.get(name_or_stack_id) or next(
            (s for s in self.stacks.values() if s.name == name_or_stack_id), None
        )
        seconds = REALISM.time("cloudformation_stack_delete") + (local_eks.stack_times(stack)[1] if stack else 0)
        if stack is not None:
            note_resource_types(stack)
        if stack is None or seconds <= 0:
            return original(self, name_or_stack_id)
        if stack.status != "DELETE_IN_PROGRESS":
            become(stack, "DELETE_IN_PROGRESS")
            REALISM.clock.later(seconds, lambda: finish_delete(original, self, stack, seconds, attempts=10))

    def finish_delete(original, backend, stack, seconds, attempts):
        # CloudFormation deletes a stack's resources after what depends on them; nested stacks deleted together
        # here may meet a dependency (another stack's instances in a group) that goes a moment later: retry.
        if stack.stack_id not in backend.stacks:
            return
        try:
            original(backend, stack.stack_id)
        except Exception as error:
            backend.stacks[stack.stack_id] = stack  # moto forgot it before its resources were gone
            if attempts <= 1:
                become(stack, "DELETE_FAILED")
                raise
            REALISM.clock.later(seconds, lambda: finish_delete(original, backend, stack, seconds, attempts - 1))
            raise RuntimeError("{0}: retrying the delete later ({1})".format(stack.name, error)) from error


# where every template a stack is created or updated with is kept (templates/ beside the request log), for the
# validators we did not write (cfn-lint) to read
TEMPLATES_DIR = None
TEMPLATES_LOCK = threading.Lock()


def keep_template(stack):
    """The stack's template as the caller sent it (its body, or what its TemplateURL held), one file per create or
    update: <stack name>.<n>.json or .yaml."""
    if not TEMPLATES_DIR or not isinstance(getattr(stack, "template", None), str):
        return
    body = stack.template
    suffix = ".json" if body.lstrip().startswith("{") else ".yaml"
    with TEMPLATES_LOCK:
        os.makedirs(TEMPLATES_DIR, exist_ok=True)
        number = len([n for n in os.listdir(TEMPLATES_DIR) if n.startswith(stack.name + ".")])
        with open(os.path.join(TEMPLATES_DIR, "{0}.{1}{2}".format(stack.name, number, suffix)), "w") as handle:
            handle.write(body)


# what the request being served did besides its own call, for its request log line (one thread per request)
NOTES = threading.local()


def note_resource_types(stack):
    """The resource types of a stack a request creates, updates or deletes: CloudFormation calls their APIs with the
    caller's permissions, so tools/operator_policy.py adds their actions to the operators' policy."""
    try:
        resources = (stack.template_dict or {}).get("Resources") or {}
        NOTES.resource_types = sorted(set(r.get("Type") for r in resources.values() if isinstance(r, dict)))
    except AttributeError:
        NOTES.resource_types = []


def patch_consistency():
    from moto.ec2.models import EC2Backend
    from moto.iam.models import IAMBackend
    from moto.kms.models import KmsBackend

    ec2_kinds = {
        "create_vpc": ("vpc", "InvalidVpcID.NotFound"),
        "create_subnet": ("subnet", "InvalidSubnetID.NotFound"),
        "create_security_group": ("security_group", "InvalidGroup.NotFound"),
        "create_internet_gateway": ("internet_gateway", "InvalidInternetGatewayID.NotFound"),
        "create_route_table": ("route_table", "InvalidRouteTableID.NotFound"),
    }
    for method, (window, code) in ec2_kinds.items():

        def wrapper(original, self, *args, _window=window, _code=code, **kwargs):
            made = original(self, *args, **kwargs)
            REALISM.hide("ec2", "id", made.id, _window, _code)
            return made

        patch(EC2Backend, method)(wrapper)

    @patch(IAMBackend, "create_role")
    def create_role(original, self, *args, **kwargs):
        role = original(self, *args, **kwargs)
        REALISM.hide("iam", "RoleName", role.name, "iam_role", "NoSuchEntity", 404)
        return role

    @patch(IAMBackend, "create_instance_profile")
    def create_instance_profile(original, self, *args, **kwargs):
        profile = original(self, *args, **kwargs)
        REALISM.hide("iam", "InstanceProfileName", profile.name, "instance_profile", "NoSuchEntity", 404)
        return profile

    @patch(KmsBackend, "create_alias")
    def create_alias(original, self, target_key_id, alias_name):
        alias = original(self, target_key_id, alias_name)
        REALISM.hide("kms", "KeyId", alias_name, "kms_alias", "NotFoundException")
        return alias


# -- requests -----------------------------------------------------------------------------------------------
class Services:
    """botocore's models, to name a request's service and operation the way AWS logs do."""

    def __init__(self):
        self.session = botocore.session.get_session()
        self.by_signing_name = {}
        self.models = {}
        self.routes = {}

    def model(self, signing_name):
        if signing_name not in self.by_signing_name:
            found = None
            for name in self.session.get_available_services():
                if name == signing_name:
                    found = name
                    break
            if found is None:
                aliases = {
                    "elasticfilesystem": "efs",
                    "monitoring": "cloudwatch",
                    "email": "ses",
                    "elasticloadbalancing": "elb",
                    "servicequotas": "service-quotas",
                }
                found = aliases.get(signing_name)
            self.by_signing_name[signing_name] = found
            if found and found not in self.models:
                self.models[found] = self.session.get_service_model(found)
        name = self.by_signing_name[signing_name]
        return self.models.get(name) if name else None

    def rest_routes(self, model):
        if model.service_name not in self.routes:
            routes = []
            for op_name in model.operation_names:
                http = model.operation_model(op_name).http
                path, _sep, query = http.get("requestUri", "/").partition("?")
                pattern = re.sub(r"\\{[^}]+\\\+\\}", ".+", re.escape(path))
                pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", pattern)
                keys = set(k.split("=")[0] for k in query.split("&") if k)
                routes.append((http.get("method"), re.compile("^" + pattern.rstrip("/") + "/?$"), keys, op_name))
            # most specific first: more literal path, more query keys
            routes.sort(key=lambda r: (-len(r[2]), -len(r[1].pattern.replace("[^/]+", "").replace(".+", ""))))
            self.routes[model.service_name] = routes
        return self.routes[model.service_name]

    @staticmethod
    def caller(environ):
        """(access key id, signing name) of a signed request, from its credential scope."""
        match = re.search(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
        return (match.group(1), match.group(2)) if match else (None, None)

    def identify(self, environ, body):
        """(service, protocol, operation, params as (name, value) pairs)."""
        signing = self.caller(environ)[1]
        if signing is None:
            return None, None, None, []
        model = self.model(signing)
        protocol = model.protocol if model else None
        service = model.service_name if model else signing
        query = environ.get("QUERY_STRING", "")
        params = []
        operation = None
        if protocol in ("query", "ec2"):
            form = urllib.parse.parse_qsl(query) + urllib.parse.parse_qsl(body.decode("utf-8", "replace"))
            params = [(k, v) for k, v in form if k not in ("Action", "Version")]
            operation = dict(form).get("Action")
        elif protocol == "json":
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            operation = target.rsplit(".", 1)[-1] or None
            params = flatten(load_json(body))
        elif protocol in ("rest-json", "rest-xml") and model is not None:
            method = environ.get("REQUEST_METHOD")
            path = urllib.parse.unquote(environ.get("PATH_INFO", "/")).rstrip("/") or "/"
            keys = set(k for k, _v in urllib.parse.parse_qsl(query, keep_blank_values=True))
            for route_method, pattern, needed, op_name in self.rest_routes(model):
                if route_method == method and needed <= keys and pattern.match(path):
                    operation = op_name
                    break
            params = [("path", part) for part in path.split("/") if part]
            params += urllib.parse.parse_qsl(query)
            if protocol == "rest-json":
                params += flatten(load_json(body))
        return service, protocol, operation or "{0} {1}".format(environ.get("REQUEST_METHOD"), "?"), params


class Layers:
    """What the endpoint serves besides moto (local_eks.LocalEKS, local_quotas.LocalQuotas, local_prices), as one."""

    def __init__(self, *layers):
        self.layers = layers

    def serves(self, service, operation):
        return any(layer.serves(service, operation) for layer in self.layers)

    def answer(self, service, operation, environ, body, request_id):
        for layer in self.layers:
            if layer.serves(service, operation):
                return layer.answer(service, operation, environ, body, request_id)
        return None


def load_json(body):
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def flatten(value, prefix=""):
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in flatten(v, prefix + "." + k if prefix else k)]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in flatten(v, "{0}.{1}".format(prefix, i + 1))]
    return [(prefix, value if isinstance(value, str) else json.dumps(value))]


S3_THROTTLE = ("SlowDown", "Please reduce your request rate.", 503)


def error_response(service, protocol, code, message, status, request_id):
    """(status line, headers, body) of an AWS error in the service's own protocol shape."""
    headers = [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id)]
    if protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{0}</Code><Message>{1}</Message>'
            "</Error></Errors><RequestID>{2}</RequestID></Response>"
        ).format(code, message, request_id)
        headers.append(("Content-Type", "text/xml"))
    elif service == "s3":
        body = "<Error><Code>{0}</Code><Message>{1}</Message><RequestId>{2}</RequestId></Error>".format(
            code, message, request_id
        )
        headers.append(("Content-Type", "application/xml"))
    elif protocol in ("query", "rest-xml"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>{0}</Code><Message>{1}</Message></Error>"
            "<RequestId>{2}</RequestId></ErrorResponse>"
        ).format(code, message, request_id)
        headers.append(("Content-Type", "text/xml"))
    else:
        body = json.dumps({"__type": code, "message": message})
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    reasons = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 503: "Slow Down"}
    return "{0} {1}".format(status, reasons.get(status, "Error")), headers, body.encode()


def throttle_error(service, protocol):
    if service == "s3":
        return S3_THROTTLE
    if protocol == "ec2":
        return "RequestLimitExceeded", "Request limit exceeded.", 503
    if protocol in ("query", "rest-xml"):
        return "Throttling", "Rate exceeded", 400
    return "ThrottlingException", "Rate exceeded", 400


class RealismMiddleware:
    """WSGI: runs due life cycle steps, throttles, enforces the consistency window, logs every request."""

    def __init__(self, app, realism, log_path, extra=None):
        self.app = app
        self.realism = realism
        self.extra = extra  # serves what moto lacks (Layers: EKS, Service Quotas, the Price List)
        self.services = Services()
        self.log = open(log_path, "a", buffering=1)
        self.log_lock = threading.Lock()

    def __call__(self, environ, start_response):
        started = time.monotonic()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read()  # a chunked upload without Content-Length
        else:
            body = b""
        environ["wsgi.input"] = _Body(body)
        presigned(environ)
        self.realism.clock.run_due()
        service, protocol, operation, params = self.services.identify(environ, body)
        request_id = str(uuid.uuid4())
        outcome = None
        if service is not None and self.realism.throttled():
            code, message, status = throttle_error(service, protocol)
            outcome = ("throttled",) + error_response(service, protocol, code, message, status, request_id)
        elif service is not None:
            hidden = self.realism.hidden(service, params, operation or "")
            if hidden:
                code, status, value = hidden
                message = "The resource '{0}' does not exist (not yet visible)".format(value)
                outcome = ("consistency",) + error_response(service, protocol, code, message, status, request_id)
        if outcome is None and service is not None and self.extra is not None and self.extra.serves(service, operation):
            denied = iam_denial(environ, body, operation, params)
            if denied is not None:
                outcome = ("iam",) + error_response(service, protocol, "AccessDeniedException", denied, 403, request_id)
        if outcome is None and service is not None and self.extra is not None:
            served = self.extra.answer(service, operation, environ, body, request_id)
            if served is not None:
                status_line, headers, payload = served
                start_response(status_line, headers + [("Content-Length", str(len(payload)))])
                status = int(status_line.split()[0])
                error = error_of(payload) if status >= 400 else None
                self.record(environ, service, operation, status, started, None, error)
                return [payload]
        if outcome is not None:
            note, status_line, headers, payload = outcome
            start_response(status_line, headers + [("Content-Length", str(len(payload)))])
            error = "AccessDeniedException" if note == "iam" else None
            self.record(environ, service, operation, int(status_line.split()[0]), started, note, error)
            return [payload]
        seen = {}

        def capture(status_line, headers, exc_info=None):
            seen["status"] = int(status_line.split()[0])
            names = set(h[0].lower() for h in headers)
            if "x-amzn-requestid" not in names and "x-amz-request-id" not in names:
                headers = list(headers) + [("x-amzn-RequestId", request_id)]
            seen["response"] = (status_line, headers, exc_info)
            return lambda data: None  # the body is returned, not written

        try:
            chunks = list(self.app(environ, capture))
        except Exception:
            if service is not None:  # moto itself failed: the log says so before werkzeug answers 500
                self.record(environ, service, operation, 500, started, None, "InternalFailure")
            raise
        if service is not None and seen.get("status") == 403:
            denied = access_denied(service, protocol, operation, environ, b"".join(chunks), request_id)
            if denied is not None:
                seen["response"] = denied[:2] + (None,)
                chunks = [denied[2]]
        start_response(*seen["response"])
        if service is not None:
            status = seen.get("status", 0)
            self.record(
                environ,
                service,
                operation,
                status,
                started,
                None,
                error_of(b"".join(chunks)) if status >= 400 else None,
            )
        return chunks

    def record(self, environ, service, operation, status, started, note, error=None):
        caller, signing = Services.caller(environ)
        line = {
            "t": round(time.time(), 3),
            "service": service,
            "operation": operation,
            "action": iam_action(signing, operation) if signing else None,
            "caller": caller,
            "status": status,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
        }
        if note:
            line["realism"] = note
        if error:
            line["error"] = error
        types = getattr(NOTES, "resource_types", None)
        if types:
            line["resource_types"] = types
            NOTES.resource_types = None
        with self.log_lock:
            self.log.write(json.dumps(line) + "\n")


# S3's API operations whose IAM action has another name (the Service Authorization Reference)
S3_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListBuckets": "ListAllMyBuckets",
    "HeadObject": "GetObject",
    "DeleteObjects": "DeleteObject",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "DeleteBucketEncryption": "PutEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "DeleteBucketTagging": "PutBucketTagging",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    "GetBucketOwnershipControls": "GetBucketOwnershipControls",
}


def iam_action(signing, operation):
    """The IAM action a call needs: ``<prefix>:<operation>``, but for S3's renamed ones."""
    if signing == "s3":
        return "s3:" + S3_ACTIONS.get(operation, operation)
    return "{0}:{1}".format(signing, operation)


def access_denied(service, protocol, operation, environ, body, request_id):
    """moto's AccessDenied (and, with enforcement, its failed signature checks), in the service's own error shape
    and naming the action as AWS does: moto answers XML in one shape for every protocol, which botocore cannot read
    for JSON and REST services."""
    text = body[:4096].decode("utf-8", "replace")
    if "<Code>AccessDenied</Code>" not in text:
        return None
    caller, signing = Services.caller(environ)
    match = re.search(r"User: (\S+) is not authorized", text)
    who = match.group(1) if match else "the user with access key {0}".format(caller)
    message = "User: {0} is not authorized to perform: {1}".format(who, iam_action(signing, operation))
    code = "AccessDeniedException" if protocol in ("json", "rest-json") else "AccessDenied"
    status_line, headers, payload = error_response(service, protocol, code, message, 403, request_id)
    return status_line, headers + [("Content-Length", str(len(payload)))], payload


def iam_denial(environ, body, operation, params):
    """While moto enforces IAM, the AccessDenied message for a call this layer serves itself, or None."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import HTTPException
    from moto.iam.access_control import IAMRequest

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return None
    from moto.core import DEFAULT_ACCOUNT_ID

    headers = {"Authorization": environ.get("HTTP_AUTHORIZATION", "")}
    try:
        request = IAMRequest(
            account_id=DEFAULT_ACCOUNT_ID,
            method=environ.get("REQUEST_METHOD"),
            path=environ.get("PATH_INFO", "/"),
            data=dict(params),
            body=body,
            headers=headers,
            action=operation,
        )
    except HTTPException:
        return "The security token included in the request is invalid"
    try:
        request.check_action_permitted("*")
    except HTTPException:
        # the message AWS (and moto) give
        return "User: {0} is not authorized to perform: {1}".format(request._access_key.arn, request._action)
    return None


def s3_action_names():
    """moto names some S3 calls' IAM actions otherwise than AWS does: give them AWS's names (the Service
    Authorization Reference), those of S3_ACTIONS.

    moto up to 5.2.5 checks the action of its ACTION_MAP, which names HeadBucket "HeadBucket" and misses every
    ?encryption or ?publicAccessBlock call (checked as ListBucket/CreateBucket/DeleteBucket): the table gets AWS's
    names. moto 5.2.6 checks the API operation its router matched instead (``ListObjectsV2``, ``HeadBucket``,
    ``PutBucketEncryption``: actions no IAM policy grants, so every S3 call was denied): the operation is
    translated as the request log translates it."""
    from moto.iam.access_control import S3IAMRequest
    from moto.s3.responses import ACTION_MAP

    checked = S3IAMRequest.__init__

    def aws_action(self, *args, **kwargs):
        checked(self, *args, **kwargs)
        operation = self._action.split(":", 1)[1]
        self._action = "s3:" + S3_ACTIONS.get(operation, operation)

    S3IAMRequest.__init__ = aws_action

    bucket = ACTION_MAP["BUCKET"]
    bucket["HEAD"]["DEFAULT"] = "ListBucket"
    bucket["GET"].update(
        encryption="GetEncryptionConfiguration",
        publicAccessBlock="GetBucketPublicAccessBlock",
        ownershipControls="GetBucketOwnershipControls",
    )
    bucket["PUT"].update(
        encryption="PutEncryptionConfiguration",
        publicAccessBlock="PutBucketPublicAccessBlock",
        ownershipControls="PutBucketOwnershipControls",
    )
    bucket["DELETE"].update(
        encryption="PutEncryptionConfiguration",
        publicAccessBlock="PutBucketPublicAccessBlock",
        ownershipControls="PutBucketOwnershipControls",
    )


def skip_signature_checks():
    """With IAM enforcement on, moto recomputes each request's signature and gets REST services' (EFS, EKS,
    Route 53) wrong: who calls and what they may do is checked, the signature is not."""
    from moto.iam.access_control import IAMRequestBase

    IAMRequestBase.check_signature = lambda self: None


def presigned(environ):
    """A presigned URL (signature in the query, e.g. an EKS token's GetCallerIdentity) names its service in
    X-Amz-Credential: give moto's dispatcher, which reads the Authorization header, the same credential scope."""
    query = environ.get("QUERY_STRING", "")
    if environ.get("HTTP_AUTHORIZATION") or "X-Amz-Credential=" not in query:
        return
    fields = dict(urllib.parse.parse_qsl(query))
    environ["HTTP_AUTHORIZATION"] = "AWS4-HMAC-SHA256 Credential={0}, SignedHeaders={1}, Signature={2}".format(
        fields.get("X-Amz-Credential", ""), fields.get("X-Amz-SignedHeaders", ""), fields.get("X-Amz-Signature", "")
    )


def error_of(body):
    """The error code in an AWS error body (XML <Code> or JSON __type/code), for the request log."""
    text = body[:4096].decode("utf-8", "replace")
    match = re.search(r"<Code>([^<]+)</Code>", text) or re.search(r'"(?:__type|code)"\s*:\s*"([^"]+)"', text)
    return match.group(1).split("#")[-1] if match else None


class _Body:
    """The request body, read once by the layer and again by moto."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data) - self.pos
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk

    def readline(self, size=-1):
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        if size is not None and size >= 0:
            end = min(end, self.pos + size)
        return self.read(end - self.pos)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


def main():
    global REALISM, TEMPLATES_DIR
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", default="default", help="default, off, or a JSON profile file")
    parser.add_argument("--log", required=True, help="the request log (JSON lines)")
    parser.add_argument(
        "--control-plane",
        default=os.environ.get("TRAINKIT_LOCAL_K8S_DIR"),
        help="the local control plane's work directory (tools/local-k8s): EKS clusters point at it",
    )
    parser.add_argument("--proxy-port", type=int, help="also serve as an HTTPS proxy on this port (local_proxy.py)")
    parser.add_argument("--state-dir", help="where the proxy keeps its CA (ca.pem, ca.key)")
    args = parser.parse_args()
    if not args.host.startswith("127."):
        sys.exit("local_aws_server: serves loopback only")
    REALISM = Realism(load_profile(args.profile))
    TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.abspath(args.log)), "templates")
    skip_signature_checks()
    s3_action_names()
    patch_efs()
    patch_fsx()
    patch_ec2_dependencies()
    patch_nat_gateways()
    patch_eks()
    patch_cloudformation()
    local_cfn.install()
    patch_consistency()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    eks = local_eks.install(REALISM, args.control_plane)
    layers = Layers(eks, local_quotas.LocalQuotas(REALISM), local_prices.LocalPrices())
    if args.proxy_port:
        local_proxy.serve_in_background(args.host, args.proxy_port, args.port, args.state_dir or os.getcwd())
    run_simple(args.host, args.port, RealismMiddleware(app, REALISM, args.log, layers), threaded=True)


if __name__ == "__main__":
    main()
