"""The LibCST codemod command, through the real `python -m libcst.tool codemod`: it writes what
`safestate-lint fix` writes, and passes --unsafe-fixes on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "tests" / "fix_cases" / "sst102_unsafe.py"


def codemod(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "libcst.tool", "codemod", "-x", "safestate_lint.codemods.SafeStateFix",
                           "--no-format", "--hide-progress", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_codemod_writes_what_fix_writes(tmp_path):
    for name in ("by_codemod", "by_cli"):
        (tmp_path / name).mkdir()
        shutil.copy(CASE, tmp_path / name / "app.py")
        # the case is a lone (atomic) store: the opt-in policy SST105 reports and fixes it
        (tmp_path / name / "pyproject.toml").write_text("[tool.safestate-lint]\nextend-select = ['SST105']\n")
    result = codemod(tmp_path / "by_codemod", "app.py")
    assert result.returncode == 0 and "Transformed 1 files successfully" in result.stderr, result.stderr
    assert run_cli(["fix", "--no-cache", "app.py"], cwd=tmp_path / "by_cli").returncode == 0
    written = (tmp_path / "by_codemod" / "app.py").read_text()
    assert written == (tmp_path / "by_cli" / "app.py").read_text() != CASE.read_text()
    for name in ("by_codemod", "by_cli"):
        shutil.copy(CASE, tmp_path / name / "app.py")
    unsafe = codemod(tmp_path / "by_codemod", "app.py", "--unsafe-fixes")
    assert unsafe.returncode == 0, unsafe.stderr
    assert run_cli(["fix", "--no-cache", "--unsafe-fixes", "app.py"], cwd=tmp_path / "by_cli").returncode == 0
    assert (tmp_path / "by_codemod" / "app.py").read_text() == (tmp_path / "by_cli" / "app.py").read_text()
    assert "_cache = LockedDict()" in (tmp_path / "by_cli" / "app.py").read_text()
