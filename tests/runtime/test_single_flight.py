"""`LockedDict.get_or_create`: per-key single flight, with real threads.

Overlap and waiting are shown with events, never with timings: a build that blocks until
another key's build has started proves the two run at the same time (a serialised version
times out on the event and fails), and "the others are waiting" is read from the runtime's
own registry of waiting threads. Every thread is joined with a timeout: a hang fails."""

from __future__ import annotations

import copy
import os
import pickle
import threading
import time
import warnings

import pytest

from safestate_lint.runtime import LockedDict, TTLCache, singleton
from safestate_lint.runtime import _flight
from safestate_lint.runtime.testing import explore

from .harness import tiny_switch_interval

EVENT_WAIT = 10.0  # seconds an event may take to arrive before the test calls it a failure


def run_all(targets, timeout=20.0):
    """Run each callable in its own thread; return (results, errors) by index. Hangs fail."""
    results, errors = [None] * len(targets), [None] * len(targets)

    def runner(i, fn):
        try:
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - asserted by the callers
            errors[i] = exc

    threads = [threading.Thread(target=runner, args=(i, fn), daemon=True) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results, errors


def wait_until(predicate, what):
    deadline = time.monotonic() + EVENT_WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


def waiting_threads():
    with _flight._waits_lock:
        return len(_flight._waiting)


def test_concurrent_callers_of_one_key_share_one_build():
    d = LockedDict()
    callers = 8
    calls = []
    release = threading.Event()

    def factory():
        calls.append(threading.get_ident())
        assert release.wait(EVENT_WAIT), "the test never released the build"
        return object()

    def caller():
        return d.get_or_create("key", factory)

    with tiny_switch_interval():
        threads_done = []

        def releaser():
            # every other caller is parked on the one build before it is allowed to finish
            wait_until(lambda: waiting_threads() == callers - 1, f"{callers - 1} callers wait for the build")
            release.set()
            threads_done.append(True)

        results, errors = run_all([caller] * callers + [releaser])
    assert errors == [None] * (callers + 1)
    assert len(calls) == 1
    values = results[:callers]
    assert all(v is values[0] for v in values) and d["key"] is values[0]
    assert waiting_threads() == 0


def test_builds_of_different_keys_overlap_and_never_wait_for_each_other():
    d = LockedDict({"hit": "present"})
    started = {"a": threading.Event(), "b": threading.Event()}
    finish_a = threading.Event()
    other_key_answers = []

    def build(key, other):
        started[key].set()
        # each build blocks until the other key's build has started: only overlapping builds pass
        assert started[other].wait(EVENT_WAIT), f"the build of {other!r} never started while {key!r} was building"
        if key == "a":
            assert finish_a.wait(EVENT_WAIT)
        return f"value-{key}"

    def third_party():
        # while 'a' is still building: a hit and a miss on other keys complete without waiting
        assert started["a"].wait(EVENT_WAIT)
        other_key_answers.append(d.get_or_create("hit", lambda: "rebuilt"))
        other_key_answers.append(d.get_or_create("c", lambda: "value-c"))
        assert not finish_a.is_set() and "a" not in d  # 'a' had not finished meanwhile
        finish_a.set()

    results, errors = run_all([lambda: d.get_or_create("a", lambda: build("a", "b")),
                               lambda: d.get_or_create("b", lambda: build("b", "a")),
                               third_party])
    assert errors == [None, None, None]
    assert results[:2] == ["value-a", "value-b"]
    assert other_key_answers == ["present", "value-c"]
    assert d == {"hit": "present", "a": "value-a", "b": "value-b", "c": "value-c"}


def test_a_serialised_cache_fails_the_overlap_test():
    """The overlap test above has teeth: one lock across both builds (what a plain locked
    double-check does) makes the second build wait for the first, and the first's event never
    comes."""
    lock = threading.Lock()
    started = {"a": threading.Event(), "b": threading.Event()}

    def build(key, other):
        with lock:
            started[key].set()
            return started[other].wait(0.5)  # short here: this run is expected to miss it

    results, errors = run_all([lambda: build("a", "b"), lambda: build("b", "a")])
    assert errors == [None, None] and False in results


def test_a_failed_build_is_not_cached_and_each_waiter_retries_one_at_a_time():
    d = LockedDict()
    callers = 6
    lock = threading.Lock()
    state = {"calls": 0, "running": 0, "most": 0}

    def factory():
        with lock:
            state["calls"] += 1
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
            first = state["calls"] == 1
        try:
            if first:
                wait_until(lambda: waiting_threads() == callers - 1, "the other callers wait for the first build")
                raise ValueError("the first build fails")
            return object()
        finally:
            with lock:
                state["running"] -= 1

    results, errors = run_all([lambda: d.get_or_create("k", factory)] * callers)
    failed = [e for e in errors if e is not None]
    assert len(failed) == 1 and isinstance(failed[0], ValueError)
    values = [r for r, e in zip(results, errors) if e is None]
    assert len(values) == callers - 1 and all(v is values[0] for v in values)
    assert state["calls"] == 2 and state["most"] == 1  # one retry built it; never two builds at once
    assert d["k"] is values[0]


def test_a_failure_stores_nothing_and_the_next_call_builds_again():
    d = LockedDict()
    with pytest.raises(KeyError, match="boom"):
        d.get_or_create("k", lambda: {}["boom"])
    assert "k" not in d and d._flights == {}
    assert d.get_or_create("k", lambda: 1) == 1 and d == {"k": 1}


def test_a_factory_may_build_other_keys_of_the_same_dict():
    d = LockedDict()

    def fib(n):
        return n if n < 2 else d.get_or_create(n - 1, lambda: fib(n - 1)) + d.get_or_create(n - 2, lambda: fib(n - 2))

    assert d.get_or_create(30, lambda: fib(30)) == 832040
    assert d[29] == 514229 and len(d) == 31


def test_the_same_key_again_in_the_same_thread_raises_instead_of_hanging():
    d = LockedDict()
    (result,), (error,) = run_all([lambda: d.get_or_create("k", lambda: d.get_or_create("k", lambda: 1))])
    assert isinstance(error, RuntimeError) and "asked for the same value again in the same thread" in str(error)
    assert "k" not in d
    assert d.get_or_create("k", lambda: 2) == 2  # nothing is left stuck


def test_a_cycle_of_builds_across_threads_raises_instead_of_hanging():
    d = LockedDict()
    started = {"a": threading.Event(), "b": threading.Event()}

    def build(key, other):
        started[key].set()
        assert started[other].wait(EVENT_WAIT)  # both builds are running: then each asks for the other
        return ("built", d.get_or_create(other, lambda: build(other, key)))

    results, errors = run_all([lambda: d.get_or_create("a", lambda: build("a", "b")),
                               lambda: d.get_or_create("b", lambda: build("b", "a"))])
    assert all(isinstance(e, RuntimeError) for e in errors), errors
    assert any("cycle" in str(e) for e in errors)
    assert d == {} and d._flights == {} and waiting_threads() == 0


def test_waiting_while_holding_the_dict_lock_raises_instead_of_hanging():
    d = LockedDict()
    building, release = threading.Event(), threading.Event()

    def factory():
        building.set()
        assert release.wait(EVENT_WAIT)
        return "built"

    def holder():
        assert building.wait(EVENT_WAIT)
        try:
            with d.lock:
                d.get_or_create("k", lambda: "other")
        finally:
            release.set()

    results, errors = run_all([lambda: d.get_or_create("k", factory), holder])
    assert results[0] == "built" and errors[0] is None
    assert isinstance(errors[1], RuntimeError) and "holding the dict's lock" in str(errors[1])
    assert d == {"k": "built"}


def test_a_hit_takes_no_lock():
    d = LockedDict({"k": "v"})
    holding, done = threading.Event(), threading.Event()

    def holder():
        with d.lock:
            holding.set()
            assert done.wait(EVENT_WAIT)

    def reader():
        assert holding.wait(EVENT_WAIT)
        try:
            return d.get_or_create("k", lambda: "rebuilt")
        finally:
            done.set()

    results, errors = run_all([holder, reader])
    assert errors == [None, None] and results[1] == "v"


def test_every_key_is_built_once_under_contention():
    d = LockedDict()
    keys, callers = 64, 8
    counts = [0] * keys
    lock = threading.Lock()
    barrier = threading.Barrier(callers)

    def factory(k):
        with lock:
            counts[k] += 1
        time.sleep(0)  # a switch point inside the build
        return [k]

    def caller(offset):
        barrier.wait()
        return [d.get_or_create(k, lambda: factory(k)) for k in [(i + offset) % keys for i in range(keys)]]

    with tiny_switch_interval():
        results, errors = run_all([lambda o=o: caller(o) for o in range(callers)])
    assert errors == [None] * callers
    assert counts == [1] * keys
    for per_caller in results:
        assert all(d[value[0]] is value for value in per_caller)


def test_copies_and_pickles_carry_no_build_in_progress():
    d = LockedDict({"a": 1})
    d.get_or_create("b", lambda: 2)
    for clone in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        assert clone == {"a": 1, "b": 2} and clone._flights is None
        assert clone.get_or_create("c", lambda: 3) == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_builds_a_key_whose_builder_stayed_in_the_parent():
    d = LockedDict()
    building, release = threading.Event(), threading.Event()

    def factory():
        building.set()
        assert release.wait(EVENT_WAIT)
        return "parent"

    builder = threading.Thread(target=lambda: d.get_or_create("k", factory), daemon=True)
    builder.start()
    assert building.wait(EVENT_WAIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() in a process with threads
        pid = os.fork()
    if pid == 0:  # the child: the builder thread does not exist here
        code = 1
        try:
            code = 0 if d.get_or_create("k", lambda: "child") == "child" else 2
        finally:
            os._exit(code)
    try:
        deadline = time.monotonic() + EVENT_WAIT
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the child hung on a build that only the parent was running")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        builder.join(EVENT_WAIT)
    assert d == {"k": "parent"}


# -- the same waits-for check in the other run-once primitives --------------------------------------


def test_ttl_cache_factories_crossing_threads_raise_instead_of_hanging():
    cache = TTLCache()
    started = {"a": threading.Event(), "b": threading.Event()}

    def build(key, other):
        started[key].set()
        assert started[other].wait(EVENT_WAIT)
        return cache.get_or_set(other, lambda: build(other, key))

    results, errors = run_all([lambda: cache.get_or_set("a", lambda: build("a", "b")),
                               lambda: cache.get_or_set("b", lambda: build("b", "a"))])
    assert all(isinstance(e, RuntimeError) and "cycle between factories" in str(e) for e in errors), errors
    assert "a" not in cache and "b" not in cache and waiting_threads() == 0


def test_singletons_crossing_threads_raise_instead_of_hanging():
    started = {"a": threading.Event(), "b": threading.Event()}

    @singleton
    def get_a():
        started["a"].set()
        assert started["b"].wait(EVENT_WAIT)
        return ("a", get_b())

    @singleton
    def get_b():
        started["b"].set()
        assert started["a"].wait(EVENT_WAIT)
        return ("b", get_a())

    results, errors = run_all([get_a, get_b])
    assert all(isinstance(e, RuntimeError) for e in errors), errors
    assert any("cycle between factories" in str(e) for e in errors)
    assert not get_a.created and not get_b.created and waiting_threads() == 0


def test_a_cycle_through_a_dict_and_a_singleton_raises():
    d = LockedDict()
    started = {"dict": threading.Event(), "singleton": threading.Event()}

    @singleton
    def config():
        started["singleton"].set()
        assert started["dict"].wait(EVENT_WAIT)
        return d.get_or_create("k", build)

    def build():
        started["dict"].set()
        assert started["singleton"].wait(EVENT_WAIT)
        return config()

    results, errors = run_all([config, lambda: d.get_or_create("k", build)])
    assert all(isinstance(e, RuntimeError) for e in errors), errors
    assert d == {} and not config.created and waiting_threads() == 0


# -- every interleaving the explorer tries --------------------------------------------------------


class _State:
    def __init__(self, cache):
        self.cache, self.builds = cache, []


def _same_key(state):
    state.cache.get_or_create("k", lambda: state.builds.append(1) or len(state.builds))


def _naive_same_key(state):
    if "k" not in state.cache:
        state.cache["k"] = state.builds.append(1) or len(state.builds)


def _built_once(state):
    assert state.builds == [1], f"built {len(state.builds)} times"


@pytest.mark.parametrize("strategy", ["pct", "random", "exhaustive"])
def test_the_explorer_finds_no_schedule_with_two_builds(strategy):
    result = explore(lambda: _State(LockedDict()), _same_key, _same_key, _same_key, invariant=_built_once,
                     strategy=strategy, runs=150)
    assert not result.failed, result


def test_the_explorer_finds_the_naive_cache_building_twice():
    result = explore(lambda: _State({}), _naive_same_key, _naive_same_key, invariant=_built_once, runs=150)
    assert result.failed and result.kind == "invariant"
