"""The pytest plugin (entry point `pytest11`, name `safestate`): hammer your own code with threads.

- the fixture `hammer`: `hammer(fn, threads=8, iterations=1000)` calls `fn()` in every thread,
  all released together by a barrier, with a tiny switch interval for the run (restored after).
  It re-raises the first exception any thread hit, naming the thread and the iteration, and
  returns each thread's results (a list per thread).
- the marker `@pytest.mark.hammer(threads=N, iterations=M)`: the test function's body runs in N
  threads at once, each calling it M times. Fixtures are set up once and shared (the point).
- `--hammer-threads N` overrides N for the fixture and every marked test.
- `timeout=` (default 60 s, both) fails a run whose threads do not finish, with their stacks:
  a deadlocked test never hangs the run.
- the fixture `interleavings`: `interleavings(setup, *workers, invariant=None, **options)` runs
  `safestate_lint.runtime.testing.explore` (a controlled scheduler: the race shows every time)
  and fails the test with the explorer's report (seed, switches, trace, and the JSON schedule
  to replay with `replay=`) when a run fails; otherwise it returns the `ExploreResult`.
- the marker `@pytest.mark.explore(runs=200, strategy="pct", seed=0, ...)`: the defaults of the
  `interleavings` fixture in that test (any `explore` keyword: depth, preemptions, max_steps).
  The test body itself runs once, in the main thread, as usual.
- `--safestate-explore PATH ...`: a test per function that `safestate-lint check` flags in
  PATH and that can be called without arguments: two managed threads call it, and the test
  fails with the race's schedule, or passes when none showed within the budget (the terminal
  summary lists each finding's outcome).  It needs the analysis engine (LibCST), loaded only
  when the option is given; see `safestate_lint.explore_finding`.

It imports only the standard library and this package's stdlib-only runtime: no LibCST and no
analysis engine are loaded into users' test runs.
"""

from __future__ import annotations

import inspect
import sys
import threading
import traceback
from typing import Any, Callable, List, Optional

import pytest

from safestate_lint.runtime.testing import ExploreResult, explore, run_threads

DEFAULT_THREADS = 8


class HammerTimeout(AssertionError):
    """A hammered thread did not finish in time: a deadlock, or a very slow function."""


def run_hammer(fn: Callable[[], Any], threads: int = DEFAULT_THREADS, iterations: int = 1000, *,
               switch_interval: float = 1e-6, timeout: float = 60.0) -> List[List[Any]]:
    """Call `fn()` `iterations` times in each of `threads` threads started together; each
    thread's results, or the first exception raised (with the thread and iteration noted)."""
    if threads < 1 or iterations < 1:
        raise ValueError("hammer: threads and iterations must be at least 1")
    run = run_threads(fn, threads, iterations, switch_interval=switch_interval, timeout=timeout)
    if run.stuck:
        frames = sys._current_frames()
        stacks = "".join(f"\n--- {thread.name} ---\n" + "".join(traceback.format_stack(frames[thread.ident]))
                         for thread in run.stuck if thread.ident in frames)
        raise HammerTimeout(f"hammer: {len(run.stuck)} of {threads} threads did not finish within {timeout:g}s "
                            f"(a deadlock?); their stacks:{stacks}")
    real = [f for f in run.failures if not isinstance(f[2], threading.BrokenBarrierError)] or run.failures
    if real:
        index, iteration, exc = real[0]
        note = f"raised in hammer thread {index} of {threads}, iteration {iteration + 1} of {iterations}"
        if hasattr(exc, "add_note"):
            exc.add_note(note)
            raise exc
        raise AssertionError(f"{note}: {exc!r}") from exc  # pragma: no cover - Python < 3.11
    return run.results


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("safestate", "safestate-lint: hammer code with threads")
    group.addoption("--hammer-threads", type=int, default=None, metavar="N",
                    help="threads for the hammer fixture and every @pytest.mark.hammer test")
    group.addoption("--safestate-explore", nargs="+", default=None, metavar="PATH",
                    help="explore each zero-argument function that `safestate-lint check` flags in PATH")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers", "hammer(threads=8, iterations=100): run the test body in N threads at once, M times each")
    config.addinivalue_line(
        "markers", "explore(runs=200, strategy='pct', seed=0): defaults of the interleavings fixture in this test")


class ExploreFailure(AssertionError):
    """A run under the explorer failed: the message is its report, with the schedule to replay."""


@pytest.fixture
def interleavings(request: Any) -> Callable[..., ExploreResult]:
    """`interleavings(setup, *workers, invariant=None, **options)`: see the module documentation."""
    marker = request.node.get_closest_marker("explore")
    defaults = dict(marker.kwargs) if marker is not None else {}

    def run(setup: Callable[[], Any], *workers: Callable[[Any], Any], invariant: Optional[Callable[[Any], Any]] = None,
            **options: Any) -> ExploreResult:
        result = explore(setup, *workers, invariant=invariant, **{**defaults, **options})
        if result.failed:
            raise ExploreFailure(result.report())
        return result
    return run


def pytest_collection_modifyitems(session: Any, config: Any, items: List[Any]) -> None:
    paths = config.getoption("safestate_explore", None)
    if not paths:
        return
    from safestate_lint.explore_finding import check_findings, explore_findings  # the engine: only on request

    seen = set()
    for finding in check_findings(paths):
        function = (finding.get("path"), finding.get("function"))
        if function[1] and function in seen:
            continue  # one exploration per function: its findings share the race
        seen.add(function)
        name = f"safestate-explore[{finding.get('path')}:{finding.get('line')}:{finding.get('code')}]"
        items.append(ExploreFindingItem.from_parent(session, name=name, paths=paths, finding=finding,
                                                    run=explore_findings))


class ExploreFindingItem(pytest.Item):
    """One finding of `--safestate-explore`: fails with the schedule when the race shows."""

    def __init__(self, *, paths: List[str], finding: Any, run: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paths, self.finding, self.run = paths, finding, run
        self.outcome: Any = None

    def runtest(self) -> None:
        self.outcome = self.run(self.paths, findings=[self.finding])[0]
        self.config.stash.setdefault(_OUTCOMES, []).append(self.outcome)
        if self.outcome.status == "skipped":
            pytest.skip(self.outcome.reason)
        if self.outcome.status == "race":
            raise ExploreFailure(f"{self.outcome.describe()}\n{self.outcome.result.report()}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, ExploreFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> Any:
        return self.finding.get("path", ""), (self.finding.get("line") or 1) - 1, self.name


_OUTCOMES: Any = pytest.StashKey[list]() if hasattr(pytest, "StashKey") else "safestate_explore_outcomes"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: Any, config: Any) -> None:
    outcomes = config.stash.get(_OUTCOMES, None) if hasattr(config, "stash") else None
    if outcomes:
        terminalreporter.section("safestate-explore")
        for outcome in outcomes:
            terminalreporter.write_line(outcome.describe())


def _threads(config: Any, wanted: int) -> int:
    override: Optional[int] = config.getoption("hammer_threads", None)
    return override if override else wanted


@pytest.fixture
def hammer(request: Any) -> Callable[..., List[List[Any]]]:
    """`hammer(fn, threads=8, iterations=1000)`: see the module documentation."""
    def run(fn: Callable[[], Any], threads: int = DEFAULT_THREADS, iterations: int = 1000,
            timeout: float = 60.0) -> List[List[Any]]:
        return run_hammer(fn, _threads(request.config, threads), iterations, timeout=timeout)
    return run


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: Any) -> Optional[bool]:
    marker = pyfuncitem.get_closest_marker("hammer")
    if marker is None:
        return None
    function = pyfuncitem.obj
    if inspect.iscoroutinefunction(function):
        raise pytest.UsageError(f"{pyfuncitem.nodeid}: @pytest.mark.hammer runs plain functions; "
                                f"call asyncio.run() inside the test instead")
    threads = _threads(pyfuncitem.config, int(marker.kwargs.get("threads", DEFAULT_THREADS)))
    iterations = int(marker.kwargs.get("iterations", 100))
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    run_hammer(lambda: function(**arguments), threads, iterations, timeout=float(marker.kwargs.get("timeout", 60)))
    return True
