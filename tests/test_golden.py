"""Golden fixtures: each file's expected findings sit in trailing `# SSTnnn` comments."""

from __future__ import annotations

import pytest
from helpers import expected_findings, fixture_files

from safestate_lint.config import Config
from safestate_lint.engine import check_source


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.name)
def test_fixture_findings_match_markers(path):
    source = path.read_text()
    found = {(f.line, f.code) for f in check_source(source, str(path), Config())}
    assert found == expected_findings(source)


def test_every_rule_has_a_fixture_and_safe_file_exists():
    names = {p.name for p in fixture_files()}
    for code in ("sst101", "sst102", "sst103", "sst104", "sst201", "sst202", "sst203", "sst3", "sst4"):
        assert f"{code}.py" in names
    assert "safe_patterns.py" in names
