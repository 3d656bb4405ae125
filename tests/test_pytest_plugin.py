"""The pytest plugin, through real pytest runs in a subprocess: the fixture and the marker
catch a lost update and a double-created singleton in unfixed code, and pass once
`safestate-lint fix` has run; failures name the thread and the iteration; --hammer-threads
and --strict-markers work; loading it imports neither LibCST nor the analysis engine."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "data" / "hammer_app"


def installed() -> bool:
    return any(e.name == "safestate" for e in importlib.metadata.entry_points().select(group="pytest11"))


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    plugin = [] if installed() else ["-p", "safestate_lint.pytest_plugin"]  # the free-threaded leg has no install
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
                           *plugin, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


def test_fixture_catches_the_races_and_passes_after_fix(tmp_path):
    shutil.copy(APP / "app.py", tmp_path / "app.py")
    shutil.copy(APP / "app_tests.py", tmp_path / "test_app.py")  # not collected by this project's own run
    unfixed = run_pytest(tmp_path)
    assert unfixed.returncode == 1, unfixed.stdout
    assert "2 failed" in unfixed.stdout, unfixed.stdout
    # several of the 16 threads built their own Config (how many varies: 16 on 3.11, fewer on 3.13t)
    built = re.search(r"assert (\d+) == 1", unfixed.stdout)
    assert built and int(built.group(1)) > 1, unfixed.stdout
    python = os.environ.get("SAFESTATE_FIX_PYTHON", sys.executable)
    try:
        import libcst  # noqa: F401
    except ImportError:  # the free-threaded leg: the fixed file comes from an interpreter that has LibCST
        if python == sys.executable:
            return
    subprocess.run([python, "-m", "safestate_lint", "fix", "--no-cache", "app.py"], cwd=tmp_path, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=120)
    fixed = run_pytest(tmp_path)
    assert fixed.returncode == 0 and "2 passed" in fixed.stdout, fixed.stdout


def test_marker_runs_the_body_in_threads_and_names_the_failing_thread(tmp_path):
    (tmp_path / "test_marked.py").write_text(
        "import threading\nimport pytest\n\nseen = set()\ncalls = []\n\n\n"
        "@pytest.fixture(scope='module')\ndef shared():\n    return object()\n\n\n"
        "@pytest.mark.hammer(threads=4, iterations=25)\n"
        "def test_body(shared):\n    seen.add((threading.current_thread().name, id(shared)))\n    calls.append(1)\n\n\n"
        "def test_counts():\n    assert len(calls) == 4 * 25 and len({s for _, s in seen}) == 1\n"
        "    assert len({t for t, _ in seen}) == 4\n\n\n"
        "@pytest.mark.hammer(threads=3, iterations=10)\n"
        "def test_fails():\n    assert threading.current_thread().name != 'hammer-2'\n")
    result = run_pytest(tmp_path)
    assert result.returncode == 1 and "1 failed, 2 passed" in result.stdout, result.stdout
    assert "raised in hammer thread 2 of 3, iteration 1 of 10" in result.stdout
    override = run_pytest(tmp_path, "--hammer-threads", "2", "-k", "body or counts")
    assert override.returncode == 1 and "assert (50 == (4 * 25)" in override.stdout, override.stdout


def test_loading_the_plugin_imports_no_engine():
    code = ("import sys, safestate_lint.pytest_plugin as p\n"
            "print(sorted(m for m in sys.modules if m.startswith(('libcst', 'safestate_lint.engine', "
            "'safestate_lint.fixers'))))\n"
            "print(len(p.run_hammer(lambda: 1, threads=3, iterations=4)[2]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.splitlines() == ["[]", "4"], out.stdout + out.stderr


def test_a_deadlocked_hammer_fails_with_the_stuck_stacks(tmp_path):
    (tmp_path / "test_stuck.py").write_text(
        "import threading\n\n_lock = threading.Lock()\n\n\ndef take_twice():\n    with _lock:\n        with _lock:\n"
        "            pass\n\n\ndef test_stuck(hammer):\n    hammer(take_twice, threads=2, iterations=1, timeout=1)\n")
    result = run_pytest(tmp_path)
    assert result.returncode == 1 and "HammerTimeout" in result.stdout, result.stdout
    assert "2 of 2 threads did not finish within 1s" in result.stdout and "in take_twice" in result.stdout


EXPLORE_TESTS = '''import threading

import pytest


class Counter:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()


def bump(c):
    c.n += 1


def bump_locked(c):
    with c.lock:
        c.n += 1


def is_two(c):
    assert c.n == 2


def test_racy(interleavings):
    interleavings(Counter, bump, bump, invariant=is_two)


def test_fixed(interleavings):
    result = interleavings(Counter, bump_locked, bump_locked, invariant=is_two, runs=30)
    assert result.runs == 30 and not result.failed


@pytest.mark.explore(strategy="random", seed=5, runs=50)
def test_marked(interleavings):
    interleavings(Counter, bump, bump, invariant=is_two)


@pytest.mark.explore(strategy="exhaustive")
def test_marked_fixed(interleavings):
    assert interleavings(Counter, bump_locked, bump_locked, invariant=is_two).exhausted
'''


def test_interleavings_fixture_and_explore_marker(tmp_path):
    """The fixture fails a racy test with the report and its replayable schedule; the marker
    sets the fixture's defaults; fixed code passes."""
    (tmp_path / "test_explored.py").write_text(EXPLORE_TESTS)
    result = run_pytest(tmp_path)
    assert result.returncode == 1 and "2 failed, 2 passed" in result.stdout, result.stdout
    assert "ExploreFailure: explore: invariant on run" in result.stdout
    assert "(strategy pct, seed 0" in result.stdout and "(strategy random, seed 5" in result.stdout
    assert '"choices": [' in result.stdout and "switches (" in result.stdout and "c.n += 1" in result.stdout
    strict = run_pytest(tmp_path, "-k", "marked_fixed")
    assert strict.returncode == 0 and "1 passed" in strict.stdout, strict.stdout  # the marker is registered
