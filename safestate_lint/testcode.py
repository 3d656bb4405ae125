"""Test modules are single-threaded unless the test itself starts threads.

A test module (`test_*.py`, `*_test.py`, `conftest.py`, or any file under a `tests/` or
`test/` directory) runs one test at a time on one thread, the way pytest and unittest run
them: its module state is not shared between threads, and nothing in it is reported, unless
the module itself brings concurrency in (imports `threading`, `concurrent.futures`, ...,
creates tasks that interleave, or uses the `hammer`/`interleavings` fixtures). The config key
`tests-single-threaded = false` (also spelled `single-threaded-tests`) turns this off.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

__all__ = ["is_test_module", "starts_concurrency"]

_TEST_FILE = re.compile(r"(?:test_.*|.*_test|conftest)\.py\Z")
_TEST_DIRS = frozenset({"tests", "test"})
# what a module writes when it brings threads or interleaving tasks into a test
_CONCURRENCY = re.compile(
    r"\b(?:import\s+(?:threading|_thread|concurrent|multiprocessing)|from\s+(?:threading|_thread|concurrent|multiprocessing)\b"
    r"|Thread\s*\(|ThreadPoolExecutor|ProcessPoolExecutor|start_new_thread|to_thread|run_in_executor"
    r"|create_task|gather\s*\(|TaskGroup|hammer|interleavings|mark\.explore)"
)


def is_test_module(relative_path: str) -> bool:
    """`relative_path` uses `/` and is relative to the project's root (the config's directory)."""
    parts = relative_path.replace(os.sep, "/").split("/")
    if _TEST_FILE.match(parts[-1]):
        return True
    return any(part in _TEST_DIRS for part in parts[:-1] if part not in ("", ".", ".."))


def starts_concurrency(lines: Sequence[str]) -> bool:
    """Whether the module's text brings threads or interleaving tasks in (a cheap text test:
    a module that only mentions them still counts, so nothing real is hidden)."""
    return any(_CONCURRENCY.search(line) for line in lines)
