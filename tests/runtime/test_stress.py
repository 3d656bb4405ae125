"""Long versions of the concurrency tests: `python -m pytest -m stress`."""

from __future__ import annotations

import threading
import time

import pytest

from safestate_lint.runtime import AtomicCounter, LockedDict, RWLock, StateManager, singleton
from safestate_lint.runtime.testing import hammer

from .harness import python_call

pytestmark = pytest.mark.stress


def test_locked_dict_read_modify_write_many_rounds():
    for _ in range(10):
        d = LockedDict({"n": 0})
        hammer(lambda: d.update_item("n", lambda v: python_call(v) + 1), threads=16, iterations=20_000).raise_first()
        assert d["n"] == 320_000


def test_atomic_counter_many_rounds():
    counter = AtomicCounter()
    hammer(counter.increment, threads=16, iterations=100_000).raise_first()
    assert counter.value == 1_600_000


def test_singleton_many_rounds():
    for _ in range(50):
        created = []

        @singleton
        def get():
            time.sleep(0.001)
            created.append(1)
            return object()

        outcome = hammer(get, threads=32, iterations=3)
        outcome.raise_first()
        assert len(created) == 1 and len({id(r) for r in outcome.results}) == 1


def test_rwlock_exclusion_many_rounds():
    lock, state = RWLock(), {"readers": 0, "writers": 0, "bad": 0}
    guard = threading.Lock()
    counter = AtomicCounter()

    def work():
        writer = counter.increment() % 5 == 0
        with (lock.write() if writer else lock.read()):
            with guard:
                state["writers" if writer else "readers"] += 1
                if state["writers"] > 1 or (state["writers"] and state["readers"]):
                    state["bad"] += 1
            python_call(None)
            with guard:
                state["writers" if writer else "readers"] -= 1

    hammer(work, threads=16, iterations=5_000).raise_first()
    assert state["bad"] == 0


def test_state_manager_update_many_rounds():
    m = StateManager({"n": 0}, lock_timeout=None)
    hammer(lambda: m.update(lambda s: {"n": python_call(s["n"]) + 1}), threads=16, iterations=10_000).raise_first()
    assert m.get("n") == 160_000
