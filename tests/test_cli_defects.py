"""CLI defects found by the truthful-fixes review, each through the real CLI (or real flake8 /
git) in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from helpers import run_cli

UNSAFE = "count = 0\n\ndef inc():\n    global count\n    count += 1\n"
GENERATOR = "n = 0\n\ndef g():\n    global n\n    yield 1\n    n += 1\n    yield n\n"  # fixable
LEFT = "_seen = set()\n\ndef unique(items):\n    for x in items:\n        if x not in _seen:\n            _seen.add(x)\n            yield x\n"
# the opt-in policy rule: every unlocked mutation of shared state (its fixer replaces containers, wraps statements)
POLICY = ["--extend-select", "SST105"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_diff_of_a_file_without_trailing_newline_applies_with_git(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE.rstrip("\n"))
    result = run_cli(["fix", "--diff", "--no-cache", "a.py"], cwd=tmp_path)
    assert result.returncode == 1
    patch = result.stdout.decode()
    assert patch.count("\\ No newline at end of file\n") == 2
    (tmp_path / "p.diff").write_text(patch)
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    applied = subprocess.run(["git", "apply", "p.diff"], cwd=tmp_path, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / "a.py").read_text().endswith("        count += 1")  # still no newline
    assert run_cli(["check", "--no-cache", "-q", "a.py"], cwd=tmp_path).returncode == 0


def test_fix_stdin_writes_the_fixed_source_to_stdout(tmp_path):
    result = run_cli(["fix", "--stdin-filename", "pkg/m.py", "-"], cwd=tmp_path, stdin=UNSAFE.encode())
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "with _count_lock:\n        count += 1\n" in out and out.startswith("import threading\n")
    assert not (tmp_path / "pkg").exists()  # nothing written
    assert b"fixed 1 finding in 1 file" in result.stderr
    clean = "def f(x):\n    return x\n"
    same = run_cli(["fix", "-"], cwd=tmp_path, stdin=clean.encode())
    assert (same.returncode, same.stdout) == (0, clean.encode())
    diff = run_cli(["fix", "--diff", "-"], cwd=tmp_path, stdin=UNSAFE.encode())
    assert diff.returncode == 1 and diff.stdout.startswith(b"--- a/stdin.py\n")
    broken = run_cli(["fix", "-"], cwd=tmp_path, stdin=b"def f(:\n")
    assert broken.returncode == 2 and broken.stdout == b"def f(:\n"  # stdin is never lost
    assert b"stdin.py: error: syntax error" in broken.stderr


def test_json_marks_fixable_only_what_fix_fixes(tmp_path):
    (tmp_path / "a.py").write_text(GENERATOR + "\n\n" + LEFT)
    result = run_cli(["check", "--no-cache", "--format", "json", "a.py"], cwd=tmp_path)
    data = {(d["line"], d["code"]): d["fixable"] for d in json.loads(result.stdout)}
    # `_seen.add(x)` after the test is SST103's race only; a lone `set.add` is atomic (no SST102)
    assert data == {(6, "SST101"): True, (14, "SST103"): False}
    policy = run_cli(["check", "--no-cache", *POLICY, "--format", "json", "a.py"], cwd=tmp_path)
    data = {(d["line"], d["code"]): d["fixable"] for d in json.loads(policy.stdout)}
    assert data == {(6, "SST101"): True, (14, "SST103"): False, (15, "SST105"): True}
    for args, first in (([], result), (POLICY, policy)):
        cached = run_cli(["check", *args, "--format", "json", "a.py"], cwd=tmp_path)
        again = run_cli(["check", *args, "--format", "json", "a.py"], cwd=tmp_path)
        assert json.loads(cached.stdout) == json.loads(again.stdout) == json.loads(first.stdout)



def test_show_fixes_marks_what_fix_removes_and_counts_it(tmp_path):
    (tmp_path / "a.py").write_text(GENERATOR + "\n\n" + LEFT)
    plain = run_cli(["check", "--no-cache", *POLICY, "a.py"], cwd=tmp_path)
    assert b"[*]" not in plain.stdout + plain.stderr  # the default runs no fixer
    for cache in (["--no-cache"], [], []):  # cold, then written to and read from the cache
        result = run_cli(["check", *cache, *POLICY, "--show-fixes", "a.py"], cwd=tmp_path)
        assert result.returncode == 1
        lines = result.stdout.decode().splitlines()
        assert [line.split(": ", 1)[1][:13] for line in lines] == ["SST101 [*] gl", "SST103 '_seen", "SST105 [*] mo"]
        assert result.stderr.decode().endswith(
            "Found 3 findings in 1 file.\n[*] 2 fixable with `safestate-lint fix`; 1 needs a change by hand.\n")
    default = run_cli(["check", "--no-cache", "--show-fixes", "a.py"], cwd=tmp_path)
    assert default.stderr.decode().endswith(
        "Found 2 findings in 1 file.\n[*] 1 fixable with `safestate-lint fix`; 1 needs a change by hand.\n")
    fixed = run_cli(["fix", *POLICY, "a.py"], cwd=tmp_path)
    assert b"fixed 2 findings in 1 file, 1 left" in fixed.stderr, fixed.stderr  # what the marks promised

@pytest.mark.parametrize("body,key", [
    ("select = ['SST1', 'SST999']", "key 'select': unknown rule code or prefix 'SST999'"),
    ("ignore = ['E501']", "key 'ignore': unknown rule code or prefix 'E501'"),
    ("per-file-ignores = { 'x.py' = ['SST101', 'XX1'] }", "key 'per-file-ignores.x.py': unknown rule code or prefix 'XX1'"),
])
def test_unknown_codes_in_config_are_errors(tmp_path, body, key):
    (tmp_path / "pyproject.toml").write_text(f"[tool.safestate-lint]\n{body}\n")
    (tmp_path / "a.py").write_text(UNSAFE)
    for command in ("check", "fix"):
        result = run_cli([command, "a.py"], cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.decode() == f"{tmp_path / 'pyproject.toml'}: error: [tool.safestate-lint] {key}\n"
    assert (tmp_path / "a.py").read_text() == UNSAFE


def test_stdin_filename_without_stdin_is_an_error(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    for command in ("check", "fix"):
        result = run_cli([command, "--stdin-filename", "a.py"], cwd=tmp_path)
        assert result.returncode == 2 and b"--stdin-filename names the file read from stdin" in result.stderr
        mixed = run_cli([command, "a.py", "-"], cwd=tmp_path, stdin=b"")
        assert mixed.returncode == 2 and b"- (stdin) must be the only PATH" in mixed.stderr
    assert (tmp_path / "a.py").read_text() == UNSAFE


@pytest.mark.parametrize("jobs", ["-3", "x", "-1"])
def test_negative_or_bad_jobs_are_rejected(tmp_path, jobs):
    for command in ("check", "fix"):
        result = run_cli([command, "--jobs", jobs, "."], cwd=tmp_path)
        assert result.returncode == 2 and b"--jobs" in result.stderr


def test_statistics_in_json(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE + "D = []\ndef put(k):\n    D.insert(0, k)\n")  # not atomic: SST102
    result = run_cli(["check", "--no-cache", "--statistics", "--format", "json"], cwd=tmp_path)
    assert json.loads(result.stdout) == [
        {"code": "SST101", "name": "shared-global-read-modify-write", "count": 1, "fixable": 1, "rule_has_fix": True},
        {"code": "SST102", "name": "shared-container-mutation", "count": 1, "fixable": 1, "rule_has_fix": True},
    ]


def test_diff_leftovers_carry_the_line_numbers_of_the_file_on_disk(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE + "\n\n" + LEFT)
    result = run_cli(["fix", "--diff", "--no-cache", "a.py"], cwd=tmp_path)
    left = [l for l in result.stderr.decode().splitlines() if "SST103" in l]
    assert len(left) == 1 and left[0].startswith("a.py:12:"), left  # line 12 on disk
    assert "no automatic fix: " in left[0]
    written = run_cli(["fix", "--no-cache", "a.py"], cwd=tmp_path)
    left = [l for l in written.stderr.decode().splitlines() if "SST103" in l]
    lines = (tmp_path / "a.py").read_text().splitlines()
    number = int(left[0].split(":")[1])
    assert "if x not in _seen" in lines[number - 1]  # after writing: the line in the new file


def test_fix_names_the_runtime_dependency(tmp_path):
    (tmp_path / "a.py").write_text("_d = {}\n\ndef put(k):\n    _d[k] = 1\n")
    result = run_cli(["fix", "--no-cache", *POLICY, "a.py"], cwd=tmp_path)
    assert b"now imports 'safestate_lint.runtime': add 'safestate-lint' to your project's runtime dependencies" \
        in result.stderr


@pytest.mark.parametrize("layout", ["top", "nested"])
def test_flake8_ends_with_the_config_error_in_every_job_mode(tmp_path, layout):
    pytest.importorskip("flake8")
    where = tmp_path if layout == "top" else tmp_path / "sub" / "inner"
    where.mkdir(parents=True, exist_ok=True)
    (where / "pyproject.toml").write_text("[tool.safestate-lint]\nbogus = 1\n")
    for i in range(8):
        (where / f"m{i}.py").write_text(UNSAFE)
        (tmp_path / f"top{i}.py").write_text(UNSAFE)
    for jobs in (["-j", "2"], [], ["-j", "1"]):
        result = subprocess.run([sys.executable, "-m", "flake8", "--select", "SST", *jobs, "."], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert "unknown key 'bogus' in [tool.safestate-lint]" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_nested_per_task_dict_is_one_finding_naming_what_is_written(tmp_path):
    (tmp_path / "tasks.py").write_text(
        "_sync_tasks = {}\n\n\ndef run_sync(tid, items):\n    _sync_tasks[tid] = {'progress': 0, 'errors': []}\n"
        "    for i, item in enumerate(items):\n        _sync_tasks[tid]['progress'] = i\n"
        "        if item is None:\n            _sync_tasks[tid]['errors'].append(i)\n    _sync_tasks[tid]['done'] = True\n\n\n"
        "def status(tid):\n    return _sync_tasks.get(tid)\n")
    assert run_cli(["check", "--no-cache", "-q", "tasks.py"], cwd=tmp_path).stdout == b""  # each write is atomic
    result = run_cli(["check", "--no-cache", "-q", *POLICY, "tasks.py"], cwd=tmp_path)
    out = result.stdout.decode().splitlines()
    nested = [line for line in out if "'_sync_tasks[tid]', held in module-level dict '_sync_tasks'" in line]
    assert len(out) == 2 and len(nested) == 1 and "(3 writes in this function)" in nested[0], out
    fixed = run_cli(["fix", "--no-cache", *POLICY, "tasks.py"], cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    text = (tmp_path / "tasks.py").read_text()
    assert text.count("with _sync_tasks.lock:") == 3  # every nested write, under the container's own lock
    assert run_cli(["check", "--no-cache", "-q", *POLICY, "tasks.py"], cwd=tmp_path).returncode == 0


def test_runtime_none_fixes_with_the_standard_library_only(tmp_path):
    (tmp_path / "a.py").write_text("_d = {}\n\n\ndef put(k):\n    _d[k] = 1\n")
    result = run_cli(["fix", "--no-cache", *POLICY, "--runtime", "none", "a.py"], cwd=tmp_path)
    text = (tmp_path / "a.py").read_text()
    assert result.returncode == 0 and "safestate_lint" not in text and "with _d_lock:" in text
    assert b"now import" not in result.stderr
    (tmp_path / "b.py").write_text("_d = {}\n\n\ndef put(k):\n    _d[k] = 1\n")
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nruntime-module = 'none'\nextend-select = ['SST105']\n")
    assert run_cli(["fix", "--no-cache", "b.py"], cwd=tmp_path).returncode == 0
    assert "safestate_lint" not in (tmp_path / "b.py").read_text() and "with _d_lock:" in (tmp_path / "b.py").read_text()


def test_new_imports_go_before_relative_ones_and_type_checking_imports_do_not_count(tmp_path):
    (tmp_path / "m.py").write_text(
        "from __future__ import annotations\nimport os\nfrom . import views\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import threading\n_n = 0\n\n\ndef f():\n    global _n\n    _n += 1\n")
    assert run_cli(["fix", "--no-cache", "m.py"], cwd=tmp_path).returncode == 0
    lines = (tmp_path / "m.py").read_text().splitlines()
    assert lines[:4] == ["from __future__ import annotations", "import os", "import threading", "from . import views"]


def test_annotations_follow_the_container_and_mypy_stays_clean(tmp_path):
    mypy = pytest.importorskip("mypy")  # noqa: F841
    source = ("from typing import Any, Dict, List\n_inc: Dict[str, Any] = {}\n_l: List[int] = []\n\n\n"
              "def f(k: str) -> None:\n    _inc[k] = 1\n    _l.append(1)\n")
    (tmp_path / "typed.py").write_text(source)

    def check_types():
        from helpers import ROOT
        return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "typed.py"],
                              cwd=tmp_path, capture_output=True, text=True, env={**__import__("os").environ,
                                                                                 "MYPYPATH": str(ROOT)})
    assert check_types().returncode == 0
    assert run_cli(["fix", "--no-cache", *POLICY, "typed.py"], cwd=tmp_path).returncode == 0
    text = (tmp_path / "typed.py").read_text()
    assert "_inc: LockedDict[str, Any] = LockedDict()" in text and "_l: LockedList[int] = LockedList()" in text
    after = check_types()
    assert after.returncode == 0, after.stdout


def test_adjacent_locked_statements_share_one_with_and_no_lock_is_left_unused(tmp_path):
    (tmp_path / "m.py").write_text("_a = []\n\n\ndef f(x, y):\n    _a.append(x)\n    _a.append(y)\n    return _a\n\n\n"
                                   "_seen = set()\n\n\ndef unique(items):\n    for x in items:\n        if x not in _seen:\n"
                                   "            _seen.add(x)\n            yield x\n")
    run_cli(["fix", "--no-cache", *POLICY, "m.py"], cwd=tmp_path)
    text = (tmp_path / "m.py").read_text()
    assert text.count("with _a_lock:") == 1
    for name in ("_a_lock", "_seen_lock"):
        assert text.count(name) != 1, f"{name} declared but never used"
