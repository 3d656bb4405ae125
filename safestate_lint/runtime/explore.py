"""`explore`: run threads under a controlled scheduler, so a race shows up every time and a
failing interleaving replays exactly.

    from safestate_lint.runtime.testing import explore

    def setup():
        return {"hits": 0}

    def hit(state):
        state["hits"] += 1

    result = explore(setup, hit, hit, invariant=lambda s: assert_equal(s["hits"], 2))
    assert result.failed and result.kind == "invariant"
    print(result)                                  # seed, switches, trace of the run
    explore(setup, hit, hit, invariant=..., replay=result.schedule)   # fails on run 1 again

How it works.  `setup()` builds fresh state for each run; each worker is called with that
state in its own thread; `invariant(state)` runs after the workers and fails by raising.
Exactly one of the run's threads runs at a time.  The scheduler chooses who runs next at
*switch points*:

- before each bytecode instruction of user code that reads or writes shared state or calls
  out (globals, closure cells, attributes, subscripts, `in`, iteration, calls), traced with
  `sys.settrace` and `f_trace_opcodes` (code of the standard library and of the explorer is
  not traced: its calls are single steps);
- at every acquire and release of `threading.Lock`, `RLock`, `Condition` (and so of
  `Semaphore`, `BoundedSemaphore`, `Event`, `Barrier`, `queue.Queue`, and the runtime's
  primitives, which are built on them), at `Condition.wait`/`notify`, and at `time.sleep`.

For this, while `setup()` and the workers run, `threading.Lock`, `threading.RLock`,
`threading.Condition` and `time.sleep` are replaced by managed versions: primitives made then
(in `setup()`, in a module `setup()` imports, or by the workers) are managed.  A thread that
would block on one is marked blocked and another runs; when no thread can run, the run stops
at once as a deadlock, with each thread's stack and the lock it waits for, and every thread is
unwound (a private `BaseException` raised inside it).  Timeouts (`acquire(timeout=)`,
`wait(timeout)`, `time.sleep`) use virtual time: a timed wait gives up only when nothing else
can run.

Strategies: `"pct"` (probabilistic concurrency testing with `depth` priority change points,
Burckhardt et al. 2010), `"random"` (a seeded random choice at each switch point) and
`"exhaustive"` (every schedule with at most `preemptions` preemptions, depth first, CHESS-style;
it stops when the space is covered).  The same seed and strategy give the same schedules.

What it cannot control:

- C code that releases the GIL or blocks (real I/O, `select`, `subprocess`, C extensions'
  own locks, `queue.SimpleQueue`): such a call runs as one step, and one that blocks waiting for
  another managed thread stops the run as `"stuck"` after `stall` seconds;
- locks made *before* the run (a module imported before `explore` was called holds real locks):
  import or build the state inside `setup()`;
- threads that the workers start themselves, `asyncio` event loops' own scheduling, processes;
- code in the standard library is not switched inside (its calls are single steps), and
  interleavings inside one bytecode instruction (a free-threaded build's own atomicity) are not
  explored: the explorer finds races between Python-level steps, on any interpreter;
- `sys.settrace` is taken over in the managed threads, so coverage and debuggers do not see
  them; a replay depends on the code being deterministic apart from the scheduling (the same
  hash seed, no wall-clock decisions).
"""

from __future__ import annotations

import functools
import json
import linecache
import os
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from safestate_lint.runtime import _schedule
from safestate_lint.runtime._primitives import ManagedCondition, ManagedLock, ManagedRLock, restart_numbering
from safestate_lint.runtime._schedule import (OWN_FILES, SLEEP, ExhaustiveStrategy, Kind, PCTStrategy, RandomStrategy,
                                              ReplayStrategy, Scheduler, Strategy, allocate_lock, current, exclude_file,
                                              user_site, where)

__all__ = ["explore", "ExploreResult", "Kind", "STRATEGIES", "exclude_file"]

STRATEGIES = ("pct", "random", "exhaustive")
SCHEDULE_VERSION = 1
_real_sleep = time.sleep
_real_monotonic = time.monotonic
_one_at_a_time = allocate_lock()


@dataclass
class ExploreResult:
    """What `explore` found.  `failed` and `kind` say whether and how a run failed; `schedule`
    (plain JSON) replays that run with `explore(..., replay=result.schedule)`; `str(result)` is
    the report: seed, the switches between threads as `thread@file:line`, the trace's tail."""

    failed: bool = False
    kind: Optional[Kind] = None
    error: Optional[BaseException] = None
    schedule: Optional[Dict[str, Any]] = None
    runs: int = 0
    strategy: str = "pct"
    seed: int = 0
    steps: int = 0
    exhausted: bool = False  # "exhaustive": every schedule within the bound was run
    diverged: bool = False  # a replay met a decision its schedule did not record
    trace: List[str] = field(default_factory=list)
    stacks: List[str] = field(default_factory=list)

    def report(self) -> str:
        if not self.failed:
            covered = ", every schedule within the bound" if self.exhausted else ""
            return f"explore: no failure in {self.runs} runs (strategy {self.strategy}, seed {self.seed}{covered})"
        assert self.schedule is not None
        lines = [f"explore: {self.kind} on run {self.schedule['run'] + 1} after {self.runs} runs "
                 f"(strategy {self.strategy}, seed {self.seed}, {self.steps} steps)"]
        lines.append(f"  {_headline(self.kind, self.error)}")
        if self.diverged:
            lines.append("  (the replay diverged from its schedule: the code is not deterministic apart from threads)")
        lines.append("schedule (replay with explore(..., replay=<this>)):")
        lines.append("  " + json.dumps({k: v for k, v in self.schedule.items() if k != "switches"}))
        switches = self.schedule["switches"]
        shown = switches[-40:]
        more = f"... {len(switches) - len(shown)} earlier, " if len(shown) < len(switches) else ""
        lines.append(f"switches ({len(switches)}): {more}" + " -> ".join(shown))
        if self.stacks:
            lines.append("threads:")
            lines.extend("  " + stack.rstrip().replace("\n", "\n  ") for stack in self.stacks)
        if self.trace:
            lines.append(f"trace (last {len(self.trace)} steps):")
            lines.extend("  " + step for step in self.trace)
        if self.kind in (Kind.EXCEPTION, Kind.INVARIANT) and self.error is not None:
            lines.append("error:")
            text = _format_error(self.error)
            lines.extend("  " + line for line in text.rstrip().splitlines())
        return "\n".join(lines)

    __str__ = report

    def raise_if_failed(self) -> None:
        """Fail (AssertionError with the report) if a run failed."""
        if self.failed:
            raise AssertionError(self.report()) from self.error


def _format_error(error: BaseException) -> str:
    """The error's traceback without the explorer's own frames."""
    frames = [entry for entry in traceback.extract_tb(error.__traceback__)
              if os.path.normcase(os.path.abspath(entry.filename)) not in OWN_FILES]
    head = "Traceback (most recent call last):\n" if frames else ""
    return head + "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(error), error))


def _headline(kind: Optional[Kind], error: Optional[BaseException]) -> str:
    if kind is Kind.DEADLOCK:
        return "every thread left waits on a managed primitive"
    if kind is Kind.MAX_STEPS:
        return "the step budget (max_steps) ran out: a livelock, or raise max_steps (this is not a race report)"
    if kind is Kind.STUCK:
        return ("a thread blocked outside the explorer's control (a lock made before the run, I/O, a C call) "
                "for longer than `stall` seconds")
    return f"{type(error).__name__}: {error}" if error is not None else str(kind)


def _managed_sleep(seconds: float) -> None:
    scheduler, me = current()
    if scheduler is None or me is None or me.kill or scheduler.abandoned:
        _real_sleep(seconds)
        return
    me.where = user_site(1)
    if seconds > 0:
        scheduler.block(me, SLEEP, seconds)
    else:
        scheduler.point(me, "time.sleep(0)")


def _clock() -> float:
    """`threading`'s clock: virtual time in managed threads, so timed waits end consistently."""
    scheduler, me = current()
    if scheduler is not None and me is not None:
        return scheduler.started + scheduler.clock
    return _real_monotonic()


@contextmanager
def _patched() -> Iterator[None]:
    saved = {name: getattr(threading, name) for name in ("Lock", "RLock", "Condition", "_time")}
    sleep = time.sleep
    setattr(threading, "Lock", ManagedLock)
    setattr(threading, "RLock", ManagedRLock)
    setattr(threading, "Condition", ManagedCondition)
    setattr(threading, "_time", _clock)
    setattr(time, "sleep", _managed_sleep)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(threading, name, value)
        setattr(time, "sleep", sleep)


def _start(record: _schedule.Managed, target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name=f"explore-{record.name}", daemon=True)
    thread.start()
    return thread


def _strategy(strategy: str, seed: int, depth: int, preemptions: int) -> Strategy:
    if strategy == "pct":
        return PCTStrategy(seed, depth)
    if strategy == "random":
        return RandomStrategy(seed)
    if strategy == "exhaustive":
        return ExhaustiveStrategy(preemptions)
    raise ValueError(f"explore: unknown strategy {strategy!r} (one of {', '.join(STRATEGIES)})")


def _load_schedule(replay: Union[Dict[str, Any], str]) -> Dict[str, Any]:
    schedule = json.loads(replay) if isinstance(replay, str) else replay
    if not isinstance(schedule, dict) or not isinstance(schedule.get("choices"), list):
        raise ValueError("explore: replay= takes the `schedule` of an ExploreResult (a dict, or its JSON)")
    return schedule


def explore(setup: Callable[[], Any], *workers: Callable[[Any], Any],
            invariant: Optional[Callable[[Any], Any]] = None, strategy: str = "pct", runs: int = 200,
            seed: int = 0, replay: Optional[Union[Dict[str, Any], str]] = None, depth: int = 3,
            preemptions: int = 2, max_steps: int = 20_000, trace: int = 40,
            stall: float = 10.0) -> ExploreResult:
    """Run `workers` (each called with `setup()`'s state, in its own managed thread) under
    `runs` schedules of `strategy`, then `invariant(state)`; stop at the first failing run.

    `replay=result.schedule` runs that one schedule again.  `max_steps` bounds each run's
    switch points (a run that exceeds it fails as `"max_steps"`, not as a race); `trace` is
    how many steps the report shows; `stall` is how long a thread may block outside the
    explorer's control before the run is given up as `"stuck"`.  See the module documentation
    for what it can and cannot control.
    """
    if not workers:
        raise ValueError("explore: give at least one worker")
    if runs < 1 or max_steps < 1:
        raise ValueError("explore: runs and max_steps must be at least 1")
    schedule = _load_schedule(replay) if replay is not None else None
    if schedule is not None:
        chosen: Strategy = ReplayStrategy(schedule["choices"])
        name, seed, runs, first = str(schedule.get("strategy", "replay")), int(schedule.get("seed", 0)), 1, \
            int(schedule.get("run", 0))
    else:
        chosen, name, first = _strategy(strategy, seed, depth, preemptions), strategy, 0
    if not _one_at_a_time.acquire(False):
        raise RuntimeError("explore: another explore() is running (calls cannot nest or overlap)")
    try:
        for index in range(runs):
            chosen.begin_run(first + index)
            scheduler = _run_once(setup, workers, invariant, chosen, max_steps, trace, stall)
            more = chosen.end_run(scheduler)
            if scheduler.failure is not None:
                return _failed(scheduler, name, seed, first + index, index + 1, chosen)
            if not more:
                return ExploreResult(runs=index + 1, strategy=name, seed=seed, exhausted=True)
        return ExploreResult(runs=runs, strategy=name, seed=seed)
    finally:
        _one_at_a_time.release()


def _run_once(setup: Callable[[], Any], workers: Any, invariant: Optional[Callable[[Any], Any]],
              strategy: Strategy, max_steps: int, trace: int, stall: float) -> Scheduler:
    restart_numbering()
    with _patched():
        state = setup()
    scheduler = Scheduler(strategy, max_steps, trace, stall)
    scheduler.started = _real_monotonic()
    bodies = [functools.partial(worker, state) for worker in workers]
    sites = [_site(worker) for worker in workers]
    scheduler.run(bodies, sites, _start, _patched)
    if scheduler.failure is None and invariant is not None:
        _schedule.ACTIVE = scheduler  # a lock a worker left held fails the invariant instead of hanging it
        try:
            invariant(state)
        except Exception as error:  # the invariant fails by raising
            scheduler.fail(Kind.INVARIANT, error, None)
        finally:
            _schedule.ACTIVE = None
    return scheduler


def _site(worker: Callable[..., Any]) -> tuple:
    code = getattr(getattr(worker, "func", worker), "__code__", None)
    return (code.co_filename, code.co_firstlineno) if code is not None else ("?", 0)


def _failed(scheduler: Scheduler, name: str, seed: int, run: int, runs: int, strategy: Strategy) -> ExploreResult:
    schedule = {"version": SCHEDULE_VERSION, "strategy": name, "seed": seed, "run": run,
                "threads": len(scheduler.threads), "choices": list(scheduler.choices),
                "switches": list(scheduler.switches)}
    return ExploreResult(failed=True, kind=scheduler.failure, error=scheduler.error, schedule=schedule, runs=runs,
                         strategy=name, seed=seed, steps=scheduler.steps,
                         diverged=isinstance(strategy, ReplayStrategy) and strategy.diverged,
                         trace=_format_trace(scheduler), stacks=list(scheduler.stacks))


def _format_trace(scheduler: Scheduler) -> List[str]:
    lines = []
    previous = None
    for index, site, what in scheduler.trace:
        if previous is not None and index != previous:
            lines.append("--- switch ---")
        previous = index
        source = linecache.getline(site[0], site[1]).strip()
        lines.append(f"T{index}  {where(site):<24} {what:<40} | {source}")
    return lines
