"""Golden fixtures: each file's expected findings sit in trailing `# SSTnnn` comments.

The fixtures live under tests/, where modules that start no threads count as single-threaded
test modules and are quiet by default: they are samples of application code, so they are
checked with `single-threaded-tests = false`. A fixture that marks the opt-in policy rule
SST105 is checked twice: by default (its SST105 markers do not count) and with SST105 selected
(every marker counts)."""

from __future__ import annotations

import pytest
from helpers import OPT_IN, expected_findings, fixture_files

from safestate_lint.config import Config
from safestate_lint.engine import check_source

FIXTURE_CONFIG = Config(single_threaded_tests=False)


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.name)
def test_fixture_findings_match_markers(path):
    source = path.read_text()
    found = {(f.line, f.code) for f in check_source(source, str(path), FIXTURE_CONFIG)}
    assert found == expected_findings(source, opt_in=False)


@pytest.mark.parametrize("path", [p for p in fixture_files() if {c for _, c in expected_findings(p.read_text())} & OPT_IN],
                         ids=lambda p: p.name)
def test_fixture_findings_with_the_opt_in_rules_selected(path):
    source = path.read_text()
    config = FIXTURE_CONFIG._replace(extend_select=tuple(sorted(OPT_IN)))
    found = {(f.line, f.code) for f in check_source(source, str(path), config)}
    assert found == expected_findings(source)


def test_fixtures_under_tests_are_quiet_as_single_threaded_test_modules():
    """Without the option, a fixture that imports no threading module is a test module of one thread."""
    quiet = [p for p in fixture_files() if "threading" not in p.read_text() and "concurrent" not in p.read_text()]
    assert quiet, "expected some fixture that starts no threads"
    for path in quiet:
        assert check_source(path.read_text(), str(path), Config()) == [], path


def test_every_rule_has_a_fixture_and_safe_file_exists():
    names = {p.name for p in fixture_files()}
    for code in ("sst101", "sst102", "sst103", "sst104", "sst201", "sst202", "sst203", "sst3", "sst4"):
        assert f"{code}.py" in names
    assert "safe_patterns.py" in names
    assert any({c for _, c in expected_findings(p.read_text())} & OPT_IN for p in fixture_files())
