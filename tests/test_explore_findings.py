"""Static findings feed the explorer: `check --format json` names each finding's function and
state; `explore_findings` turns the flagged functions into failing, replayable interleavings (and
finds nothing in their fixed versions); `pytest --safestate-explore PATH` runs them as tests."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from safestate_lint.explore_finding import explore_findings
from safestate_lint.runtime.testing import explore

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "race_samples"

FIXED_SINGLETON = '''import threading
import time

created = []
_instance = None
_lock = threading.Lock()


class Heavy:
    def __init__(self):
        time.sleep(0.01)
        created.append(self)


def get():
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = Heavy()
    return _instance
'''

FIXED_COUNTER = '''import threading

hits = 0
_hits_lock = threading.Lock()


def hit():
    global hits
    with _hits_lock:
        hits += 1
'''

RACY_COUNTER = '''hits = 0


def hit():
    global hits
    hits += 1
'''


def check_json(cwd: Path, *paths: str):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "safestate_lint", "check", "--format", "json", "--no-cache", *paths],
                         cwd=cwd, capture_output=True, text=True, env=env, timeout=120)
    return json.loads(out.stdout)


def test_json_findings_name_their_function_and_state(tmp_path):
    for name in ("counter", "class_singleton"):
        shutil.copy(SAMPLES / f"{name}.py", tmp_path / f"{name}.py")
    found = {(f["path"], f["code"]): f for f in check_json(tmp_path, ".")}
    assert found[("counter.py", "SST101")]["function"] == "add" and found[("counter.py", "SST101")]["state"] == "total"
    singleton = found[("class_singleton.py", "SST202")]
    assert singleton["function"] == "Config.instance" and singleton["state"] == "Config._instance"


def test_flagged_functions_race_under_the_explorer_and_replay(tmp_path, monkeypatch):
    for name in ("counter", "module_singleton", "class_singleton", "cache"):
        shutil.copy(SAMPLES / f"{name}.py", tmp_path / f"{name}.py")
    (tmp_path / "hits.py").write_text(RACY_COUNTER)
    monkeypatch.chdir(tmp_path)
    outcomes = {(o.finding["path"], o.finding["function"]): o
                for o in explore_findings(["."], arguments={"add": ("abc",), "cache.py:get": ("key",)})}
    for key in [("counter.py", "add"), ("module_singleton.py", "get"), ("class_singleton.py", "Config.instance"),
                ("hits.py", "hit"), ("cache.py", "get")]:
        assert outcomes[key].status == "race", outcomes[key].describe()
        assert "race shown (invariant)" in outcomes[key].describe()
    # a flagged function that needs arguments nobody gave is skipped, and says so
    [skipped] = explore_findings(["."], findings=[{"path": "counter.py", "line": 1, "code": "SST101",
                                                   "function": "add", "state": "total"}])
    assert skipped.status == "skipped" and "needs arguments" in skipped.describe()
    lost = outcomes[("hits.py", "hit")].result
    assert "'hits' is 1 after two concurrent calls of hit(), 2 after two in a row" in str(lost.error)
    created = outcomes[("module_singleton.py", "get")].result
    assert "something was created twice" in str(created.error)


def test_fixed_functions_show_no_race_within_the_budget(tmp_path, monkeypatch):
    (tmp_path / "singleton.py").write_text(FIXED_SINGLETON)
    (tmp_path / "hits.py").write_text(FIXED_COUNTER)
    monkeypatch.chdir(tmp_path)
    findings = [{"path": "singleton.py", "line": 15, "code": "SST201", "function": "get", "state": "_instance"},
                {"path": "hits.py", "line": 7, "code": "SST101", "function": "hit", "state": "hits"}]
    outcomes = explore_findings(["."], findings=findings, runs=60)
    assert [o.status for o in outcomes] == ["not found", "not found"], [o.describe() for o in outcomes]
    assert "not found within 60 schedules" in outcomes[0].describe()


def test_a_finding_replays_through_explore(tmp_path, monkeypatch):
    (tmp_path / "hits.py").write_text(RACY_COUNTER)
    monkeypatch.chdir(tmp_path)
    finding = {"path": "hits.py", "line": 6, "code": "SST101", "function": "hit", "state": "hits"}
    outcome, = explore_findings(["hits.py"], findings=[finding], strategy="random", seed=2)
    assert outcome.status == "race" and outcome.result.kind == "invariant"
    again, = explore_findings(["hits.py"], findings=[finding], replay=outcome.result.schedule)
    assert again.status == "race" and again.result.runs == 1
    assert explore  # the same engine as the runtime's


def test_pytest_safestate_explore_option(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "metrics.py").write_text(RACY_COUNTER + "\n\ndef needs(x):\n    global hits\n    hits += x\n")
    (tmp_path / "app" / "fixed.py").write_text(FIXED_COUNTER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    installed = any(e.name == "safestate" for e in importlib.metadata.entry_points().select(group="pytest11"))
    plugin = [] if installed else ["-p", "safestate_lint.pytest_plugin"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin,
                             "--safestate-explore", "app/metrics.py", "app/fixed.py", "-rs"],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    out = result.stdout
    assert result.returncode == 1 and "1 failed" in out and "1 skipped" in out, out
    assert "app/metrics.py:6: SST101 hit(): race shown (invariant)" in out
    assert '"choices": [' in out and "hits += 1" in out
    assert "needs' needs arguments" in out
    assert "safestate-explore" in out
