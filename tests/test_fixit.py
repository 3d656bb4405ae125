"""The Fixit 2 rule pack, through the real `fixit` command: `fixit lint` reports what `check`
reports at the same positions, `fixit fix` writes what `safestate-lint fix` writes, and
without Fixit the import says how to install it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "tests" / "fix_cases" / "mixed_app.py"


def fixit(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    pytest.importorskip("fixit")
    return subprocess.run([sys.executable, "-m", "fixit", "--rules", "safestate_lint.fixit", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_fixit_lint_reports_what_check_reports(tmp_path):
    shutil.copy(CASE, tmp_path / "app.py")
    checked = run_cli(["check", "--no-cache", "-q", "app.py"], cwd=tmp_path).stdout.decode().splitlines()
    linted = fixit(tmp_path, "lint", "app.py")
    assert linted.returncode != 0 and checked
    reported = sorted(line for line in linted.stdout.splitlines() if line.startswith("app.py@"))
    expected = []
    for line in checked:
        path, row, col, rest = line.split(":", 3)
        code, message = rest.strip().split(" ", 1)
        expected.append((path, int(row), int(col) - 1, code, message))
    got = []
    for line in reported:
        match = re.match(r"(\S+)@(\d+):(\d+) (SST\d+): (.*?)( \(has autofix\)| \(fixed with .*\))?$", line)
        assert match, line
        got.append((match[1], int(match[2]), int(match[3]), match[4], match[5]))
    assert sorted(got) == sorted(expected)


def test_fixit_fix_writes_what_safestate_lint_fix_writes(tmp_path):
    for name in ("by_fixit", "by_cli"):
        (tmp_path / name).mkdir()
        shutil.copy(CASE, tmp_path / name / "app.py")
    fixed = fixit(tmp_path / "by_fixit", "fix", "--automatic", "app.py")
    assert "fix applied" in fixed.stdout + fixed.stderr, fixed.stdout + fixed.stderr
    run_cli(["fix", "--no-cache", "app.py"], cwd=tmp_path / "by_cli")
    assert (tmp_path / "by_fixit" / "app.py").read_text() == (tmp_path / "by_cli" / "app.py").read_text()


def test_without_fixit_the_import_says_how_to_install_it():
    code = "import sys\nsys.modules['fixit'] = None\ntry:\n    import safestate_lint.fixit\nexcept ImportError as e:\n    print(e)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "safestate_lint.fixit needs Fixit 2: python -m pip install 'safestate-lint[fixit]'"


def test_fixit_sees_the_project_a_file_belongs_to(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "client.py").write_text(
        "class Client:\n    def __init__(self):\n        self._token = None\n\n    def token(self):\n"
        "        if self._token is None:\n            self._token = object()\n        return self._token\n")
    (tmp_path / "app" / "state.py").write_text("from .client import Client\n\nclient = Client()\n")
    done = fixit(tmp_path, "lint", "app/client.py")
    assert "app/client.py@6:8 SST202" in done.stdout, done.stdout + done.stderr
    assert "(app/state.py:3)" in done.stdout  # shared by the module fixit was not given
