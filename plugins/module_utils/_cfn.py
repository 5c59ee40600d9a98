# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudFormation stacks made by a tool (kube-aws): the root stack by name, its nested stacks, and the waits for
them to be complete or gone (the root's status alone does not say its nested stacks are done deleting)."""

from __future__ import annotations

from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate
from ansible_collections.trainkit.aws.plugins.module_utils.aws import wait_for

COMPLETE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
SETTLED_FAILED = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE", "DELETE_FAILED")


def find_stack(cfn, name_or_id):
    """The stack, or None when CloudFormation does not know it or it is deleted (a deleted one is still found by
    its id, as DELETE_COMPLETE)."""
    try:
        stacks = cfn.describe_stacks(StackName=name_or_id)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return live[0] if live else None


def nested_stacks(cfn, root):
    """[(logical id, stack id)] of the root's nested stacks."""
    resources = paginate(cfn, "list_stack_resources", "StackResourceSummaries", StackName=root["StackId"])
    return [
        (r["LogicalResourceId"], r["PhysicalResourceId"])
        for r in resources
        if r["ResourceType"] == "AWS::CloudFormation::Stack" and r.get("PhysicalResourceId")
    ]


def stack_status(cfn, stack_id):
    """The stack's status, or None once it is gone."""
    stack = find_stack(cfn, stack_id)
    return stack["StackStatus"] if stack else None


def stack_name_of(stack_id):
    parts = stack_id.split("/")
    return parts[1] if len(parts) > 2 else stack_id


def describe_stacks(cfn, root):
    found = [{"name": root["StackName"], "logical_id": None, "status": stack_status(cfn, root["StackId"])}]
    for logical, stack_id in nested_stacks(cfn, root):
        found.append({"name": stack_name_of(stack_id), "logical_id": logical, "status": stack_status(cfn, stack_id)})
    return found


def wait_complete(cfn, name, timeout):
    """Until the root stack and its nested stacks are complete; a failed or rolled back stack fails the wait."""

    def settled():
        root = find_stack(cfn, name)
        if root is None:
            raise TrainkitError("the stack {0} is gone while it was being applied".format(name))
        statuses = [s["status"] for s in describe_stacks(cfn, root)]
        failed = [s for s in statuses if s in SETTLED_FAILED or (s or "").endswith("ROLLBACK_IN_PROGRESS")]
        if failed:
            raise TrainkitError(
                "the stack {0} failed ({1})".format(name, ", ".join(failed)),
                hint="see its events: aws cloudformation describe-stack-events --stack-name " + name,
            )
        return root if all(s in COMPLETE for s in statuses) else None

    return wait_for(settled, timeout, "the stacks of {0} to be complete".format(name))


def wait_gone(cfn, stack_ids, timeout, name):
    def gone():
        statuses = [stack_status(cfn, stack_id) for stack_id in stack_ids]
        if "DELETE_FAILED" in statuses:
            raise TrainkitError(
                "deleting the stacks of {0} failed".format(name),
                hint="see the events of the stack in DELETE_FAILED; remove what blocks it and run again",
            )
        return all(s is None for s in statuses)

    wait_for(gone, timeout, "the stacks of {0} to be deleted".format(name))
