"""`hammer`: run a function from many threads at once, for users' own concurrency tests."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List


@dataclass
class HammerResult:
    results: List[Any] = field(default_factory=list)
    exceptions: List[BaseException] = field(default_factory=list)
    elapsed: float = 0.0

    def raise_first(self) -> None:
        """Re-raise the first exception any thread hit."""
        if self.exceptions:
            raise self.exceptions[0]


def hammer(fn: Callable[[], Any], threads: int = 8, iterations: int = 1000, *,
           switch_interval: float = 1e-6, timeout: float = 120.0) -> HammerResult:
    """Call `fn()` `iterations` times in each of `threads` threads, all released together by a
    barrier, with a tiny switch interval so interleavings are as likely as they can be.
    Returns every result and every exception (a thread stops at its first exception)."""
    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    outcome = HammerResult()

    def worker() -> None:
        local: List[Any] = []
        try:
            barrier.wait()
            for _ in range(iterations):
                local.append(fn())
        except BaseException as exc:  # report everything, including SystemExit from fn
            with lock:
                outcome.exceptions.append(exc)
        with lock:
            outcome.results.extend(local)

    old = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    start = time.perf_counter()
    try:
        workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"hammer: a thread did not finish within {timeout}s")
    finally:
        sys.setswitchinterval(old)
    outcome.elapsed = time.perf_counter() - start
    return outcome
