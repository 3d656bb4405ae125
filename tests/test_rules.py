"""Every rule's VALID and INVALID examples (its documentation) are tests, as in Fixit."""

from __future__ import annotations

import pytest
from helpers import expected_findings

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.rules import ALL_RULES

VALID = [(rule, i, src) for rule in ALL_RULES for i, src in enumerate(rule.VALID)]
INVALID = [(rule, i, src) for rule in ALL_RULES for i, src in enumerate(rule.INVALID)]


@pytest.mark.parametrize("rule,index,source", VALID, ids=[f"{r.code}-valid-{i}" for r, i, _ in VALID])
def test_valid_examples_are_quiet(rule, index, source):
    findings = [f for f in check_source(source, "example.py", Config(extend_select=(rule.code,))) if f.code == rule.code]
    assert findings == []


@pytest.mark.parametrize("rule,index,source", INVALID, ids=[f"{r.code}-invalid-{i}" for r, i, _ in INVALID])
def test_invalid_examples_are_reported_on_the_marked_lines(rule, index, source):
    expected = {line for line, code in expected_findings(source) if code == rule.code}
    assert expected, "an INVALID example must mark at least one line"
    found = {f.line for f in check_source(source, "example.py", Config(extend_select=(rule.code,))) if f.code == rule.code}
    assert found == expected


@pytest.mark.parametrize("rule", ALL_RULES, ids=[r.code for r in ALL_RULES])
def test_rule_documentation_has_ruff_sections(rule):
    doc = rule.documentation()
    for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix", "## Options"):
        assert section in doc, section
    assert rule.code and rule.name and rule.summary
    assert len(rule.VALID) >= 2 and len(rule.INVALID) >= 2


def test_codes_and_names_are_unique():
    assert len({r.code for r in ALL_RULES}) == len(ALL_RULES)
    assert len({r.name for r in ALL_RULES}) == len(ALL_RULES)


def test_messages_name_the_shared_thing():
    src = "request_count = 0\ndef handle():\n    global request_count\n    request_count += 1\n"
    [finding] = check_source(src, "app.py", Config())
    assert finding.message == "global 'request_count' is read and rebound without a lock in 'handle()'"
    assert (finding.line, finding.col, finding.code) == (4, 5, "SST101")


def test_code_list_matches_the_registry():
    from safestate_lint.codes import CODES

    assert CODES == tuple(rule.code for rule in ALL_RULES)
