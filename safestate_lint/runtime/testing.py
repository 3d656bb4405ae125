"""Tools for users' own concurrency tests: `hammer` runs a function from many threads at once;
`explore` (from `safestate_lint.runtime.explore`, re-exported here) runs threads under a
controlled scheduler so a race shows every time and replays."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Tuple

from safestate_lint.runtime.explore import ExploreResult, explore

__all__ = ["ExploreResult", "HammerResult", "ThreadRun", "explore", "hammer", "run_threads"]


@dataclass
class HammerResult:
    results: List[Any] = field(default_factory=list)
    exceptions: List[BaseException] = field(default_factory=list)
    elapsed: float = 0.0

    def raise_first(self) -> None:
        """Re-raise the first exception any thread hit."""
        if self.exceptions:
            raise self.exceptions[0]


@dataclass
class ThreadRun:
    """What `run_threads` saw: each thread's results, the failures (thread index, iteration,
    exception) in the order they happened, the threads still running at the timeout."""

    results: List[List[Any]]
    failures: List[Tuple[int, int, BaseException]]
    stuck: List[threading.Thread]
    elapsed: float


def run_threads(fn: Callable[[], Any], threads: int, iterations: int, *,
                switch_interval: float = 1e-6, timeout: float = 120.0) -> ThreadRun:
    """Call `fn()` `iterations` times in each of `threads` threads (named `hammer-<i>`), all
    released together by a barrier, with a tiny switch interval for the run (restored after).
    A thread stops at its first exception. Waits at most `timeout` seconds in all."""
    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    results: List[List[Any]] = [[] for _ in range(threads)]
    failures: List[Tuple[int, int, BaseException]] = []

    def worker(index: int) -> None:
        iteration = -1
        try:
            barrier.wait()
            for iteration in range(iterations):
                results[index].append(fn())
        except BaseException as exc:  # report everything, including SystemExit from fn
            with lock:
                failures.append((index, iteration, exc))
            barrier.abort()

    start = time.perf_counter()
    stuck = start_threads([threading.Thread(target=worker, args=(i,), name=f"hammer-{i}", daemon=True)
                           for i in range(threads)], switch_interval=switch_interval, timeout=timeout)
    return ThreadRun(results, failures, stuck, time.perf_counter() - start)


def start_threads(threads: List[threading.Thread], *, switch_interval: float = 1e-6,
                  timeout: float = 120.0) -> List[threading.Thread]:
    """Start the threads with a tiny switch interval for the run (restored after) and wait at
    most `timeout` seconds in all; the threads still running then."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval)
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        sys.setswitchinterval(old)
    return [thread for thread in threads if thread.is_alive()]


def hammer(fn: Callable[[], Any], threads: int = 8, iterations: int = 1000, *,
           switch_interval: float = 1e-6, timeout: float = 120.0) -> HammerResult:
    """Call `fn()` `iterations` times in each of `threads` threads, all released together by a
    barrier, with a tiny switch interval so interleavings are as likely as they can be.
    Returns every result and every exception (a thread stops at its first exception)."""
    run = run_threads(fn, threads, iterations, switch_interval=switch_interval, timeout=timeout)
    if run.stuck:
        raise TimeoutError(f"hammer: a thread did not finish within {timeout}s")
    return HammerResult([result for per_thread in run.results for result in per_thread],
                        [exc for _, _, exc in run.failures], run.elapsed)
