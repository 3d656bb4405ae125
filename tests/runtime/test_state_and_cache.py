from __future__ import annotations

import errno
import json
import operator
import os
import threading
import time

import pytest

from safestate_lint.runtime import MISSING, LockTimeout, StateManager, TTLCache
from safestate_lint.runtime.testing import hammer

from .harness import python_call, races, tiny_switch_interval


def test_basic_operations_and_stats():
    m = StateManager({"a": 1})
    m.set("b", 2)
    m.set_many({"c": 3, "d": 4})
    assert m.get("a") == 1 and m.get("zz", 0) == 0 and m.exists("b") and "c" in m
    assert m.get_many(["a", "c", "nope"]) == {"a": 1, "c": 3}
    assert m.delete("a") is True and m.delete("a") is False
    assert sorted(m.keys()) == ["b", "c", "d"] and len(m) == 3
    m.clear()
    assert m.snapshot() == {}
    stats = m.stats
    assert stats["acquisitions"] >= 8 and stats["timeouts"] == 0 and m.healthy()


def test_update_is_atomic_read_modify_write():
    m = StateManager({"n": 0})
    hammer(lambda: m.update(lambda s: {"n": python_call(s["n"]) + 1}), threads=8, iterations=2000).raise_first()
    assert m.get("n") == 16000


def test_naive_get_then_set_loses_updates():
    def attempt():
        m = StateManager({"n": 0})
        hammer(lambda: m.set("n", python_call(m.get("n")) + 1), threads=8, iterations=1000)
        return m.get("n") < 8000

    assert races(attempt)


def test_update_rejects_non_mapping_and_snapshot_is_read_only():
    m = StateManager({"a": 1})
    with pytest.raises(TypeError):
        m.update(lambda s: None)
    with pytest.raises(TypeError):
        m.update(lambda s: operator.setitem(s, "a", 2))
    assert m.update(lambda s: {"a": MISSING, "b": 1}) == {"a": MISSING, "b": 1}
    assert m.snapshot() == {"b": 1}


def test_transaction_applies_atomically_and_rolls_back_on_error():
    m = StateManager({"a": 0, "b": 0})
    seen_torn = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            values = m.get_many(["a", "b"])
            if values["a"] != values["b"]:
                seen_torn.append(values)

    thread = threading.Thread(target=reader)
    with tiny_switch_interval():
        thread.start()
        try:
            for i in range(1, 300):
                with m.transaction() as tx:
                    tx["a"] = i
                    python_call(i)
                    tx["b"] = i
            with pytest.raises(ZeroDivisionError):
                with m.transaction() as tx:
                    tx["a"] = -1
                    del tx["b"]
                    assert "b" not in tx and dict(tx) == {"a": -1}
                    1 / 0
        finally:
            stop.set()
            thread.join()
    assert seen_torn == []
    assert m.snapshot() == {"a": 299, "b": 299}


def test_plain_dict_updates_are_seen_half_done():
    def attempt():
        state, torn, stop = {"a": 0, "b": 0}, [], threading.Event()

        def reader():
            while not stop.is_set():
                if state["a"] != state["b"]:
                    torn.append(1)

        thread = threading.Thread(target=reader)
        with tiny_switch_interval():
            thread.start()
            for i in range(1, 20_000):
                state["a"] = i
                python_call(i)
                state["b"] = i
                if torn:
                    break
            stop.set()
            thread.join()
        return bool(torn)

    assert races(attempt, tries=20)


def test_listeners_run_outside_the_lock_and_a_failing_one_is_contained(caplog):
    m = StateManager(lock_timeout=1.0)
    events = []

    def listener(key, old, new):
        events.append((key, old, new))
        if key == "a":  # another thread writes: would block if we were called under the lock
            other = threading.Thread(target=m.set, args=("b", 2))
            other.start()
            other.join(0.5)
            assert not other.is_alive()

    def broken(key, old, new):
        raise RuntimeError("listener bug")

    m.add_listener(broken)
    m.add_listener(listener)
    m.set("a", 1)
    assert ("a", MISSING, 1) in events and ("b", MISSING, 2) in events
    assert m.snapshot() == {"a": 1, "b": 2} and m.stats["listener_errors"] == 2
    assert "listener bug" in caplog.text
    m.remove_listener(listener)
    m.set("c", 3)
    assert ("c", MISSING, 3) not in events


def test_lock_timeout_under_contention():
    m = StateManager({"x": 1}, lock_timeout=0.05)
    inside, release = threading.Event(), threading.Event()

    def holder():
        with m.transaction():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    inside.wait(5)
    try:
        assert m.get("x") == 1  # a single read never waits: the last committed value
        with pytest.raises(LockTimeout):
            m.get_many(["x"])  # a read of several keys at one instant waits for the lock
    finally:
        release.set()
        thread.join()
    assert m.stats["timeouts"] == 1 and not m.healthy()
    assert m.get("x") == 1


def test_persistence_round_trip_is_atomic(tmp_path):
    path = tmp_path / "state.json"
    m = StateManager({"a": 1}, path=str(path))
    m.set("b", [1, 2])
    assert json.loads(path.read_text()) == {"a": 1, "b": [1, 2]}
    assert StateManager(path=str(path)).snapshot() == {"a": 1, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary files left


def test_failed_persistence_changes_neither_memory_nor_disk(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    m = StateManager({"a": 1}, path=str(path))
    m.set("a", 2)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        m.set("a", 3)
    with pytest.raises(OSError):
        with m.transaction() as tx:
            tx["z"] = 1
    monkeypatch.undo()
    assert m.snapshot() == {"a": 2} and path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    with pytest.raises(TypeError):
        m.set("bad", object())  # not JSON: refused before anything is written
    assert m.snapshot() == {"a": 2} and path.read_bytes() == before


def test_persistence_file_must_hold_an_object(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        StateManager(path=str(path))


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_ttl_cache_expiry_and_stats():
    clock = FakeClock()
    cache = TTLCache(default_ttl=10, clock=clock)
    cache.set("a", 1)
    cache.set("b", 2, ttl=100)
    assert cache.get("a") == 1 and "a" in cache
    clock.now += 11
    assert cache.get("a", "gone") == "gone" and "a" not in cache and cache.get("b") == 2
    cache.set("c", 3, ttl=1)
    clock.now += 2
    assert cache.cleanup_expired() == 1 and len(cache) == 1
    stats = cache.stats
    assert (stats["hits"], stats["misses"], stats["expired"]) == (2, 1, 2)
    assert cache.delete("b") and not cache.delete("b")
    with pytest.raises(ValueError):
        TTLCache(default_ttl=0)


def test_ttl_cache_maxsize_evicts_oldest():
    cache = TTLCache(60, maxsize=2)
    for key in "abc":
        cache.set(key, key)
    assert cache.get("a") is None and cache.get("c") == "c" and cache.stats["evicted"] == 1


def test_ttl_cache_get_or_set_once_per_key_under_threads():
    cache, calls, lock = TTLCache(60), [], threading.Lock()

    def factory():
        with lock:
            calls.append(1)
        time.sleep(0.01)
        return "v"

    outcome = hammer(lambda: cache.get_or_set("k", factory), threads=32, iterations=2)
    outcome.raise_first()
    assert len(calls) == 1 and set(outcome.results) == {"v"}


def test_hammer_reports_results_and_exceptions():
    calls = []
    outcome = hammer(lambda: calls.append(1) or len(calls), threads=4, iterations=10)
    assert len(outcome.results) == 40 and outcome.exceptions == [] and outcome.elapsed > 0

    def fails():
        raise KeyError("x")

    bad = hammer(fails, threads=3, iterations=5)
    assert len(bad.exceptions) == 3 and bad.results == []
    with pytest.raises(KeyError):
        bad.raise_first()
