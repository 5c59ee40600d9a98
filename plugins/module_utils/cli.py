# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules that drive a cluster tool's binary (eksctl_cluster, kube_aws_cluster) share."""

from __future__ import annotations

import copy

from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError

# module option -> the variable every AWS SDK reads
AWS_ENVIRONMENT = (
    ("profile", "AWS_PROFILE"),
    ("access_key", "AWS_ACCESS_KEY_ID"),
    ("secret_key", "AWS_SECRET_ACCESS_KEY"),
    ("session_token", "AWS_SESSION_TOKEN"),
    ("endpoint_url", "AWS_ENDPOINT_URL"),
    ("aws_ca_bundle", "AWS_CA_BUNDLE"),
)


def aws_environment(params, region, skip=()):
    """The module's AWS settings as a tool's environment (options left unset are left to the tool's own chain)."""
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
    for option, variable in AWS_ENVIRONMENT:
        if option not in skip and params.get(option):
            env[variable] = params[option]
    return env


def merge(base, extra):
    """``extra`` merged into ``base`` (dicts key by key, anything else replaced); returns ``base``."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def read(path):
    """A text file's content, or None when it cannot be read."""
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return None


def last_error(text, marks=("Error", "[✖]"), noise=lambda line: False):
    """The line of a tool's output that says what went wrong (the last error line, else the last line)."""
    lines = [line for line in text.splitlines() if line.strip() and not noise(line)]
    errors = [line for line in lines if any(mark in line for mark in marks)]
    return (errors or lines or ["no output"])[-1].strip()


class ToolRunner:
    """A cluster tool's binary (eksctl, kube-aws) run with the module's AWS settings as its environment.

    ``commands`` are the commands that change something, as the module returns them (in check mode, what would
    run); ``log`` every line the tool printed but its noise. A failure becomes one TrainkitError naming the
    command, the tool's error line and a hint, with the log's tail. Subclasses name the tool and may say what its
    error lines look like (``marks``), which lines are noise and what to do about a failure (``hint``)."""

    name = "tool"
    marks = ("Error", "[✖]")

    def __init__(self, module, path, env):
        self.module = module
        self.path = path
        self.env = env
        self.commands = []
        self.log = []

    def noise(self, line):  # pylint: disable=unused-argument  # a subclass's filter
        return False

    def hint(self, text):  # pylint: disable=unused-argument  # a subclass's advice
        return "the log holds {0}'s own output".format(self.name)

    def version(self):
        rc, out, _err = self.module.run_command([self.path, "version"], environ_update=self.env)
        return out.strip() if rc == 0 else None

    def run(self, *args, changes=True, check=True, cwd=None):
        """Run the tool (``changes``: record the command); (rc, stdout, stderr). A failure raises, unless ``check``
        is false."""
        if changes:
            self.commands.append(" ".join(args))
        rc, out, err = self.module.run_command([self.path] + list(args), cwd=cwd, environ_update=self.env)
        self.log.extend(line for line in (out + err).splitlines() if line.strip() and not self.noise(line))
        if check and rc != 0:
            raise TrainkitError(
                "{0} {1} failed (rc {2}): {3}".format(
                    self.name, " ".join(args[:2]), rc, last_error(err or out, marks=self.marks, noise=self.noise)
                ),
                hint=self.hint(err or out),
                log=self.log[-40:],
            )
        return rc, out, err

    def change(self, *args, cwd=None):
        """A command that changes something: run it - or, in check mode, only record it as what would run."""
        if self.module.check_mode:
            self.commands.append(" ".join(args))
            return None
        return self.run(*args, cwd=cwd)
