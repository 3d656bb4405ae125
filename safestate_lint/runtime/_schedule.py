"""The explorer's machinery: the scheduler that hands one baton between real threads, the
strategies that choose who runs next, and the tracer that stops a thread at a switch point.

`explore.py` is the user's side (the API, the patching, the report); this module knows nothing
of setup or invariants.  Standard library only, like the rest of the runtime.

How one run works: every managed thread is a real OS thread that owns a *baton*, a
`_thread` lock it waits on.  Exactly one thread holds the baton at a time.  At a switch point
the running thread asks the strategy who runs next, releases that thread's baton and waits on
its own.  A thread that would block on a managed primitive is marked blocked instead and
passes the baton on; when nobody can run, the run is a deadlock, found at once.
"""

from __future__ import annotations

import _thread
import dis
import functools
import os
import random
import sys
import sysconfig
import traceback
from collections import deque
from contextlib import contextmanager
from enum import Enum
from types import CodeType, FrameType
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Sequence, Set, Tuple

# Self-lint: the `noqa` marks below are on state that only the thread holding the baton touches
# (one managed thread runs at a time), or on caches whose racing writers store equal values.
allocate_lock = _thread.allocate_lock
get_ident = _thread.get_ident


class Kind(str, Enum):
    """Why a run failed.  A `str` enum: `result.kind == "deadlock"` holds."""

    INVARIANT = "invariant"  # the invariant raised after the workers finished
    EXCEPTION = "exception"  # a worker raised
    DEADLOCK = "deadlock"  # every unfinished thread waits on a managed primitive
    MAX_STEPS = "max_steps"  # the step budget ran out: a livelock, or a budget too small for the test
    STUCK = "stuck"  # a thread blocked outside the explorer's control (a real lock, I/O)

    def __str__(self) -> str:
        return self.value


class Abort(BaseException):
    """Raised inside a managed thread to unwind it when its run is over (not an `Exception`,
    so `except Exception:` in the code under test does not swallow it)."""


# --- which code is traced -------------------------------------------------------------------

def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


_HERE = os.path.dirname(_norm(__file__))
# never switched inside: the explorer itself, and the run-once waits-for registry, which holds a lock made
# at import (a real one: a switch while it is held would leave the other threads blocked outside the scheduler)
OWN_FILES = frozenset(os.path.join(_HERE, name) for name in ("_schedule.py", "_primitives.py", "explore.py", "testing.py",
                                                             "_flight.py"))
_STDLIB = tuple(sorted({_norm(p) + os.sep for p in (sysconfig.get_paths()["stdlib"],
                                                     sysconfig.get_paths()["platstdlib"],
                                                     os.path.dirname(os.__file__))}))
_user_files: Dict[str, bool] = {}


_harness_files: Set[str] = set()


def exclude_file(filename: str) -> None:
    """Never switch inside code of `filename` (a test harness built on the explorer)."""
    _harness_files.add(_norm(filename))  # noqa: SST102
    _user_files.clear()  # noqa: SST102


def is_user_file(filename: str) -> bool:
    """Whether code in `filename` is traced: not the explorer, not the standard library
    (installed packages are traced), not frozen modules."""
    known = _user_files.get(filename)
    if known is None:  # noqa: SST103
        if filename.startswith("<frozen"):
            known = False
        else:
            path = _norm(filename)
            known = path not in OWN_FILES and path not in _harness_files and not (
                path.startswith(_STDLIB) and "site-packages" not in path and "dist-packages" not in path)
        _user_files[filename] = known  # noqa: SST102
    return known


# Switch points inside user code: before each instruction that reads or writes shared state
# (globals, closures, attributes, items, iteration, membership) or calls out.
POINT_OPS = frozenset({
    "LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME", "STORE_NAME", "DELETE_NAME",
    "LOAD_DEREF", "STORE_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF",
    "LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR",
    "BINARY_SUBSCR", "STORE_SUBSCR", "DELETE_SUBSCR", "BINARY_SLICE", "STORE_SLICE",
    "CONTAINS_OP", "FOR_ITER", "CALL", "CALL_KW", "CALL_FUNCTION", "CALL_FUNCTION_KW",
    "CALL_FUNCTION_EX", "CALL_METHOD",
})
_LINES_OFF = sys.version_info < (3, 12)
_points: Dict[CodeType, Dict[int, str]] = {}


def switch_points(code: CodeType) -> Dict[int, str]:
    """Offset -> a short description of the instruction, for the switch points of `code`."""
    found = _points.get(code)
    if found is None:  # noqa: SST103
        found = {ins.offset: f"{ins.opname} {ins.argrepr}".rstrip()
                 for ins in dis.get_instructions(code) if ins.opname in POINT_OPS}
        _points[code] = found  # noqa: SST102
    return found


def user_frame(frame: Optional[FrameType]) -> Optional[FrameType]:
    """The innermost frame of user code at or above `frame`."""
    while frame is not None and not is_user_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_site(skip: int = 2) -> Tuple[str, int]:
    frame = user_frame(sys._getframe(skip))
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("?", 0)


def where(site: Tuple[str, int]) -> str:
    return f"{os.path.basename(site[0])}:{site[1]}"


def user_stack(frame: Optional[FrameType]) -> List[str]:
    """The user-code part of a thread's stack, formatted like a traceback, innermost last."""
    summary = [entry for entry in traceback.extract_stack(frame) if is_user_file(entry.filename)]
    return traceback.format_list(summary)


# --- threads and the scheduler ----------------------------------------------------------------

class Managed:
    """One managed thread: its baton, and what it is waiting for."""

    def __init__(self, index: int, site: Tuple[str, int]) -> None:
        self.index = index
        self.name = f"T{index}"
        self.ident: Optional[int] = None
        self.baton = allocate_lock()
        self.baton.acquire()
        self.arrived = allocate_lock()
        self.arrived.acquire()
        self.done = False
        self.kill = False
        self.blocked_on: Any = None  # a managed primitive, or SLEEP
        self.deadline: Optional[float] = None  # virtual time at which a timed block gives up
        self.timed_out = False
        self.priority = 0.0  # for PCT
        self.where = site


SLEEP = "time.sleep"


class Strategy:
    """Chooses the next thread at each decision point (a switch point with two or more threads
    able to run).  Runs are numbered from 0; the same seed gives the same choices."""

    name = "?"

    def begin_run(self, run: int) -> None:
        pass

    def on_step(self, scheduler: "Scheduler", me: Managed) -> None:
        pass

    def choose(self, options: Sequence[Managed], current: Optional[Managed]) -> Managed:
        raise NotImplementedError

    def end_run(self, scheduler: "Scheduler") -> bool:
        """After a run: whether there is anything left to explore."""
        return True


class RandomStrategy(Strategy):
    """Uniformly random among the threads that can run, seeded per run."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def begin_run(self, run: int) -> None:
        self.rng = random.Random(self.seed * 1_000_003 + run)

    def choose(self, options: Sequence[Managed], current: Optional[Managed]) -> Managed:
        return options[self.rng.randrange(len(options))]


class PCTStrategy(Strategy):
    """Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): each thread gets a
    random priority of at least `depth`; the highest-priority thread that can run runs; at
    `depth - 1` random steps out of an estimated `k`, the running thread drops to the lowest
    priority (below the threads that dropped before it).
    A bug of depth d shows with probability at least 1/(n k^(d-1)) per run; `k` is the longest run
    seen so far."""

    name = "pct"

    def __init__(self, seed: int, depth: int) -> None:
        if depth < 1:
            raise ValueError("explore: depth must be at least 1")
        self.seed = seed
        self.depth = depth
        self.k = 0  # no change points in the first run: it measures the length of one
        self.rng = random.Random(seed)
        self.change_points: Dict[int, int] = {}

    def begin_run(self, run: int) -> None:
        self.rng = random.Random(self.seed * 1_000_003 + run)
        count = min(self.depth - 1, self.k)
        steps = sorted(self.rng.sample(range(1, self.k + 1), count))
        # the i-th change point drops the running thread below everyone, earlier drops included
        self.change_points = {step: self.depth - 1 - i for i, step in enumerate(steps)}

    def on_step(self, scheduler: "Scheduler", me: Managed) -> None:
        drop = self.change_points.get(scheduler.steps)
        if drop is not None:
            me.priority = float(drop)

    def choose(self, options: Sequence[Managed], current: Optional[Managed]) -> Managed:
        for thread in options:
            if thread.priority == 0.0:  # first sight: a random priority above every change point's
                thread.priority = self.depth + self.rng.random()
        return max(options, key=lambda thread: thread.priority)

    def end_run(self, scheduler: "Scheduler") -> bool:
        self.k = max(self.k, scheduler.steps)
        return True


class _Node:
    __slots__ = ("options", "current", "chosen", "tried", "preemptions")

    def __init__(self, options: Tuple[int, ...], current: Optional[int], chosen: int, preemptions: int) -> None:
        self.options = options
        self.current = current
        self.chosen = chosen
        self.tried = {chosen}
        self.preemptions = preemptions  # preemptions before this decision


class ExhaustiveStrategy(Strategy):
    """Every schedule with at most `preemptions` preemptions (CHESS's context bounding): a
    depth-first search over the decision points.  A switch away from a thread that could go on
    is a preemption; a switch because it blocked or finished is free."""

    name = "exhaustive"

    def __init__(self, preemptions: int) -> None:
        if preemptions < 0:
            raise ValueError("explore: preemptions must be at least 0")
        self.bound = preemptions
        self.stack: List[_Node] = []
        self.depth = 0
        self.used = 0
        self.exhausted = False

    def begin_run(self, run: int) -> None:
        self.depth = 0
        self.used = 0

    def choose(self, options: Sequence[Managed], current: Optional[Managed]) -> Managed:
        indices = tuple(thread.index for thread in options)
        running = current.index if current is not None and current in options else None
        if self.depth < len(self.stack) and self.stack[self.depth].options == indices:
            node = self.stack[self.depth]
        else:  # a new decision (or a program that did not repeat itself: explore from here)
            del self.stack[self.depth:]
            node = _Node(indices, running, running if running is not None else indices[0], self.used)
            self.stack.append(node)
        self.depth += 1
        if node.current is not None and node.chosen != node.current:
            self.used += 1
        return options[indices.index(node.chosen)]

    def end_run(self, scheduler: "Scheduler") -> bool:
        del self.stack[self.depth:]
        while self.stack:
            node = self.stack[-1]
            for option in node.options:
                cost = 1 if node.current is not None and option != node.current else 0
                if option not in node.tried and node.preemptions + cost <= self.bound:
                    node.tried.add(option)
                    node.chosen = option
                    return True
            self.stack.pop()
        self.exhausted = True
        return False


class ReplayStrategy(Strategy):
    """The choices of a recorded schedule, in order."""

    name = "replay"

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = list(choices)
        self.position = 0
        self.diverged = False

    def begin_run(self, run: int) -> None:
        self.position = 0

    def choose(self, options: Sequence[Managed], current: Optional[Managed]) -> Managed:
        if self.position < len(self.choices):
            wanted = self.choices[self.position]
            self.position += 1
            for thread in options:
                if thread.index == wanted:
                    return thread
        self.diverged = True
        return current if current is not None and current in options else options[0]


ACTIVE: Optional["Scheduler"] = None  # the scheduler of the run in progress


def current() -> Tuple[Optional["Scheduler"], Optional[Managed]]:
    """The active scheduler and, if the calling thread is one of its threads, its record."""
    scheduler = ACTIVE
    if scheduler is None:
        return None, None
    return scheduler, scheduler.by_ident.get(get_ident())


class Scheduler:
    """One run: the threads, the baton, the step count, the record of choices and switches."""

    def __init__(self, strategy: Strategy, max_steps: int, trace_length: int, stall: float) -> None:
        self.strategy = strategy
        self.max_steps = max_steps
        self.stall = stall
        self.threads: List[Managed] = []
        self.by_ident: Dict[int, Managed] = {}
        self.current: Optional[Managed] = None
        self.steps = 0
        self.clock = 0.0
        self.choices: List[int] = []
        self.switches: List[str] = []
        self.trace: Deque[Tuple[int, Tuple[str, int], str]] = deque(maxlen=trace_length)
        self.failure: Optional[Kind] = None
        self.error: Optional[BaseException] = None
        self.failed_thread: Optional[Managed] = None
        self.stacks: List[str] = []
        self.abandoned = False
        self.controller = allocate_lock()
        self.controller.acquire()
        self.controller_ident = get_ident()
        self.started = 0.0  # the real clock when the run began: virtual time counts from it

    # the running thread's side

    def point(self, me: Managed, what: str) -> None:
        """A switch point of the running thread `me`: maybe another thread runs first."""
        if me.kill or self.abandoned:
            return
        self.steps += 1  # noqa: SST101
        if self.steps > self.max_steps:
            self.fail(Kind.MAX_STEPS, None, me)
            self.park(me)
        self.strategy.on_step(self, me)
        nxt = self.pick(me)
        if nxt is not None and nxt is not me:
            self.transfer(me, nxt)
        self.trace.append((me.index, me.where, what))  # `me` goes on now: the trace is in execution order

    def block(self, me: Managed, on: Any, timeout: Optional[float]) -> bool:
        """`me` cannot go on until `on` changes (or, with a timeout, virtual time passes):
        let others run.  False if it gave up at its timeout."""
        if me.kill:
            raise Abort()
        me.blocked_on = on
        me.deadline = None if timeout is None else self.clock + max(0.0, timeout)
        me.timed_out = False
        self.trace.append((me.index, me.where, f"waits for {describe(on)}"))
        nxt = self.pick(me)
        if nxt is None:
            self.fail(Kind.DEADLOCK, None, me)
            self.park(me)
        elif nxt is not me:
            self.transfer(me, nxt)
        return not me.timed_out

    def wake(self, on: Any) -> None:
        """Everyone blocked on `on` may try again."""
        for thread in self.threads:
            if thread.blocked_on is on:
                thread.blocked_on = None
                thread.deadline = None

    def pick(self, me: Optional[Managed]) -> Optional[Managed]:
        options = [t for t in self.threads if not t.done and t.blocked_on is None]
        if not options:
            options = self._time_passes()
            if not options:
                return None
        if len(options) == 1:
            return options[0]
        chosen = self.strategy.choose(options, me if me is not None and not me.done else None)
        self.choices.append(chosen.index)  # noqa: SST102
        return chosen

    def _time_passes(self) -> List[Managed]:
        """Nobody can run: the earliest timed wait times out (virtual time, deterministic)."""
        timed = [t for t in self.threads if not t.done and t.deadline is not None]
        if not timed:
            return []
        self.clock = min(t.deadline for t in timed if t.deadline is not None)
        woken = []
        for thread in timed:
            if thread.deadline is not None and thread.deadline <= self.clock:
                thread.blocked_on = None
                thread.deadline = None
                thread.timed_out = True
                woken.append(thread)
        return woken

    def transfer(self, me: Managed, nxt: Managed) -> None:
        self._hand(nxt)
        me.baton.acquire()
        if me.kill:
            raise Abort()

    def _hand(self, nxt: Managed) -> None:
        if self.current is not nxt:
            self.switches.append(f"{nxt.name}@{where(nxt.where)}")  # noqa: SST102
        self.current = nxt
        nxt.baton.release()

    def park(self, me: Managed) -> None:
        """The run is over for `me`: give control back to `run` and wait to be unwound."""
        self._to_controller()
        me.baton.acquire()
        raise Abort()

    def _to_controller(self) -> None:
        self.current = None
        if not self.abandoned:  # an abandoned run's threads end on their own; nobody waits for them
            self.controller.release()

    def fail(self, kind: Kind, error: Optional[BaseException], thread: Optional[Managed]) -> None:
        if self.failure is None:
            self.failure, self.error, self.failed_thread = kind, error, thread
            if kind in (Kind.DEADLOCK, Kind.MAX_STEPS):
                self.stacks = self.describe_threads()

    def describe_threads(self) -> List[str]:
        frames = sys._current_frames()
        described = []
        for thread in self.threads:
            if thread.done:
                continue
            frame = frames.get(thread.ident) if thread.ident is not None else None
            state = (f"waits for {describe(thread.blocked_on)}" if thread.blocked_on is not None
                     else "could run")
            stack = "".join(user_stack(frame)) if frame is not None else "  (no stack)\n"
            described.append(f"{thread.name} {state}, at {where(thread.where)}:\n{stack}")
        return described

    # a managed thread's life

    def bootstrap(self, me: Managed, body: Callable[[], Any]) -> None:
        me.ident = get_ident()
        self.by_ident[me.ident] = me  # noqa: SST102
        me.arrived.release()
        me.baton.acquire()
        try:
            if not me.kill:
                if MONITORING:
                    body()
                else:
                    sys.settrace(self._tracer(me))
                    try:
                        body()
                    finally:
                        sys.settrace(None)
        except Abort:
            pass
        except BaseException as error:  # everything a worker raises is the run's result
            self.fail(Kind.EXCEPTION, error, me)
        finally:
            self._finish(me)

    def _finish(self, me: Managed) -> None:
        me.done = True
        self.wake(me)
        if me.kill or self.failure is not None or self.abandoned:
            self._to_controller()
            return
        nxt = self.pick(None)
        if nxt is None:
            if any(not t.done for t in self.threads):
                self.fail(Kind.DEADLOCK, None, None)
            self._to_controller()
            return
        self._hand(nxt)

    def _tracer(self, me: Managed) -> Callable[..., Any]:
        point = self.point

        def trace_call(frame: FrameType, event: str, arg: Any) -> Any:
            code = frame.f_code
            if not is_user_file(code.co_filename):
                return None
            points = switch_points(code)
            if not points:
                return None
            if _LINES_OFF:  # on 3.12+ turning line events off turns opcode events off too
                frame.f_trace_lines = False
            frame.f_trace_opcodes = True

            def trace_opcode(frame: FrameType, event: str, arg: Any) -> Any:
                if event == "opcode":
                    what = points.get(frame.f_lasti)
                    if what is not None:
                        me.where = (code.co_filename, frame.f_lineno)
                        point(me, what)
                return trace_opcode
            return trace_opcode
        return trace_call

    # the controller's side

    def run(self, bodies: Sequence[Callable[[], Any]], sites: Sequence[Tuple[str, int]],
            start: Callable[[Managed, Callable[[], None]], Any], patched: Callable[[], Any]) -> None:
        """Run `bodies` in managed threads to the end, a failure or a deadlock, then unwind
        every thread left.  `start(record, target)` starts a real thread running `target`;
        `patched()` is the context in which the threads run."""
        global ACTIVE
        self.threads = [Managed(index, site) for index, site in enumerate(sites)]
        handles = [start(record, functools.partial(self.bootstrap, record, body))
                   for record, body in zip(self.threads, bodies)]
        for record in self.threads:
            record.arrived.acquire()
        try:
            with patched(), _instrumented(self):
                ACTIVE = self
                try:
                    first = self.pick(None)
                    if first is not None:
                        self._hand(first)
                        self._wait()
                    self._unwind()
                finally:
                    ACTIVE = None
        finally:
            for handle in handles:
                handle.join(0.1 if self.abandoned else 5.0)

    def _wait(self) -> None:
        """Wait for the baton to come back; a run that stops making steps is stuck."""
        seen, still = self.steps, 0.0
        while not self.controller.acquire(True, 0.1):
            if self.steps != seen:
                seen, still = self.steps, 0.0
                continue
            still += 0.1
            if still >= self.stall:
                self.fail(Kind.STUCK, None, self.current)
                self.stacks = self.describe_threads()
                self.abandoned = True
                for thread in self.threads:
                    thread.kill = True
                    if thread is not self.current and not thread.done:
                        thread.baton.release()
                return

    def _unwind(self) -> None:
        """Raise `Abort` in every thread left, one at a time, so none is left blocked."""
        if self.abandoned:
            return
        for thread in self.threads:
            if not thread.done:
                thread.kill = True
                thread.blocked_on = None
                self.current = thread
                thread.baton.release()
                if not self.controller.acquire(True, self.stall):
                    self.abandoned = True
                    return


# --- switch points on 3.12+: sys.monitoring ----------------------------------------------------
# (`sys.settrace` with `f_trace_opcodes` delivers no opcode events in threads other than the
# main one on 3.12 and 3.13; PEP 669 local INSTRUCTION events do, and faster.)

MONITORING = sys.version_info >= (3, 12)
_TOOL_NAME = "safestate-explore"
_instrumented_codes: Set[CodeType] = set()


def _tool_id() -> int:
    monitoring = getattr(sys, "monitoring")
    for tool in (4, 3, 2, 1, 0):
        if monitoring.get_tool(tool) == _TOOL_NAME:
            return tool
        if monitoring.get_tool(tool) is None:
            monitoring.use_tool_id(tool, _TOOL_NAME)
            return tool
    raise RuntimeError("explore: every sys.monitoring tool id is in use")


@contextmanager
def _instrumented(scheduler: "Scheduler") -> Iterator[None]:
    """While the run's threads run: instruction events in user code, for managed threads."""
    if not MONITORING:
        yield
        return
    monitoring = getattr(sys, "monitoring")
    events = monitoring.events
    tool = _tool_id()
    disable = monitoring.DISABLE
    by_ident = scheduler.by_ident
    point = scheduler.point

    def on_start(code: CodeType, offset: int) -> Any:
        if not is_user_file(code.co_filename):
            return disable
        if code not in _instrumented_codes and switch_points(code):  # noqa: SST103
            _instrumented_codes.add(code)  # noqa: SST102
            monitoring.set_local_events(tool, code, events.INSTRUCTION)
        return None

    def on_instruction(code: CodeType, offset: int) -> Any:
        what = switch_points(code).get(offset)
        if what is None:
            return disable
        me = by_ident.get(get_ident())
        if me is not None:
            me.where = (code.co_filename, sys._getframe(1).f_lineno)
            point(me, what)
        return None

    monitoring.register_callback(tool, events.PY_START, on_start)
    monitoring.register_callback(tool, events.INSTRUCTION, on_instruction)
    monitoring.set_events(tool, events.PY_START)
    try:
        yield
    finally:
        monitoring.set_events(tool, 0)
        for code in _instrumented_codes:  # noqa: SST104
            monitoring.set_local_events(tool, code, 0)
        _instrumented_codes.clear()  # noqa: SST102
        monitoring.register_callback(tool, events.PY_START, None)
        monitoring.register_callback(tool, events.INSTRUCTION, None)


def describe(on: Any) -> str:
    if on is SLEEP:
        return "time.sleep (virtual time)"
    if isinstance(on, Managed):
        return f"thread {on.name} to finish"
    describe_method = getattr(on, "describe", None)
    return describe_method() if describe_method is not None else repr(on)
