"""Helpers for the concurrency tests: run until a race shows, or prove it never does."""

from __future__ import annotations

import os
import sys
from typing import Callable

FREE_THREADED = hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled()
STRESS = os.environ.get("SAFESTATE_STRESS") == "1"


def python_call(value):  # noqa: ANN001 - a Python-level call: a GIL switch point in the race window
    return value


def races(attempt: Callable[[], bool], tries: int = 20) -> bool:
    """True as soon as one attempt shows the race (the naive version is proven able to fail)."""
    return any(attempt() for _ in range(tries))


class tiny_switch_interval:
    """`with tiny_switch_interval():` threads switch as often as the interpreter allows."""

    def __enter__(self):
        self.old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)

    def __exit__(self, *exc):
        sys.setswitchinterval(self.old)
