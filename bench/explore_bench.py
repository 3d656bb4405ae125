"""The explorer against stress testing (and frontrun, when it is importable) on the classic race
shapes of `tests/runtime/explore_shapes.py`, and the explorer's slowdown against a plain run.

    PYTHONPATH=$PWD python bench/explore_bench.py [--budget 200] [--frontrun-path DIR]

For each shape and each tool: whether the racy version failed within the budget of runs
(schedules, or stress attempts), the runs to the first failure, the wall time, and how many
runs of the fixed version failed (false failures: must be 0).

- explore: `safestate_lint.runtime.testing.explore`, strategy pct, seed 0, `--budget` runs;
- stress: what the `hammer` fixture does: the workers in real threads released by a barrier,
  `sys.setswitchinterval(1e-6)`; a run whose threads do not finish in 1 s counts as a deadlock
  (its threads stay blocked: daemon threads);
- frontrun: `frontrun.explore` (DPOR) with the same setup, workers and invariant, when
  `import frontrun` works (pip install frontrun, or --frontrun-path to an installed copy) and
  the bench runs under its CLI: `frontrun python bench/explore_bench.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from safestate_lint.runtime.testing import explore, start_threads  # noqa: E402
from tests.runtime.explore_shapes import SHAPES, Version  # noqa: E402

Row = Tuple[bool, Optional[int], float, int]  # found, runs to the first failure, seconds, false failures


def holds(version: Version, state: Any) -> bool:
    if version.invariant is None:
        return True
    try:
        version.invariant(state)
    except Exception:
        return False
    return True


def explore_row(racy: Version, fixed: Version, budget: int) -> Row:
    start = time.perf_counter()
    found = explore(racy.setup, *racy.workers, invariant=racy.invariant, runs=budget)
    elapsed = time.perf_counter() - start
    clean = explore(fixed.setup, *fixed.workers, invariant=fixed.invariant, runs=budget)
    return found.failed, found.runs if found.failed else None, elapsed, int(clean.failed)


def stress_once(version: Version, timeout: float = 1.0) -> bool:
    """One stress run: True if it failed (an exception, a broken invariant, a hang)."""
    state = version.setup()
    barrier = threading.Barrier(len(version.workers))
    errors: List[BaseException] = []

    def run(worker: Callable[[Any], Any]) -> None:
        try:
            barrier.wait()
            worker(state)
        except BaseException as error:
            errors.append(error)

    if start_threads([threading.Thread(target=run, args=(w,), daemon=True) for w in version.workers],
                     timeout=timeout):
        return True  # a hang
    return bool(errors) or not holds(version, state)


def stress_row(racy: Version, fixed: Version, budget: int) -> Row:
    start = time.perf_counter()
    first = next((i + 1 for i in range(budget) if stress_once(racy)), None)
    elapsed = time.perf_counter() - start
    false = sum(stress_once(fixed) for _ in range(budget))
    return first is not None, first, elapsed, false


def frontrun_row(frontrun: Any, racy: Version, fixed: Version, budget: int) -> Row:
    def run(version: Version) -> Any:
        return frontrun.explore(version.setup, list(version.workers), lambda s: holds(version, s),
                                max_executions=budget, deadlock_timeout=2.0, timeout_per_run=5.0,
                                reproduce_on_failure=0)

    start = time.perf_counter()
    try:
        result = run(racy)
        found = result.property_holds is False
        runs = result.num_explored
    except Exception as error:  # a deadlock or worker exception surfaces as an exception
        found, runs = True, None
        print(f"  frontrun raised on racy {type(error).__name__}: {str(error)[:80]}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    try:
        false = int(run(fixed).property_holds is False)
    except Exception as error:
        print(f"  frontrun raised on fixed {type(error).__name__}: {str(error)[:80]}", file=sys.stderr)
        false = 1
    return found, runs, elapsed, false


def slowdown(iterations: int = 200) -> Tuple[float, float, float]:
    """Seconds for the lost-update shape's two workers called plainly, in one explore run, and
    their ratio (the median of `iterations` each, per call pair)."""
    shape = SHAPES["torn_read"].fixed

    def plain() -> None:
        state = shape.setup()
        for worker in shape.workers:
            worker(state)

    def timed(fn: Callable[[], Any]) -> float:
        samples = []
        for _ in range(iterations):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return sorted(samples)[len(samples) // 2]

    plain_s = timed(plain)
    explored_s = timed(lambda: explore(shape.setup, *shape.workers, invariant=shape.invariant, runs=1))
    return plain_s, explored_s, explored_s / plain_s


def slowdown_loop(n: int = 2000) -> Tuple[float, float, float]:
    """The same for a worker that does real work: `n` locked increments in each of two threads."""
    def setup() -> Dict[str, Any]:
        return {"n": 0, "lock": threading.Lock()}

    def work(state: Dict[str, Any]) -> None:
        for _ in range(n):
            with state["lock"]:
                state["n"] += 1

    start = time.perf_counter()
    for _ in range(5):
        state = setup()
        threads = [threading.Thread(target=work, args=(state,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    plain_s = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    explore(setup, work, work, runs=5, max_steps=10 * n * 2 + 1000)
    explored_s = (time.perf_counter() - start) / 5
    return plain_s, explored_s, explored_s / plain_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--frontrun-path", default=None, help="a directory where frontrun is installed")
    options = parser.parse_args()
    if options.frontrun_path:
        sys.path.insert(0, options.frontrun_path)
    try:
        import frontrun  # type: ignore[import-not-found]
        frontrun.explore(lambda: None, [lambda s: None], lambda s: True, max_executions=1)
    except Exception as error:  # not installed, needs Python >= 3.10, or not run under its CLI
        frontrun, why = None, f"{type(error).__name__}: {error}"
    print(f"Python {sys.version.split()[0]}"
          f"{' free-threaded' if hasattr(sys, '_is_gil_enabled') and not sys._is_gil_enabled() else ''}, "
          f"budget {options.budget} runs per shape and tool")
    if frontrun is None:
        print(f"frontrun: not importable ({why}); interleave-test: not on the package index here "
              f"(pip download interleave-test finds no distribution)")
    else:
        print(f"frontrun {getattr(frontrun, '__version__', '?')} (DPOR); interleave-test: not on the package index here")
    tools = ["explore", "stress"] + (["frontrun"] if frontrun is not None else [])
    header = f"{'shape':<26}" + "".join(f"| {tool:<8} found  runs   time(s)  false " for tool in tools)
    print(header)
    print("-" * len(header))
    totals: Dict[str, List[int]] = {tool: [0, 0] for tool in tools}
    for name, shape in SHAPES.items():
        rows: Dict[str, Row] = {"explore": explore_row(shape.racy, shape.fixed, options.budget),
                                "stress": stress_row(shape.racy, shape.fixed, options.budget)}
        if frontrun is not None:
            rows["frontrun"] = frontrun_row(frontrun, shape.racy, shape.fixed, options.budget)
        line = f"{name:<26}"
        for tool in tools:
            found, runs, elapsed, false = rows[tool]
            totals[tool][0] += found
            totals[tool][1] += false
            line += f"|          {'yes' if found else 'NO ':<6} {runs if runs is not None else '-':>4} {elapsed:>9.3f} {false:>6} "
        print(line, flush=True)
    print("-" * len(header))
    print(f"{'found / false failures':<26}" + "".join(
        f"|          {totals[t][0]:>2}/{len(SHAPES)}  false {totals[t][1]:<14}" for t in tools))
    plain_s, explored_s, ratio = slowdown()
    print(f"slowdown, one small test (torn_read fixed: two workers, an RWLock): plain {plain_s * 1e6:.0f} us, "
          f"one explore run {explored_s * 1e6:.0f} us: {ratio:.0f}x")
    plain_s, explored_s, ratio = slowdown_loop()
    print(f"slowdown, 2 threads x 2000 locked increments: plain {plain_s * 1e3:.1f} ms, "
          f"one explore run {explored_s * 1e3:.1f} ms: {ratio:.0f}x")


if __name__ == "__main__":
    main()
