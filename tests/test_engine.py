"""Engine properties: the fast path equals the full analysis, nothing is executed, and hostile
input gets one clear line and the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import run_cli

from safestate_lint.config import Config
from safestate_lint.engine import check_tree, decode_source, parse_source
from safestate_lint.finding import SourceError

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# `D.insert(0, k)` on a shared list: not atomic on the free-threaded build (SST102)
INSERT = "not atomic"


def stdlib_files(step):
    files = sorted(p for p in STDLIB.rglob("*.py") if "site-packages" not in p.parts)
    return files[::step]


def both_paths(path):
    try:
        source = decode_source(path.read_bytes())
        tree = parse_source(source, str(path))
    except SourceError:
        return None, None
    lines = source.splitlines(True)
    fast = check_tree(tree, lines, str(path), Config())
    full = check_tree(tree, lines, str(path), Config(), prefilter=False)
    return fast, full


def test_fast_path_finds_exactly_what_the_full_analysis_finds():
    files = stdlib_files(6)
    assert len(files) > 200
    total = 0
    for path in files:
        fast, full = both_paths(path)
        assert fast == full, path
        total += len(fast or [])
    assert total > 20  # the corpus really exercises the rules


@pytest.mark.stress
def test_fast_path_equals_full_analysis_on_the_whole_stdlib():
    for path in stdlib_files(1):
        fast, full = both_paths(path)
        assert fast == full, path


def test_statement_scope_equals_the_full_walk_without_walrus():
    """Without `:=`, a function's locals come from statements and targets alone: the same
    sets as walking every expression, on every function of a tenth of the stdlib."""
    import ast

    from safestate_lint.engine.facts import FunctionInfo
    from safestate_lint.engine.syntax import collect_scope

    compared = 0
    for path in stdlib_files(10):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not any(
                    isinstance(inner, ast.NamedExpr) for inner in ast.walk(node)):
                full, fast = FunctionInfo(node=node, qualname="f"), FunctionInfo(node=node, qualname="f", walrus=False)
                collect_scope(full)
                collect_scope(fast)
                assert (fast.locals, fast.globals_declared) == (full.locals, full.globals_declared), (path, node.name)
                compared += 1
    assert compared > 1000


def test_checking_and_fixing_never_execute_the_code(tmp_path):
    marker = tmp_path / "executed"
    (tmp_path / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\nraise SystemExit(3)\n"
        "D = []\n\n\ndef f(k):\n    D.insert(0, k)\n"
    )
    (tmp_path / "conftest.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\n")
    assert run_cli(["check", "--no-cache", "-q"], cwd=tmp_path).returncode == 1
    assert run_cli(["fix", "-q"], cwd=tmp_path).returncode == 0
    assert not marker.exists()
    assert "with _d_lock:" in (tmp_path / "evil.py").read_text()


def test_concurrent_runs_share_the_cache_safely(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i}.py").write_text(f"D{i} = []\n\n\ndef f(k):\n    D{i}.insert(0, k)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-m", "safestate_lint", "check", "-q", "--jobs", "1"], cwd=tmp_path,
                              stdout=subprocess.PIPE, env=env) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert len(set(outputs)) == 1 and outputs[0].count(b"\n") == 40
    assert run_cli(["check", "-q"], cwd=tmp_path).stdout == outputs[0]
    assert not list((tmp_path / ".safestate_cache").rglob(".tmp-*"))


def test_deeply_nested_expression_is_a_clear_error(tmp_path):
    (tmp_path / "deep.py").write_text("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    (tmp_path / "ok.py").write_text("D = []\n\n\ndef f(k):\n    D.insert(0, k)\n")
    result = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("deep.py: error: ") and "Traceback" not in err and err.count("\n") == 1
    assert result.stdout.decode().startswith("ok.py:5:5: SST102")


def test_shapes_the_sweep_crashed_on(tmp_path):
    """Functions returning each other's calls (a lock-factory cycle: pydantic), and a global
    used in a lambda at module level while a fix replaces its container (gettext, logging)."""
    (tmp_path / "cycle.py").write_text("_x = {}\n\n\ndef f():\n    return g()\n\n\ndef g():\n    return f()\n\n\n"
                                       "def h(k):\n    with f():\n        _x[k] = 1\n")
    (tmp_path / "lam.py").write_text("_cache = {}\nkey = lambda x: _cache.get(x)\n\n\ndef put(k, v):\n    _cache[k] = v\n")
    quiet = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)  # lone atomic writes: no race by default
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, b"", b"")
    policy = ["--extend-select", "SST105"]  # the opt-in rule reports them and its fixer replaces the container
    checked = run_cli(["check", "--no-cache", "-q", *policy], cwd=tmp_path)
    assert (checked.returncode, checked.stderr) == (1, b"")
    assert sorted(checked.stdout.decode().splitlines()) == [
        "cycle.py:14:9: SST105 module-level dict '_x' is mutated (item assignment) in 'h()' without a lock",
        "lam.py:6:5: SST105 module-level dict '_cache' is mutated (item assignment) in 'put()' without a lock"]
    fixed = run_cli(["fix", *policy], cwd=tmp_path)
    assert fixed.returncode == 0 and b"Traceback" not in fixed.stderr, fixed.stderr
    assert "_cache = LockedDict()" in (tmp_path / "lam.py").read_text()


def test_deep_but_valid_nesting_is_checked(tmp_path):
    body = "".join("    " * i + f"if x{i}:\n" for i in range(60)) + "    " * 60 + "D.insert(0, k)\n"
    (tmp_path / "nested.py").write_text("D = []\n\n\ndef f(k):\n" + "".join("    " + line for line in body.splitlines(True)))
    result = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)
    assert result.returncode == 1 and b"SST102" in result.stdout


def test_directory_symlink_loop_and_unreadable_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("D = []\n\n\ndef f(k):\n    D.insert(0, k)\n")
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    result = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path, timeout=60)
    assert result.returncode == 1 and result.stdout.count(b"\n") == 1
    unreadable = tmp_path / "pkg" / "secret.py"
    unreadable.write_text("x = 1\n")
    os.chmod(unreadable, 0)
    if os.access(unreadable, os.R_OK):
        pytest.skip("running as root: permissions do not stop reads")
    result = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)
    assert result.returncode == 2 and b"pkg/secret.py: error: Permission denied" in result.stderr


def test_mixed_line_endings_and_50000_lines(tmp_path):
    (tmp_path / "mixed.py").write_bytes(b"D = []\r\n\n\ndef f(k):\r\n    D.insert(0, k)\n")
    big = "".join(f"V{i} = {i}\n" for i in range(50_000)) + "D = []\n\n\ndef f(k):\n    D.insert(0, k)\n"
    (tmp_path / "big.py").write_text(big)
    result = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)
    assert result.stdout.decode().splitlines() == [
        "big.py:50005:5: SST102 'D' is mutated (.insert()) in 'f()' without a lock: " + INSERT,
        "mixed.py:5:5: SST102 'D' is mutated (.insert()) in 'f()' without a lock: " + INSERT,
    ]
    assert run_cli(["fix", "-q"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "mixed.py").read_bytes().startswith(b"import threading\r\n")  # the dominant ending
