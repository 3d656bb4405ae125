"""The runtime never waits for itself: re-entry raises with the cycle named, retries after a
failure stay single-flight, and a write that a transaction would overwrite is refused.
Every test runs its threads with a join timeout: a hang is a failure, not a stuck run."""

from __future__ import annotations

import asyncio
import functools
import threading
import time

import pytest

from safestate_lint.runtime import Singleton, StateManager, TTLCache, singleton


def run_with_timeout(fn, seconds=10.0):
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_sync_singleton_cycle_raises_naming_it():
    @singleton
    def get_a():
        return ("a", get_b())

    @singleton
    def get_b():
        return ("b", get_a())

    with pytest.raises(RuntimeError, match=r"cycle: singleton '.*get_a' -> singleton '.*get_b' -> singleton '.*get_a'"):
        run_with_timeout(get_a)
    with pytest.raises(RuntimeError):  # the failed attempts are retried, and fail again, without hanging
        run_with_timeout(get_b)


def test_async_singleton_cycle_raises_naming_it():
    @singleton
    async def get_x():
        return await get_y()

    @singleton
    async def get_y():
        return await get_x()

    with pytest.raises(RuntimeError, match="get_x"):
        run_with_timeout(lambda: asyncio.run(get_x()))


def test_singleton_base_class_whose_constructor_needs_itself():
    class Loop(Singleton):
        def __init__(self):
            Loop.instance()

    with pytest.raises(RuntimeError, match="needed again while it was being created"):
        run_with_timeout(Loop.instance)
    Loop.reset_instance()


def test_singleton_other_threads_still_wait_for_the_creator():
    started = threading.Event()

    @singleton
    def slow():
        started.set()
        time.sleep(0.05)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(slow())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8 and len({id(r) for r in results}) == 1


def test_async_singleton_under_another_decorator_can_be_awaited_again():
    def traced(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            return fn(*args)
        return wrapper

    created = []

    @singleton
    @traced
    async def client():
        created.append(1)
        return object()

    async def twice():
        return (await client()) is (await client())

    assert run_with_timeout(lambda: asyncio.run(twice())) is True and created == [1]


def test_ttl_cache_factory_asking_for_its_own_key_raises():
    cache = TTLCache()
    with pytest.raises(RuntimeError, match=r"get_or_set\('k'\)"):
        run_with_timeout(lambda: cache.get_or_set("k", lambda: cache.get_or_set("k", lambda: 1)))
    assert run_with_timeout(lambda: cache.get_or_set("k", lambda: 2)) == 2  # not stuck


def test_ttl_cache_retries_after_a_failure_are_single_flight():
    cache = TTLCache()
    lock = threading.Lock()
    running = [0]
    most = [0]
    calls = [0]
    fail_first = threading.Event()

    def factory():
        with lock:
            running[0] += 1
            calls[0] += 1
            most[0] = max(most[0], running[0])
            first = calls[0] == 1
        try:
            time.sleep(0.02)
            if first:
                fail_first.set()
                raise ValueError("first attempt fails")
            return "value"
        finally:
            with lock:
                running[0] -= 1

    results, errors = [], []

    def ask():
        for _ in range(3):
            try:
                results.append(cache.get_or_set("k", factory))
                return
            except ValueError as exc:
                errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert most[0] == 1, f"{most[0]} factories ran at the same moment"
    assert calls[0] == 2 and len(results) == 16 and set(results) == {"value"}


def test_state_manager_write_inside_its_own_transaction_is_refused():
    m = StateManager({"a": 0})
    with pytest.raises(RuntimeError, match="use tx inside a transaction"):
        with m.transaction() as tx:
            tx["a"] = 1
            m.set("a", 99)
    assert m.get("a") == 0  # the transaction raised: nothing applied
    with m.transaction() as tx:
        tx["a"] = 2
    assert m.get("a") == 2
    m.set("a", 3)  # outside a transaction, writes work again
    assert m.get("a") == 3


def test_state_manager_other_threads_wait_for_a_transaction_instead_of_failing():
    m = StateManager({"n": 0})
    inside = threading.Event()
    done = []

    def writer():
        inside.wait(5)
        m.set("n", 100)  # another thread: waits for the commit, then applies
        done.append(True)

    t = threading.Thread(target=writer)
    t.start()
    with m.transaction() as tx:
        inside.set()
        time.sleep(0.05)
        tx["n"] = 1
    t.join(10)
    assert done == [True] and m.get("n") == 100
