"""The real-code sweep as a test (long: `python -m pytest -m stress`)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT


@pytest.mark.stress
def test_sweep_of_the_standard_library_finds_no_crash_and_no_bad_fix():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "sweep.py"), "--no-packages"],
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "crashes, unparsable fixes, non-idempotent fixes: 0" in result.stdout


def test_sweep_quick_sample():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "sweep.py"), "--no-packages", "--limit", "60",
                             "--jobs", "1"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "files: 60" in result.stdout and "non-idempotent fixes: 0" in result.stdout
