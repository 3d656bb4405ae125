"""Shared test helpers: golden-file expectations and running the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
MARKER = re.compile(r"#.*?\b(SST\d{3})\b")


def expected_findings(source: str) -> Set[Tuple[int, str]]:
    """(line, code) pairs named by trailing `# SSTnnn` comments."""
    found = set()
    for number, line in enumerate(source.splitlines(), 1):
        comment = line.split("#", 1)
        if len(comment) == 2:
            for code in MARKER.findall("#" + comment[1]):
                found.add((number, code))
    return found


def run_cli(args: Sequence[str], cwd: Optional[os.PathLike] = None, stdin: Optional[bytes] = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "safestate_lint", *args],
        cwd=cwd, input=stdin, capture_output=True, timeout=timeout, env=env,
    )


def fixture_files() -> List[Path]:
    return sorted(FIXTURES.glob("*.py"))
