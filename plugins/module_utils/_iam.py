# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IAM helpers shared by iam_group and iam_role: policies compared semantically, attached by diff."""

from __future__ import annotations

import json

from urllib.parse import unquote

from ansible_collections.trainkit.aws.plugins.module_utils.aws import ClientError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import TrainkitError
from ansible_collections.trainkit.aws.plugins.module_utils.aws import paginate

SINGLE_OR_LIST = ("Action", "NotAction", "Resource", "NotResource")


def load_policy(doc):
    """A policy document as a dict, whether given as dict, JSON text or IAM's URL-encoded JSON."""
    if isinstance(doc, dict):
        return doc
    text = doc
    if text.lstrip().startswith("%7B") or text.lstrip().startswith("%7b"):
        text = unquote(text)
    return json.loads(text)


def _normalize(value, key=None):
    if isinstance(value, dict):
        return dict((k, _normalize(v, k)) for k, v in value.items())
    if isinstance(value, list):
        items = [_normalize(v) for v in value]
        if key in SINGLE_OR_LIST or key == "Statement" or all(isinstance(i, str) for i in items):
            items = sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
        if len(items) == 1 and key in SINGLE_OR_LIST:
            return items[0]
        return items
    return value


def normalize_policy(doc):
    """A canonical form: '"Action": "x"' equals '"Action": ["x"]', statement and action order do not count."""
    doc = _normalize(load_policy(doc))
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        doc["Statement"] = [statements]
    return doc


def policies_equal(first, second):
    return json.dumps(normalize_policy(first), sort_keys=True) == json.dumps(normalize_policy(second), sort_keys=True)


def policy_hint(exc):
    """A hint for an IAM error: NoSuchEntity while attaching names a managed policy that does not exist."""
    if (
        isinstance(exc, ClientError)
        and exc.response.get("Error", {}).get("Code") == "NoSuchEntity"
        and exc.operation_name.startswith("Attach")
    ):
        return "a policy ARN in managed_policies does not exist; check the ARN"
    return None


class PolicySync:
    """Managed and inline policies of one IAM group or role, brought to the wanted sets."""

    OPS = {
        "group": dict(
            name_arg="GroupName",
            list_attached="list_attached_group_policies",
            attach="attach_group_policy",
            detach="detach_group_policy",
            list_inline="list_group_policies",
            get_inline="get_group_policy",
            put_inline="put_group_policy",
            delete_inline="delete_group_policy",
        ),
        "role": dict(
            name_arg="RoleName",
            list_attached="list_attached_role_policies",
            attach="attach_role_policy",
            detach="detach_role_policy",
            list_inline="list_role_policies",
            get_inline="get_role_policy",
            put_inline="put_role_policy",
            delete_inline="delete_role_policy",
        ),
    }

    def __init__(self, iam, kind, name, check_mode):
        self.iam = iam
        self.ops = self.OPS[kind]
        self.name = name
        self.check_mode = check_mode
        self._read = {}  # what was read, until this object changes something

    def _call(self, op, **kwargs):
        kwargs[self.ops["name_arg"]] = self.name
        if not op.startswith("get"):
            self._read.clear()
        return getattr(self.iam, self.ops[op])(**kwargs)

    def check_attachable(self, wanted, exists):
        """Fail before any change when a managed policy to attach does not exist (read-only GetPolicy calls).

        Only the policies not attached yet are looked up, so an idempotent run makes no extra call.
        """
        if not wanted:
            return
        current = set(self.attached()) if exists else set()
        missing = []
        for arn in sorted(set(wanted) - current):
            try:
                self.iam.get_policy(PolicyArn=arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                    raise
                missing.append(arn)
        if missing:
            raise TrainkitError(
                "Managed polic{0} {1} do{2} not exist; nothing was changed.".format(
                    "ies" if len(missing) > 1 else "y", ", ".join(missing), "" if len(missing) > 1 else "es"
                ),
                hint="check the ARN (AWS managed policies look like arn:aws:iam::aws:policy/AmazonEC2FullAccess; "
                "some live under a path such as policy/job-function/)",
                missing_policies=missing,
            )

    def known_empty(self):
        """The principal was just created: it has no policies yet (saves two reads)."""
        self._read.update(attached=[], inline={})

    def attached(self):
        if "attached" not in self._read:
            kwargs = {self.ops["name_arg"]: self.name}
            found = paginate(self.iam, self.ops["list_attached"], "AttachedPolicies", **kwargs)
            self._read["attached"] = sorted(p["PolicyArn"] for p in found)
        return list(self._read["attached"])

    def inline(self):
        if "inline" not in self._read:
            kwargs = {self.ops["name_arg"]: self.name}
            names = paginate(self.iam, self.ops["list_inline"], "PolicyNames", **kwargs)
            self._read["inline"] = dict(
                (n, normalize_policy(self._call("get_inline", PolicyName=n)["PolicyDocument"])) for n in names
            )
        return dict(self._read["inline"])

    def sync_managed(self, wanted):
        """Attach/detach so exactly ``wanted`` is attached (None leaves them alone). Returns changed."""
        if wanted is None:
            return False
        current = set(self.attached())
        wanted = set(wanted)
        if current == wanted:
            return False
        if not self.check_mode:
            for arn in sorted(current - wanted):
                self._call("detach", PolicyArn=arn)
            for arn in sorted(wanted - current):
                self._call("attach", PolicyArn=arn)
        return True

    def sync_inline(self, wanted):
        """Put/delete so exactly ``wanted`` (name -> document) exists (None leaves them alone)."""
        if wanted is None:
            return False
        current = self.inline()
        changed = False
        for name, doc in sorted(wanted.items()):
            if name in current and policies_equal(current[name], doc):
                continue
            changed = True
            if not self.check_mode:
                self._call("put_inline", PolicyName=name, PolicyDocument=json.dumps(load_policy(doc)))
        for name in sorted(set(current) - set(wanted)):
            changed = True
            if not self.check_mode:
                self._call("delete_inline", PolicyName=name)
        return changed

    def remove_all(self):
        for arn in self.attached():
            self._call("detach", PolicyArn=arn)
        for name in self.inline():
            self._call("delete_inline", PolicyName=name)
