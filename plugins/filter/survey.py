# -*- coding: utf-8 -*-
# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWX/Tower survey specs from the roles' meta/argument_specs.yml (AWX does not read argument_specs itself)."""

from __future__ import annotations

import os
import re

import yaml

from ansible.errors import AnsibleFilterError

# what AWX accepts (awx/api/views JobTemplateSurveySpec.ALLOWED_TYPES)
SURVEY_TYPES = ("text", "textarea", "password", "multiplechoice", "multiselect", "integer", "float")
SECRET_NAME = re.compile(r"(secret_key|session_token|password|_token)$")
MARKUP = re.compile(r"\b[CIOVEMLRU]\(([^)]*)\)")


def plain(text):
    """An argument_specs description without Ansible's markup (C(x), O(y), V(z))."""
    if isinstance(text, list):
        text = " ".join(text)
    return MARKUP.sub(lambda m: m.group(1), text or "").strip()


def literal_default(spec):
    """The option's default when it is a value rather than a description of one (``<cluster>-assets``)."""
    if "default" not in spec:
        return None
    value = spec["default"]
    if isinstance(value, str) and ("<" in value or "{{" in value):
        return None
    return value


def question(role, name, spec):
    """One survey question for a role option, or None for options a survey cannot carry (dicts, lists of dicts)."""
    kind = spec.get("type", "str")
    default = literal_default(spec)
    item = {
        "question_name": name,
        "question_description": "{0} (role {1})".format(plain(spec.get("description")), role)[:1000],
        "variable": name,
        # never required: the roles' required inputs come from the inventory's trainkit_* variables as a rule
        "required": False,
        "new_question": True,
    }
    if spec.get("choices"):
        choices = [str(c) for c in spec["choices"]]
        item.update(type="multiplechoice", choices=choices)
        if default is not None and str(default) in choices:
            item["default"] = str(default)
    elif kind == "bool":
        item.update(type="multiplechoice", choices=["true", "false"])
        if isinstance(default, bool):
            item["default"] = "true" if default else "false"
    elif kind == "int":
        item.update(type="integer", min=0, max=2**31 - 1)
        if isinstance(default, int) and not isinstance(default, bool):
            item["default"] = default
    elif kind == "float":
        item.update(type="float")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            item["default"] = float(default)
    elif kind in ("str", "path", "raw"):
        item.update(type="password" if SECRET_NAME.search(name) else "text", min=0, max=4096)
        if isinstance(default, str) and item["type"] == "text":
            item["default"] = default
    elif kind == "list" and spec.get("elements", "str") in ("str", "path"):
        # a survey answers with a string; argument_specs turns "a,b" into [a, b]
        item.update(type="text", min=0, max=4096)
        item["question_description"] = (item["question_description"] + " Comma-separated.")[:1000]
        if isinstance(default, list) and all(isinstance(v, str) and "," not in v for v in default):
            item["default"] = ",".join(default)
    else:
        return None
    return item


def playbook_roles(path, seen=None):
    """The roles a playbook's plays name (following import_playbook), in order, without repeats."""
    seen = seen if seen is not None else []
    with open(path) as handle:
        plays = yaml.safe_load(handle) or []
    for play in plays:
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            playbook_roles(os.path.join(os.path.dirname(path), imported), seen)
            continue
        for entry in play.get("roles", []):
            role = entry["role"] if isinstance(entry, dict) else entry
            if role not in seen:
                seen.append(role)
    return seen


def survey_spec(playbook, title=None, summary=None):
    """The AWX survey spec of a playbook of this collection: a question per option of the roles it runs."""
    if not os.path.isfile(playbook):
        raise AnsibleFilterError("survey_spec: no playbook at {0}".format(playbook))
    roles_dir = os.path.join(os.path.dirname(os.path.abspath(playbook)), "..", "roles")
    spec, variables = [], set()
    for role in playbook_roles(playbook):
        short = role.split(".")[-1]
        specs_path = os.path.join(roles_dir, short, "meta", "argument_specs.yml")
        if not os.path.isfile(specs_path):
            raise AnsibleFilterError("survey_spec: role {0} has no {1}".format(role, specs_path))
        with open(specs_path) as handle:
            options = (yaml.safe_load(handle)["argument_specs"].get("main") or {}).get("options") or {}
        for option, option_spec in options.items():
            if option in variables:
                continue
            item = question(role, option, option_spec or {})
            if item is not None:
                variables.add(option)
                spec.append(item)
    stem = os.path.splitext(os.path.basename(playbook))[0]
    return {
        "name": title or "trainkit.aws.{0}".format(stem),
        "description": summary or "Inputs of the roles of trainkit.aws.{0} (from their argument_specs)".format(stem),
        "spec": spec,
    }


class FilterModule:
    def filters(self):
        return {"survey_spec": survey_spec}
