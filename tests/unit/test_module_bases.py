# -*- coding: utf-8 -*-
"""What the modules share: the cluster tools' runner, vpc_network's self-invalidating lookups, the Kubernetes
modules' error text."""

import pytest

from ansible_collections.trainkit.aws.plugins.module_utils._vpc import ChangesForget
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.cli import ToolRunner
from ansible_collections.trainkit.aws.plugins.module_utils.k8s_module import with_hint


class FakeModule:
    def __init__(self, check_mode=False, answers=None):
        self.check_mode = check_mode
        self.ran = []
        self.answers = answers or {}

    def run_command(self, argv, cwd=None, environ_update=None):
        self.ran.append((argv, cwd, environ_update))
        return self.answers.get(argv[1], (0, "ok\n", ""))


class Tool(ToolRunner):
    name = "tool"

    def noise(self, line):
        return line.startswith("WARN")

    def hint(self, text):
        return "look at the tool"


def test_a_change_runs_or_in_check_mode_is_only_recorded():
    module = FakeModule()
    tool = Tool(module, "/bin/tool", {"AWS_REGION": "r"})
    tool.change("apply", "--force", cwd="/work")
    assert module.ran == [(["/bin/tool", "apply", "--force"], "/work", {"AWS_REGION": "r"})]
    assert tool.commands == ["apply --force"] and tool.log == ["ok"]

    checking = FakeModule(check_mode=True)
    tool = Tool(checking, "/bin/tool", {})
    assert tool.change("destroy", "--force") is None
    assert checking.ran == [] and tool.commands == ["destroy --force"]
    tool.run("render", "stack", changes=False)  # reads run in check mode too, unrecorded
    assert len(checking.ran) == 1 and tool.commands == ["destroy --force"]


def test_a_failure_is_one_error_with_the_tools_error_line_and_hint_and_its_noise_left_out():
    module = FakeModule(answers={"apply": (1, "", "WARN: noise\nError: the stack rolled back\nbye\n")})
    tool = Tool(module, "/bin/tool", {})
    with pytest.raises(TrainkitError) as raised:
        tool.run("apply", "--force")
    assert raised.value.msg == "tool apply --force failed (rc 1): Error: the stack rolled back"
    assert raised.value.hint == "look at the tool"
    assert tool.log == ["Error: the stack rolled back", "bye"]
    rc, _out, _err = tool.run("apply", check=False)
    assert rc == 1


def test_the_network_forgets_its_lookups_at_the_first_call_that_changes_something():
    class Client:
        meta = "meta"

        def describe_vpcs(self):
            return "vpcs"

        def create_tags(self, **kwargs):
            return kwargs

    cache = {"subnets": ["s"], "current_vpc": {"VpcId": "v"}}
    ec2 = ChangesForget(Client(), cache)
    assert ec2.describe_vpcs() == "vpcs" and cache, "a read keeps them"
    assert ec2.meta == "meta"
    assert ec2.create_tags.__name__ == "create_tags"  # waits name the call they retry
    assert ec2.create_tags(Resources=["v"]) == {"Resources": ["v"]}
    assert cache == {}


def test_a_kubernetes_error_has_a_hint_only_when_there_is_one():
    assert with_hint("Timed out.", None) == "Timed out."
    assert with_hint("Timed out.", "raise wait_timeout") == "Timed out. Hint: raise wait_timeout"
