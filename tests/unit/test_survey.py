# -*- coding: utf-8 -*-
"""AWX survey specs generated from the roles' argument_specs, checked with the rules AWX's survey_spec API applies."""

import os

import pytest
import yaml

from ansible_collections.trainkit.aws.plugins.filter.survey import playbook_roles
from ansible_collections.trainkit.aws.plugins.filter.survey import question
from ansible_collections.trainkit.aws.plugins.filter.survey import survey_spec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(REPO, "playbooks")
ALLOWED = {
    "text": str,
    "textarea": str,
    "password": str,
    "multiplechoice": str,
    "multiselect": str,
    "integer": int,
    "float": float,
}


def awx_survey_errors(survey):
    """What AWX's POST /job_templates/<id>/survey_spec/ would refuse (awx/api/views, _validate_spec_data)."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(field), kind):
            errors.append("{0} missing or not {1}".format(field, kind.__name__))
    if errors:
        return errors
    if not survey["spec"]:
        errors.append("'spec' doesn't contain any items")
    variables = set()
    for index, item in enumerate(survey["spec"]):
        for field in ("type", "question_name", "variable", "required"):
            if field not in item:
                errors.append("{0}: {1} missing".format(index, field))
            elif not isinstance(item[field], bool if field == "required" else str):
                errors.append("{0}: {1} of the wrong type".format(index, field))
        if item["variable"] in variables:
            errors.append("{0}: variable {1} duplicated".format(index, item["variable"]))
        variables.add(item["variable"])
        kind = item["type"]
        if kind not in ALLOWED:
            errors.append("{0}: type {1}".format(index, kind))
            continue
        if item.get("default", "") != "" and not isinstance(item["default"], ALLOWED[kind]):
            errors.append("{0}: default {1!r} is not {2}".format(index, item["default"], kind))
        for limit in ("min", "max"):
            if item.get(limit) is not None and not isinstance(item[limit], int):
                errors.append("{0}: {1} not an integer".format(index, limit))
        if kind in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                errors.append("{0}: no choices".format(index))
                continue
            defaults = item.get("default", "")
            defaults = [d for d in defaults.splitlines() if d.strip()] if isinstance(defaults, str) else defaults
            if kind == "multiplechoice" and len(defaults) > 1:
                errors.append("{0}: more than one default".format(index))
            if any(d not in item["choices"] for d in defaults):
                errors.append("{0}: default not among the choices".format(index))
        if isinstance(item.get("default"), str) and item["default"].startswith("$encrypted$"):
            errors.append("{0}: $encrypted$ default".format(index))
        if kind in ("text", "textarea", "password") and isinstance(item.get("default"), str):
            if not item.get("min", 0) <= len(item["default"]) <= item.get("max", 1024):
                errors.append("{0}: default outside min/max".format(index))
    return errors


@pytest.mark.parametrize("name", ["site", "identity", "network", "cluster", "storage", "nodes", "addons", "teardown"])
def test_every_playbook_gets_a_valid_survey(name):
    survey = survey_spec(os.path.join(PLAYBOOKS, name + ".yml"))
    assert awx_survey_errors(survey) == []
    assert survey["name"] == "trainkit.aws." + name
    # every option of every role the playbook runs is a question, or one a survey cannot carry (dict, list of dicts)
    for role in playbook_roles(os.path.join(PLAYBOOKS, name + ".yml")):
        with open(os.path.join(REPO, "roles", role.split(".")[-1], "meta", "argument_specs.yml")) as handle:
            options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
        asked = set(q["variable"] for q in survey["spec"])
        for option, spec in options.items():
            carried = spec.get("type") not in ("dict",) and not (
                spec.get("type") == "list" and spec.get("elements", "str") not in ("str", "path")
            )
            assert (option in asked) == carried, option


def test_site_follows_its_imports():
    roles = playbook_roles(os.path.join(PLAYBOOKS, "site.yml"))
    assert roles[:2] == ["trainkit.aws.preflight", "trainkit.aws.identity"]
    assert {"trainkit.aws.network", "trainkit.aws.cluster", "trainkit.aws.addons", "trainkit.aws.node_nvidia"} <= set(
        roles
    )
    assert len(roles) == len(set(roles))


def test_questions_by_type():
    assert question(
        "identity", "identity_secrets_store", {"type": "str", "choices": ["file", "ssm"], "default": "file"}
    ) == {
        "question_name": "identity_secrets_store",
        "question_description": " (role identity)",
        "variable": "identity_secrets_store",
        "required": False,
        "new_question": True,
        "type": "multiplechoice",
        "choices": ["file", "ssm"],
        "default": "file",
    }
    flag = question("r", "r_flag", {"type": "bool", "default": True, "description": "Whether O(x) is V(true)."})
    assert flag["choices"] == ["true", "false"] and flag["default"] == "true"
    assert flag["question_description"] == "Whether x is true. (role r)"
    assert question("r", "r_n", {"type": "int", "default": 7})["default"] == 7
    assert question("r", "r_aws_secret_key", {"type": "str", "default": ""})["type"] == "password"
    assert "default" not in question("r", "r_aws_secret_key", {"type": "str", "default": "x"})
    placeholder = question("r", "r_alias", {"type": "str", "default": "<cluster>-assets"})
    assert placeholder["type"] == "text" and "default" not in placeholder
    listed = question("r", "r_list", {"type": "list", "elements": "str", "default": ["a", "b"]})
    assert listed["default"] == "a,b" and "Comma-separated" in listed["question_description"]
    assert question("r", "r_dict", {"type": "dict"}) is None
    assert question("r", "r_groups", {"type": "list", "elements": "dict"}) is None
    # a role's required input usually comes from the inventory (trainkit_cluster_name): the survey does not insist
    assert question("r", "r_name", {"type": "str", "required": True})["required"] is False


def test_awx_rules_catch_a_bad_survey():
    bad = {
        "name": "x",
        "description": "",
        "spec": [
            {"type": "integer", "question_name": "a", "variable": "a", "required": False, "default": "3"},
            {
                "type": "multiplechoice",
                "question_name": "b",
                "variable": "b",
                "required": False,
                "default": "c",
                "choices": ["a"],
            },
            {"type": "text", "question_name": "c", "variable": "a", "required": "no"},
        ],
    }
    assert len(awx_survey_errors(bad)) == 4
