# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules that drive a cluster tool's binary (eksctl_cluster, kube_aws_cluster) share."""

from __future__ import annotations

import copy

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
