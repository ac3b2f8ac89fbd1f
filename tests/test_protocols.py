"""The protocol catalogue (l2l/protocols.py) is the one declaration; every copy of the protocol list derives
from it: the schema's enums and recipe blocks, RunConfig's default, Snakemake's wildcard constraint,
`l2l resolve --protocol`, the planner and the tables' header line (torch-free)."""

import re

import pytest

from l2l import config
from l2l.errors import UserError
from l2l.protocols import DEFAULT_PROTOCOL, protocol_names, protocol_spec, wildcard_pattern
from l2l.schema import config_schema, run_schema, validate_config

from helpers import REPO

NAMES = list(protocol_names())


def test_catalogue():
    assert NAMES == ["official", "clean"] and DEFAULT_PROTOCOL in NAMES
    assert protocol_spec("official").may_use_test and not protocol_spec("clean").may_use_test
    with pytest.raises(UserError, match="protocol 'fair' is not one of official, clean"):
        protocol_spec("fair")


def test_schema_and_run_config_derive_from_the_catalogue():
    props = config_schema()["properties"]
    assert props["protocol"]["enum"] == [*NAMES, None]
    suite = props["table_suites"]["additionalProperties"]["properties"]["protocol"]
    assert suite["enum"] == NAMES and suite["default"] == DEFAULT_PROTOCOL
    blocks = props["recipes"]["additionalProperties"]["properties"]["protocols"]["properties"]
    assert list(blocks) == NAMES
    run = run_schema()["properties"]["protocol"]
    assert run["enum"] == NAMES and run["default"] == DEFAULT_PROTOCOL == config.RunConfig().protocol
    assert config.PROTOCOLS == protocol_names()


def test_a_recipe_block_of_an_unknown_protocol_is_refused_by_name():
    cfg = {"recipes": {"embedded": {"protocols": {"fair": {}}}}}
    with pytest.raises(UserError, match=r"unknown config key\(s\) recipes.embedded.protocols.fair; "
                                        r"valid keys in recipes.embedded.protocols: official, clean"):
        validate_config(cfg)


def test_wildcard_cli_planner_and_table_header_derive_from_the_catalogue():
    from l2l.cli import build_parser
    from l2l.plan.runs import Planner
    from l2l.report.paper import describe

    assert wildcard_pattern().split("|") == NAMES
    block = re.search(r"^wildcard_constraints:\n((?:    .*\n)+)", (REPO / "workflow/rules/common.smk").read_text(),
                      re.M).group(1)
    assert "    protocol=protocol_wildcard(),\n" in block and "official" not in block
    resolve = build_parser()._subparsers._group_actions[0].choices["resolve"]
    assert next(a for a in resolve._actions if a.dest == "protocol").choices == protocol_names()
    assert Planner({"protocol": None}, str, str).protocol() == DEFAULT_PROTOCOL
    assert f"protocol `{DEFAULT_PROTOCOL}`" in describe({"suite": "s", "dataset": "d", "paper_dataset": "D",
                                                          "seeds": [0]})
