"""Real pre-commit: the hooks in .pre-commit-hooks.yaml, tried on a throwaway repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from helpers import ROOT

pytest.importorskip("pre_commit")
UNSAFE = "count = 0\n\n\ndef inc():\n    global count\n    count += 1\n"
SAFE = ("import threading\n\ncount = 0\n_count_lock = threading.Lock()\n\n\ndef inc():\n"
        "    global count\n    with _count_lock:\n        count += 1\n")


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def test_hooks_file_is_well_formed():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {hook["id"]: hook for hook in hooks}
    assert by_id["safestate-lint"]["entry"].startswith("safestate-lint check")
    for hook in hooks:
        assert hook["language"] == "python" and hook["types"] == ["python"] and hook["require_serial"] is True


@pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None, reason="needs a git checkout")
def test_pre_commit_try_repo_fails_on_unsafe_code_and_passes_when_fixed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    (repo / "app.py").write_text(UNSAFE)
    git("add", "app.py", cwd=repo)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "safestate-lint", "--all-files", "--verbose"]
    failing = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "app.py:6:5: SST101 global 'count' is read and rebound without a lock in 'inc()'" in failing.stdout
    fix = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "safestate-lint-fix", "--all-files"]
    fixing = subprocess.run(fix, cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    assert fixing.returncode == 1 and "files were modified by this hook" in fixing.stdout, fixing.stdout
    assert "with _count_lock:" in (repo / "app.py").read_text()
    git("add", "app.py", cwd=repo)
    passing = subprocess.run(command, cwd=repo, capture_output=True, text=True, env=env, timeout=900)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    (repo / "app.py").write_text(SAFE)
    git("add", "app.py", cwd=repo)
    assert subprocess.run(command, cwd=repo, capture_output=True, env=env, timeout=900).returncode == 0
