"""The package type-checks (mypy, targeting the oldest supported Python)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import ROOT

pytest.importorskip("mypy")


def test_mypy_is_clean():
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
