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
# `# SST102`, or several codes for one line: `# SST102 SST105` (a comma between them is fine too)
MARKER = re.compile(r"#.*?\b(SST\d{3}(?:[\s,]+SST\d{3})*)\b")
# rules outside the default selection: a golden file marks them, a default run does not report them
OPT_IN = frozenset({"SST105"})


def expected_findings(source: str, opt_in: bool = True) -> Set[Tuple[int, str]]:
    """(line, code) pairs named by trailing `# SSTnnn` comments; without `opt_in`, only the
    codes of the default selection."""
    found = set()
    for number, line in enumerate(source.splitlines(), 1):
        comment = line.split("#", 1)
        if len(comment) == 2:
            for codes in MARKER.findall("#" + comment[1]):
                found.update((number, code) for code in re.findall(r"SST\d{3}", codes)
                             if opt_in or code not in OPT_IN)
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
