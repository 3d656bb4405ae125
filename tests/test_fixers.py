"""Fixers: before/after as source text, plus the fix guarantees of PRODUCT.md."""

from __future__ import annotations

import ast
import os
import stat

import pytest
from helpers import ROOT, run_cli

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.fixers import fix_bytes, fix_source

CASES = sorted(p for p in (ROOT / "tests" / "fix_cases").glob("*.py") if not p.name.endswith(".fixed.py"))
UNFIXABLE = {
    # an `async with` before the append would pause inside `while _pending: ... pop()`
    "loop_across_await": ["SST105"],
    "loop_single_flight": ["SST101"],  # drain() awaits a queue item between its read and its write
    "unfixable_await": ["SST101"],
    "safety_callee_under_caller_lock": ["SST101"],  # its caller holds the non-reentrant lock
    "safety_existing_lock_reached": ["SST101"],  # the statement calls a function taking the lock
    "safety_generator": ["SST103"],  # a lock cannot be held across the yield
    "safety_blocking_call": ["SST103"],  # the lock would be held across time.sleep()
    "truth_containers_noticed": [],  # the loop over _work meets only appends: it cannot tear
    "truth_writers": ["SST101", "SST101"],
    "redteam_two_branch": ["SST202", "SST202"],  # a lock in one of two class definitions would break the other
    "redteam_enum_body": ["SST202"],  # an attribute added to an Enum body becomes a member
    "redteam_local_singleton": ["SST201"],  # the module's own `singleton` would shadow the runtime's
    "safety_recursion_existing_lock": ["SST102", "SST105"],  # the recursive call would take the non-reentrant lock again
    "sst4_lock_misuse": ["SST402"],  # acquire(timeout=1): its result should decide what follows
    "sst3_objects": ["SST302"],  # the lock would be held across the helper's time.sleep()
    "safety_reentrant_callback": ["SST101"],  # the listeners are foreign code: no lock is held across them
    # `v = _settings.get(k); if v is None:` builds a stored None again: no single flight, and no lock across the fetch
    "single_flight_cache": ["SST103"],
}


POLICY = Config(extend_select=("SST105",))  # the opt-in rule whose fixer locks lone mutations


def comments(text):
    """Each comment's text (a statement a fix rewrites keeps its comments, not its line)."""
    return [line[line.index("#"):].strip() if line.strip().startswith("#") else line[line.index("  # ") + 2:].strip()
            for line in text.splitlines() if line.strip().startswith("#") or "  # " in line]


def case_config(case) -> Config:
    """`loop_*` cases are services whose coroutines run on one event loop. Every case runs with
    the opt-in policy SST105 selected (every unlocked mutation of shared state): its fixer is the
    one that replaces containers and locks lone mutations, which the cases exercise."""
    return Config(assume_single_event_loop=case.stem.startswith("loop_"), extend_select=("SST105",))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_before_after(case):
    before = case.read_text()
    expected = case.with_name(case.stem + ".fixed.py").read_text()
    config = case_config(case)
    result = fix_source(before, case.name, config)
    assert result.source == expected
    ast.parse(result.source)  # the output parses
    left = [f.code for f in check_source(result.source, case.name, config)]
    assert left == UNFIXABLE.get(case.stem, [])  # check no longer reports what was fixed
    assert [f.code for f in result.remaining] == left
    assert result.fixed == len(check_source(before, case.name, config)) - len(left)
    assert not fix_source(result.source, case.name, config).changed  # a second fix changes nothing
    for comment in comments(before):  # comments survive
        assert comment in result.source


def test_fix_is_minimal_outside_edited_statements():
    source = "import os  # keep\n\n\n_X = {}  # registry\n\n\ndef helper(a,b):  # odd   spacing kept\n    return a+b\n\n\ndef put(k):\n    _X[k] = helper(1,2)\n"
    result = fix_source(source, "m.py", POLICY).source
    assert "def helper(a,b):  # odd   spacing kept\n    return a+b\n" in result
    assert "_X = LockedDict()  # registry\n" in result and "import os  # keep\n" in result


def test_unsafe_container_replacement_needs_the_flag():
    case = ROOT / "tests" / "fix_cases" / "sst102_unsafe.py"
    safe = fix_source(case.read_text(), "u.py", POLICY).source
    assert "LockedDict" not in safe and "with _cache_lock:" in safe
    unsafe = fix_source(case.read_text(), "u.py", POLICY, unsafe_fixes=True).source
    assert "_cache = LockedDict()" in unsafe and "_cache_lock" not in unsafe


def test_await_under_thread_lock_becomes_an_asyncio_lock_only_with_unsafe_fixes(tmp_path):
    """The original deadlocks its event loop (a second task blocks the thread on the lock the
    first holds across an await); the --unsafe-fixes version completes; a lock a thread also
    takes is left, saying so."""
    import subprocess
    import sys

    case = ROOT / "tests" / "data" / "await_under_thread_lock.py"
    source = case.read_text()
    safe = fix_source(source, "a.py", Config())
    assert not safe.changed and {safe.why(f) for f in safe.remaining} == {
        "with --unsafe-fixes, '_conn_lock' becomes a LoopLock(), an asyncio lock (correct only when every "
        "coroutine using it runs on one event loop)"}
    unsafe = fix_source(source, "a.py", Config(), unsafe_fixes=True)
    assert "_conn_lock = LoopLock()" in unsafe.source and unsafe.source.count("async with _conn_lock:") == 2
    assert "from safestate_lint.runtime import LoopLock" in unsafe.source
    assert unsafe.remaining == [] and check_source(unsafe.source, "a.py", Config()) == []
    (tmp_path / "before.py").write_text(source)
    (tmp_path / "after.py").write_text(unsafe.source)
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "before.py"], cwd=tmp_path, capture_output=True, timeout=5)
    after = subprocess.run([sys.executable, "after.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (after.returncode, after.stdout) == (0, "done\n"), after.stderr
    shared = source + "\n\ndef from_thread(user):\n    with _conn_lock:\n        _conns.pop(user, None)\n"
    left = fix_source(shared, "a.py", Config(), unsafe_fixes=True)
    assert "asyncio.Lock()" not in left.source
    assert all("is also taken outside a coroutine" in left.why(f) for f in left.remaining if f.code == "SST405")


def test_configured_runtime_module():
    config = POLICY._replace(runtime_module="myapp.safe")
    result = fix_source("_D = {}\n\n\ndef f(k):\n    _D[k] = 1\n", "m.py", config).source
    assert "from myapp.safe import LockedDict" in result
    assert check_source(result, "m.py", config) == []


def test_noqa_findings_are_not_fixed():
    source = "D = []\n\n\ndef f(k):\n    D.insert(0, k)  # noqa: SST102\n"
    assert fix_source(source.replace("  # noqa: SST102", ""), "m.py", Config()).changed  # a finding without it
    assert not fix_source(source, "m.py", Config()).changed
    policy = "D = {}\n\n\ndef f(k):\n    D[k] = 1  # noqa: SST105\n"
    assert fix_source(policy.replace("  # noqa: SST105", ""), "m.py", POLICY).changed
    assert not fix_source(policy, "m.py", POLICY).changed


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_crlf_and_bom_round_trip(newline, bom):
    source = "n = 0\n\n\ndef inc():\n    global n\n    n += 1\n".replace("\n", newline)
    new, result = fix_bytes(bom + source.encode(), "m.py", Config())
    assert new is not None and new.startswith(bom) and result.fixed == 1
    text = new[len(bom):].decode()
    assert text.count(newline) == text.count("\n") if newline == "\r\n" else "\r" not in text
    assert "    with _n_lock:" + newline + "        n += 1" + newline in text


def test_latin1_file_keeps_its_encoding():
    data = b"# -*- coding: latin-1 -*-\nNAME = '\xe9'\nD = []\n\n\ndef f(k):\n    D.insert(0, NAME)\n"
    new, _ = fix_bytes(data, "m.py", Config())
    assert new is not None and b"NAME = '\xe9'" in new and new.decode("latin-1")


# -- the command ----------------------------------------------------------------------------

UNSAFE = "n = 0\n\n\ndef inc():\n    global n\n    n += 1\n"


def test_fix_command_writes_and_summarises(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    (tmp_path / "b.py").write_text((ROOT / "tests" / "fix_cases" / "unfixable_await.py").read_text())
    result = run_cli(["fix"], cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 1  # something is left without a fix
    assert "b.py:10:5: SST101 global 'total' is read and rebound without a lock in 'add()'" in err
    assert err.strip().endswith("fixed 1 finding in 1 file, 1 left without an automatic fix.")
    assert "with _n_lock:" in (tmp_path / "a.py").read_text()
    again = run_cli(["fix", "a.py"], cwd=tmp_path)
    assert again.returncode == 0 and b"fixed 0 findings in 0 files, 0 left" in again.stderr


def test_fix_diff_writes_nothing(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    result = run_cli(["fix", "--diff"], cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout.decode()
    assert out.startswith("--- a/a.py\n+++ b/a.py\n") and "+    with _n_lock:" in out
    assert (tmp_path / "a.py").read_text() == UNSAFE
    (tmp_path / "a.py").write_text("x = 1\n")
    assert run_cli(["fix", "--diff"], cwd=tmp_path).returncode == 0


def test_fix_select_and_jobs(tmp_path):
    for i in range(8):
        (tmp_path / f"m{i}.py").write_text(UNSAFE + "_D = {}\n\n\ndef put(k):\n    _D[k] = 1\n")
    result = run_cli(["fix", "--select", "SST105", "--jobs", "2"], cwd=tmp_path)  # the policy alone: not SST101
    assert result.returncode == 0, result.stderr
    for i in range(8):
        text = (tmp_path / f"m{i}.py").read_text()
        assert "_D = LockedDict()" in text and "_n_lock" not in text


def test_fix_leaves_unparsable_and_read_only_files_alone(tmp_path):
    (tmp_path / "bad.py").write_text("def f(:\n")
    (tmp_path / "ro.py").write_text(UNSAFE)
    os.chmod(tmp_path / "ro.py", stat.S_IRUSR | stat.S_IRGRP)
    (tmp_path / "ok.py").write_text(UNSAFE)
    result = run_cli(["fix"], cwd=tmp_path)
    err = result.stderr.decode().splitlines()
    assert result.returncode == 2
    assert err[0].startswith("bad.py: error: syntax error at line 1")
    assert err[1] == "ro.py: error: file is read-only; not fixed"
    assert (tmp_path / "bad.py").read_text() == "def f(:\n" and (tmp_path / "ro.py").read_text() == UNSAFE
    assert "with _n_lock:" in (tmp_path / "ok.py").read_text()


def test_interrupted_write_leaves_the_original_intact(tmp_path, monkeypatch):
    from safestate_lint.fixers import command

    target = tmp_path / "a.py"
    target.write_text(UNSAFE)
    real_write = os.fdopen

    class Exploding:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Exploding(real_write(fd, mode)))
    outcome = command._fix_one((str(target), "a.py", Config(), False, True, frozenset()))
    monkeypatch.undo()
    assert outcome[2] == "cannot write: No space left on device; file left unchanged"
    assert target.read_text() == UNSAFE
    assert [p.name for p in tmp_path.iterdir()] == ["a.py"]  # no temporary file left behind


def test_a_lock_is_never_adopted_by_its_name_alone():
    source = ("import threading\n\n_config_lock = threading.Lock()\nconfig = 0\n\n\ndef other():\n"
              "    with _config_lock:\n        pass\n\n\ndef bump():\n    global config\n    config += 1\n")
    result = fix_source(source, "m.py", Config()).source
    assert "_config_thread_lock = threading.Lock()" in result
    assert "    with _config_thread_lock:\n        config += 1\n" in result


def test_the_fix_summary_says_why_a_finding_is_left(tmp_path):
    target = tmp_path / "gen.py"
    target.write_text((ROOT / "tests" / "fix_cases" / "safety_callee_under_caller_lock.py").read_text())
    result = run_cli(["fix", "--no-cache", str(target)])
    assert result.returncode == 1
    assert "(no automatic fix: 'helper()' is called while '_n_lock' is held" in result.stderr.decode()
