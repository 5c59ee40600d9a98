# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudFormation where moto differs from AWS in ways that break real tools (kube-aws), loaded by the server.

- ValidateTemplate fails only on cfn-lint *errors*, as CloudFormation does; moto fails on the first match of any
  level, so a warning (a hard-coded availability zone) rejected a valid template.
- A nested stack (AWS::CloudFormation::Stack) answers ``Fn::GetAtt [Child, Outputs.Name]`` with the child's
  output; moto's stack had no ``get_cfn_attribute`` and the parent failed.
- A nested stack is named ``<parent>-<LogicalId>-<suffix>`` as CloudFormation names it, so two clusters' nested
  stacks do not collide (moto named it by the logical id alone), and carries the parent's tags.
- Updating the parent updates a nested stack in place (same name and id) when its parameters or the template at
  its TemplateURL changed, as CloudFormation does; moto replaced it, and missed a changed template behind an
  unchanged URL (kube-aws uploads each render to the same key).
- A deleted stack shows no outputs and no resources; moto evaluated them again on DescribeStacks and
  ListStackResources, and so made a deleted parent's nested stacks anew. Likewise a stack whose delete is retried
  (see local_aws_server.patch_cloudformation) does not make the resources it already deleted anew when moto reads
  its exports again.
- Deleting a stack deletes what it made: moto had no delete for internet gateways and their attachments, route
  tables, elastic IPs, volumes, launch templates, NAT gateways and IAM managed policies, and left them behind.
- A record set made by a stack is named as Route53 names every record, with the final dot.
- A classic load balancer made by a stack goes into the stack's Subnets with its SecurityGroups; moto dropped
  both, put it into the default VPC and gave it a new ``default_elb_*`` group there that nothing deleted. Its DNS
  name is in the stack's region (moto: always us-east-1).
"""

import contextvars
import random
import string

from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation import utils as cfn_utils

NESTED = "AWS::CloudFormation::Stack"


def install():
    patch_validate()
    patch_nested_stacks()
    patch_nested_updates()
    patch_load_balancers()
    patch_deleted_stacks()
    patch_deleting_stacks()
    patch_record_sets()
    patch_resource_deletes()


def patch_validate():
    original = cfn_utils.validate_template_cfn_lint

    def errors_only(template):
        return [match for match in original(template) if str(getattr(match.rule, "id", "E")).startswith("E")]

    cfn_models.validate_template_cfn_lint = errors_only


def patch_nested_stacks():
    stack_class = cfn_models.Stack

    def get_cfn_attribute(self, attribute_name):
        prefix = "Outputs."
        if attribute_name.startswith(prefix):
            wanted = attribute_name[len(prefix) :]
            for output in self.output_map.values():
                if output and output.key == wanted:
                    return output.value
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    stack_class.get_cfn_attribute = get_cfn_attribute
    original_create = stack_class.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        parent = backend.stacks.get(kwargs.get("StackId", ""))
        if parent is None:
            return original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        suffix = "".join(random.choice(string.ascii_uppercase + string.digits) for _position in range(12))
        logical = kwargs.get("LogicalId") or resource_name
        name = "{0}-{1}-{2}".format(parent.name, logical, suffix)[:128]
        properties = cloudformation_json["Properties"]
        template = cfn_utils.get_stack_from_s3_url(
            properties["TemplateURL"], account_id=account_id, partition=parent.stack_id.split(":")[1]
        )
        return backend.create_stack(
            name=name,
            template=template,
            parameters=properties.get("Parameters", {}),
            tags=dict(parent.tags or {}),
        )

    stack_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _template_at(url, account_id, partition):
    try:
        return cfn_utils.get_stack_from_s3_url(url, account_id=account_id, partition=partition)
    except Exception:  # an unreadable URL fails in the update itself, with moto's own error
        return None


def patch_nested_updates():
    resource_map_class = cfn_parsing.ResourceMap
    original_diff = resource_map_class.build_resource_diff

    def build_resource_diff(self, other_template, parameters=None):
        diff = original_diff(self, other_template, parameters)
        for name, resource in other_template.get("Resources", {}).items():
            if resource.get("Type") != NESTED or name in diff["Add"] or name in diff["Modify"]:
                continue
            child = self._parsed_resources.get(name)
            url = resource.get("Properties", {}).get("TemplateURL")
            if child is None or isinstance(child, str) or not isinstance(url, str):
                continue
            partition = child.stack_id.split(":")[1]
            if _template_at(url, self._account_id, partition) not in (None, child.template):
                diff["Modify"].append(name)
        return diff

    resource_map_class.build_resource_diff = build_resource_diff

    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        backend = cfn_models.cloudformation_backends[account_id][region_name]
        properties = cloudformation_json["Properties"]
        template = cfn_utils.get_stack_from_s3_url(
            properties["TemplateURL"], account_id=account_id, partition=original_resource.stack_id.split(":")[1]
        )
        parameters = [
            {"ParameterKey": key, "ParameterValue": value} for key, value in properties.get("Parameters", {}).items()
        ]
        return backend.update_stack(original_resource.stack_id, template, None, parameters, None)

    cfn_models.Stack.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


_ELB_PROPERTIES = contextvars.ContextVar("cfn_elb_properties", default=None)


def patch_load_balancers():
    from moto.elb import models as elb_models

    balancer_class = elb_models.LoadBalancer
    original_create = balancer_class.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        token = _ELB_PROPERTIES.set(cloudformation_json.get("Properties", {}))
        try:
            balancer = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        finally:
            _ELB_PROPERTIES.reset(token)
        balancer.dns_name = balancer.dns_name.replace(".us-east-1.", "." + region_name + ".")
        return balancer

    balancer_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    backend_class = elb_models.ELBBackend
    original_backend_create = backend_class.create_load_balancer

    def create_load_balancer(self, name, zones, ports, scheme="internet-facing", subnets=None, security_groups=None):
        properties = _ELB_PROPERTIES.get() or {}
        subnets = subnets or properties.get("Subnets") or None
        security_groups = security_groups or properties.get("SecurityGroups") or None
        return original_backend_create(self, name, zones, ports, scheme, subnets, security_groups)

    backend_class.create_load_balancer = create_load_balancer


def patch_deleted_stacks():
    stack_class = cfn_models.Stack
    for name in ("outputs", "stack_resources", "exports"):
        original = getattr(stack_class, name)
        empty = None if name == "outputs" else []

        def getter(self, _original=original, _empty=empty):
            return _empty if self.status == "DELETE_COMPLETE" else _original.fget(self)

        setattr(stack_class, name, property(getter))


def patch_record_sets():
    from moto.route53 import models as route53_models

    record_class = route53_models.RecordSet
    original_create = record_class.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        if properties.get("Name") and not properties["Name"].endswith("."):
            cloudformation_json = dict(cloudformation_json, Properties=dict(properties, Name=properties["Name"] + "."))
        return original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)

    record_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def patch_deleting_stacks():
    map_class = cfn_parsing.ResourceMap
    original_delete = map_class.delete
    original_delete_resource = map_class._delete_resource
    original_getitem = map_class.__getitem__

    def delete(self):
        self.__dict__.setdefault("_trainkit_gone", {})
        return original_delete(self)

    def _delete_resource(self, parsed_resource, resource_json):
        original_delete_resource(self, parsed_resource, resource_json)
        gone = self.__dict__.get("_trainkit_gone")
        if gone is not None:  # only while the whole stack is being deleted, not in an update
            gone[parsed_resource.logical_resource_id] = parsed_resource

    def getitem(self, key):
        gone = self.__dict__.get("_trainkit_gone") or {}
        if key in gone and key not in self._parsed_resources:
            return gone[key]
        return original_getitem(self, key)

    map_class.delete = delete
    map_class._delete_resource = _delete_resource
    map_class.__getitem__ = getitem


def _ec2(account_id, region_name):
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


def _delete_gateway_attachment(vpc_id, account_id, region_name):
    ec2 = _ec2(account_id, region_name)
    for gateway in ec2.describe_internet_gateways():
        if gateway.vpc is not None and gateway.vpc.id == vpc_id:
            ec2.detach_internet_gateway(gateway.id, vpc_id)


def _delete_route_table(route_table_id, account_id, region_name):
    ec2 = _ec2(account_id, region_name)
    table = ec2.route_tables.get(route_table_id)
    if table is None:
        return
    for association_id in list(table._associations):
        ec2.disassociate_route_table(association_id)
    ec2.delete_route_table(route_table_id)


def _delete_policy(arn, account_id, region_name):
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws" if not region_name.startswith(("cn-", "us-gov-")) else "aws-cn"]
    policy = iam.managed_policies.get(arn)
    if policy is None:
        return
    if policy.attachment_count:  # CloudFormation deletes the roles first; moto's single pass retries
        raise RuntimeError("policy {0} is still attached".format(arn))
    iam.delete_policy(arn)


def patch_resource_deletes():
    from moto.ec2.models import elastic_block_store
    from moto.ec2.models import elastic_ip_addresses
    from moto.ec2.models import internet_gateways
    from moto.ec2.models import launch_templates
    from moto.ec2.models import nat_gateways
    from moto.ec2.models import route_tables
    from moto.ec2.models import subnets
    from moto.ec2.models import vpn_gateway
    from moto.iam import models as iam_models

    deletes = {
        vpn_gateway.VPCGatewayAttachment: _delete_gateway_attachment,
        internet_gateways.InternetGateway: lambda i, a, r: _ec2(a, r).delete_internet_gateway(i),
        route_tables.RouteTable: _delete_route_table,
        # the table's associations and routes go with the table
        subnets.SubnetRouteTableAssociation: lambda i, a, r: None,
        elastic_ip_addresses.ElasticAddress: lambda i, a, r: _ec2(a, r).release_address(address=i),
        elastic_block_store.Volume: lambda i, a, r: _ec2(a, r).delete_volume(i),
        launch_templates.LaunchTemplate: lambda i, a, r: _ec2(a, r).delete_launch_template(None, i),
        nat_gateways.NatGateway: lambda i, a, r: _ec2(a, r).delete_nat_gateway(i),
        iam_models.ManagedPolicy: _delete_policy,
    }
    for model, delete in deletes.items():
        if not hasattr(model.delete_from_cloudformation_json, "__isabstractmethod__"):
            continue  # moto has one by now

        def delete_from_cloudformation_json(
            cls, resource_name, cloudformation_json, account_id, region_name, _delete=delete
        ):
            if resource_name:
                _delete(resource_name, account_id, region_name)

        model.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)
