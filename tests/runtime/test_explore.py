"""`explore`: every classic race shape is found on every run of this test (fixed seeds, each
strategy), its fixed version never fails, failures replay from their schedule, the same seed
gives the same schedules, and deadlocks stop the run at once without leaving threads behind."""

from __future__ import annotations

import json
import queue
import threading
import time

import pytest

from safestate_lint.runtime import testing
from safestate_lint.runtime.testing import ExploreResult, explore

from .explore_shapes import SHAPES, State

STRATEGIES = ("pct", "random", "exhaustive")


def run(version, **options) -> ExploreResult:
    return explore(version.setup, *version.workers, invariant=version.invariant, **options)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_racy_shape_is_found_within_the_default_budget(name, strategy):
    shape = SHAPES[name]
    result = run(shape.racy, strategy=strategy)
    assert result.failed and result.kind == shape.kind, result
    assert result.runs <= 200


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_no_fixed_shape_ever_fails(name, strategy):
    shape = SHAPES[name]
    result = run(shape.fixed, strategy=strategy, runs=300 if strategy == "exhaustive" else 40, seed=7)
    assert not result.failed, result
    assert result.kind is None and result.schedule is None


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_failure_replays_from_its_json_schedule_on_the_first_run(name):
    shape = SHAPES[name]
    found = run(shape.racy, seed=3)
    assert found.failed
    schedule = json.loads(json.dumps(found.schedule))  # plain JSON, both ways
    again = run(shape.racy, replay=schedule)
    assert again.failed and again.kind == found.kind and again.runs == 1 and not again.diverged
    assert again.schedule["choices"] == found.schedule["choices"]
    assert again.schedule["switches"] == found.schedule["switches"]
    assert run(shape.racy, replay=json.dumps(found.schedule)).kind == found.kind  # the JSON text works too


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_same_seed_gives_the_same_schedules(strategy):
    shape = SHAPES["torn_read"]
    first, second = (run(shape.racy, strategy=strategy, seed=11) for _ in range(2))
    assert first.schedule == second.schedule and first.runs == second.runs and first.trace == second.trace
    fixed = [run(shape.fixed, strategy=strategy, seed=5, runs=15) for _ in range(2)]
    assert fixed[0].runs == fixed[1].runs == 15 and not fixed[0].failed


def test_seeds_differ_and_every_seed_finds_the_lost_update():
    shape = SHAPES["lost_update_attr"]
    results = [run(shape.racy, seed=seed) for seed in range(10)]
    assert all(result.failed and result.kind == "invariant" for result in results)
    assert len({json.dumps(result.schedule["choices"]) for result in results}) > 1


def test_the_report_names_the_seed_the_switches_and_the_racing_lines():
    shape = SHAPES["lost_update_attr"]
    result = run(shape.racy, strategy="random", seed=1)
    text = str(result)
    assert text == result.report()
    assert "explore: invariant on run" in text and "strategy random, seed 1" in text
    assert "hits == 1, expected 2" in text
    assert "switches (" in text and "T0@explore_shapes.py:" in text and "T1@explore_shapes.py:" in text
    assert "STORE_ATTR hits" in text and "| s.hits += 1" in text and "--- switch ---" in text
    assert "_schedule.py" not in text and "explore.py\"" not in text  # the explorer's own frames are left out
    with pytest.raises(AssertionError, match="hits == 1"):
        result.raise_if_failed()
    passed = run(shape.fixed, runs=3)
    assert str(passed).startswith("explore: no failure in 3 runs")
    passed.raise_if_failed()


def test_a_deadlock_stops_at_once_with_each_threads_stack_and_lock_and_leaves_no_thread():
    before = threading.active_count()
    start = time.perf_counter()
    result = run(SHAPES["abba_deadlock"].racy)
    assert time.perf_counter() - start < 2.0
    assert result.kind == "deadlock" and result.error is None
    assert len(result.stacks) == 2
    assert any("waits for Lock#2@explore_shapes.py" in s and "held by T1" in s and "in a_then_b" in s
               for s in result.stacks), result.stacks
    assert any("waits for Lock#1@explore_shapes.py" in s and "held by T0" in s and "in b_then_a" in s
               for s in result.stacks), result.stacks
    assert "every thread left waits" in str(result)
    assert threading.active_count() == before


def test_a_lost_signal_is_a_deadlock_on_the_condition():
    result = run(SHAPES["lost_signal"].racy)
    assert result.kind == "deadlock" and "waits for Condition#" in result.stacks[0]


def test_a_worker_exception_is_kind_exception_with_the_error():
    result = run(SHAPES["check_then_act_dict"].racy)
    assert result.kind == "exception" and isinstance(result.error, KeyError)
    assert "KeyError: 'k'" in str(result) and "in remove_if_present" in str(result)


def test_a_livelock_exhausts_the_step_budget_and_says_it_is_not_a_race():
    def spin(s):
        while not s.flag:
            pass

    result = explore(lambda: State(flag=False), spin, spin, max_steps=500, runs=5)
    assert result.failed and result.kind == "max_steps" and result.runs == 1
    assert "not a race report" in str(result) and len(result.stacks) == 2


def test_timeouts_are_virtual_and_sleep_is_a_switch_point():
    seen = []

    def hold(s):
        with s.lock:
            time.sleep(30)  # the other thread runs meanwhile; no real time passes
            seen.append("held")

    def try_lock(s):
        got = s.lock.acquire(timeout=5)
        seen.append(got)
        if got:
            s.lock.release()
        seen.append(s.event.wait(10))

    start = time.perf_counter()
    result = explore(lambda: State(lock=threading.Lock(), event=threading.Event()), hold, try_lock,
                     strategy="exhaustive", runs=50)
    assert not result.failed, result
    assert time.perf_counter() - start < 5
    assert True in seen and False in seen  # both orders were explored


def test_semaphore_event_barrier_and_queue_are_managed():
    def setup():
        return State(q=queue.Queue(maxsize=1), sem=threading.BoundedSemaphore(1), barrier=threading.Barrier(2),
                     event=threading.Event(), got=[], inside=[0])

    def producer(s):
        s.barrier.wait()
        for item in range(3):
            s.q.put(item)
        s.event.set()

    def consumer(s):
        s.barrier.wait()
        for _ in range(3):
            s.got.append(s.q.get())
        s.event.wait()
        with s.sem:
            s.inside[0] += 1

    def invariant(s):
        assert s.got == [0, 1, 2] and s.inside == [1]

    result = explore(setup, producer, consumer, invariant=invariant, runs=30)
    assert not result.failed, result
    assert not explore(setup, producer, consumer, invariant=invariant, strategy="exhaustive", preemptions=1,
                       runs=100).failed


def test_rlock_reentry_and_condition_over_an_rlock():
    def setup():
        lock = threading.RLock()
        return State(lock=lock, cond=threading.Condition(lock), items=[])

    def put(s):
        with s.lock:
            with s.lock:
                s.items.append(1)
                s.cond.notify_all()

    def get(s):
        with s.cond:
            assert s.cond.wait_for(lambda: s.items, timeout=5)

    assert not explore(setup, put, get, runs=40).failed
    assert not explore(setup, put, get, strategy="exhaustive").failed


def test_primitives_made_for_a_run_work_as_real_ones_afterwards():
    made = {}

    def setup():
        made["lock"], made["cond"] = threading.Lock(), threading.Condition()
        return None

    explore(setup, lambda s: None, runs=1)
    lock, cond = made["lock"], made["cond"]
    assert type(lock).__name__ == "ManagedLock" and threading.Lock is not type(lock)
    assert lock.acquire() and not lock.acquire(False) and not lock.acquire(True, 0.01)
    lock.release()
    flag = []

    def waiter():
        with cond:
            cond.wait_for(lambda: flag, timeout=10)

    thread = threading.Thread(target=waiter)
    thread.start()
    with cond:
        flag.append(1)
        cond.notify()
    thread.join(10)
    assert not thread.is_alive()


def test_an_invariant_that_needs_a_lock_a_worker_left_held_fails_instead_of_hanging():
    def leak(s):
        s.lock.acquire()

    result = explore(lambda: State(lock=threading.Lock()), leak, invariant=lambda s: s.lock.acquire(), runs=1)
    assert result.kind == "invariant" and "still held after the workers finished" in str(result.error)


def test_a_thread_blocked_on_a_real_lock_is_reported_stuck_and_not_left_hanging():
    real = threading.Lock()  # made before the run: the explorer cannot see it
    real.acquire()

    def blocked(s):
        with real:
            pass

    start = time.perf_counter()
    result = explore(lambda: None, blocked, lambda s: None, stall=0.3, runs=3)
    assert result.kind == "stuck" and time.perf_counter() - start < 5
    assert "outside the explorer's control" in str(result)
    real.release()


def test_exhaustive_stops_when_the_space_is_covered():
    result = run(SHAPES["lost_update_attr"].fixed, strategy="exhaustive", preemptions=1, runs=10_000)
    assert not result.failed and result.exhausted and result.runs < 100
    assert "every schedule within the bound" in str(result)


def test_usage_errors():
    with pytest.raises(ValueError, match="unknown strategy 'dfs'"):
        explore(lambda: None, lambda s: None, strategy="dfs")
    with pytest.raises(ValueError, match="at least one worker"):
        explore(lambda: None)
    with pytest.raises(ValueError, match="replay= takes"):
        explore(lambda: None, lambda s: None, replay={"seed": 1})
    with pytest.raises(ValueError, match="depth"):
        explore(lambda: None, lambda s: None, depth=0)
    inner = []

    def nested(s):
        try:
            explore(lambda: None, lambda s: None)
        except RuntimeError as error:
            inner.append(str(error))

    assert not explore(lambda: None, nested, runs=1).failed
    assert inner and "cannot nest" in inner[0]


def test_testing_stays_a_module_that_reexports_explore():
    assert not hasattr(testing, "__path__")
    assert testing.explore is explore and testing.ExploreResult is ExploreResult
    assert callable(testing.hammer)
