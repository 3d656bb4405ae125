"""A finding's main line names the code, the state and the consequence in about 120
characters; the details (the other site, the call chain, who runs it) are its context:
`check --show-context`, the JSON `context` field, SARIF `relatedLocations`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.rules import ALL_RULES

EXAMPLES = [(rule, source) for rule in ALL_RULES for source in rule.INVALID]


@pytest.mark.parametrize("rule,source", EXAMPLES, ids=[f"{r.code}-{i}" for i, (r, _) in enumerate(EXAMPLES)])
def test_the_main_line_stays_short(rule, source):
    for finding in check_source(source, "example.py", Config(extend_select=(rule.code,))):
        assert "\n" not in finding.message
        assert len(f"{finding.code} {finding.message}") <= 140, finding.message


SOURCE = textwrap.dedent("""
    import threading
    class Store:
        def __init__(self):
            self._lock = threading.Lock()
            self._items = {}
        def add(self, k, v):
            with self._lock:
                self._items[k] = v
        def report(self):
            return [k for k in self._items]
""")


def run(tmp_path, *args):
    (tmp_path / "store.py").write_text(SOURCE)
    return subprocess.run([sys.executable, "-m", "safestate_lint", "check", "--no-cache", *args, "store.py"],
                          cwd=tmp_path, capture_output=True, text=True)


def test_show_context_prints_the_other_site_under_the_finding(tmp_path):
    plain = run(tmp_path).stdout.splitlines()
    assert len(plain) == 1 and "SST104" in plain[0] and "(line 9)" not in plain[0]
    shown = run(tmp_path, "--show-context").stdout.splitlines()
    assert shown[0] == plain[0]
    assert shown[1] == "    = 'Store.add()' mutates it meanwhile (line 9)"


def test_json_and_sarif_carry_the_context(tmp_path):
    [finding] = json.loads(run(tmp_path, "--format", "json").stdout)
    assert finding["context"] == "'Store.add()' mutates it meanwhile (line 9)"
    [result] = json.loads(run(tmp_path, "--format", "sarif").stdout)["runs"][0]["results"]
    [related] = result["relatedLocations"]
    assert related["physicalLocation"]["region"]["startLine"] == 9
    assert related["message"]["text"] == "'Store.add()' mutates it meanwhile (line 9)"
