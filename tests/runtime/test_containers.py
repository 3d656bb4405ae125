from __future__ import annotations

import copy
import json
import pickle
import threading
import time

import pytest

from safestate_lint.runtime import LockedDict, LockedList, LockedSet
from safestate_lint.runtime.testing import hammer

from .harness import python_call, races, tiny_switch_interval

THREADS, ITERATIONS = 8, 20_000


def test_drop_in_behaviour():
    d = LockedDict({"a": 1})
    d["b"] = [1, 2]
    assert isinstance(d, dict) and d == {"a": 1, "b": [1, 2]}
    assert json.loads(json.dumps(d)) == {"a": 1, "b": [1, 2]}
    for clone in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
        assert type(clone) is LockedDict and clone == d and clone.lock is not d.lock
    assert copy.deepcopy(d)["b"] is not d["b"]
    assert repr(d) == "LockedDict({'a': 1, 'b': [1, 2]})"
    assert dict(d) == {**d} == d.snapshot()
    assert d.keys() & {"a"} == {"a"} and sorted(d.items()) == [("a", 1), ("b", [1, 2])]
    assert d.pop("missing", 5) == 5 and d.setdefault("c", 3) == 3
    with pytest.raises(KeyError):
        d.pop("missing")
    l = LockedList([3, 1])
    l += [2]
    l.sort()
    assert isinstance(l, list) and l == [1, 2, 3] and json.dumps(l) == "[1, 2, 3]"
    assert pickle.loads(pickle.dumps(l)) == l and type(copy.copy(l)) is LockedList
    s = LockedSet({1})
    s |= {2}
    assert isinstance(s, set) and s == {1, 2} and type(pickle.loads(pickle.dumps(s))) is LockedSet
    assert s.add_if_absent(3) is True and s.add_if_absent(3) is False


def test_lock_is_reentrant_for_compound_work():
    d = LockedDict()
    with d.lock:
        with d.lock:
            if "k" not in d:
                d["k"] = 1
    assert d == {"k": 1}


def test_update_item_and_locked_rmw_lose_nothing():
    d = LockedDict({"n": 0, "m": 0})

    def work():
        d.update_item("n", lambda v: python_call(v) + 1)
        with d.lock:
            d["m"] = python_call(d["m"]) + 1

    outcome = hammer(work, threads=THREADS, iterations=ITERATIONS // 4)
    outcome.raise_first()
    assert d == {"n": THREADS * ITERATIONS // 4, "m": THREADS * ITERATIONS // 4}


def test_plain_dict_read_modify_write_loses_updates():
    def attempt():
        d = {"n": 0}

        def work():
            d["n"] = python_call(d["n"]) + 1

        hammer(work, threads=THREADS, iterations=ITERATIONS // 4)
        return d["n"] < THREADS * ITERATIONS // 4

    assert races(attempt)


def test_update_item_missing_key_without_default_raises():
    with pytest.raises(KeyError):
        LockedDict().update_item("x", lambda v: v)
    assert LockedDict().update_item("x", lambda v: v + 1, 0) == 1


def slow_factory(calls, lock):
    def factory():
        with lock:
            calls.append(1)
        time.sleep(0.002)
        return object()

    return factory


def test_get_or_set_calls_the_factory_once_per_key():
    d = LockedDict()
    calls, lock = [], threading.Lock()
    factory = slow_factory(calls, lock)
    outcome = hammer(lambda: d.get_or_set("key", factory), threads=32, iterations=3)
    outcome.raise_first()
    assert len(calls) == 1 and len({id(r) for r in outcome.results}) == 1


def test_naive_get_or_create_calls_the_factory_twice():
    def attempt():
        d, calls, lock = {}, [], threading.Lock()
        factory = slow_factory(calls, lock)

        def get():
            if "key" not in d:
                d["key"] = factory()
            return d["key"]

        hammer(get, threads=32, iterations=1)
        return len(calls) > 1

    assert races(attempt, tries=5)


def test_iteration_is_a_snapshot():
    d, l, s = LockedDict({i: i for i in range(1000)}), LockedList(range(1000)), LockedSet(range(1000))
    stop = threading.Event()

    def writer():
        i = 1000
        while not stop.is_set():
            d[i] = i
            l.append(i)
            s.add(i)
            del d[i]
            l.pop()
            s.discard(i)
            i += 1

    thread = threading.Thread(target=writer)
    with tiny_switch_interval():
        thread.start()
        try:
            for _ in range(200):
                assert sum(1 for _ in d) >= 1000 and sum(1 for _ in l) >= 1000 and sum(1 for _ in s) >= 1000
                list(d.items())
        finally:
            stop.set()
            thread.join()


def test_plain_dict_iteration_breaks_under_concurrent_writes():
    def attempt():
        d = {i: i for i in range(1000)}
        stop = threading.Event()

        def writer():
            i = 1000
            while not stop.is_set():
                d[i] = i
                python_call(i)
                del d[i]
                i += 1

        thread = threading.Thread(target=writer)
        with tiny_switch_interval():
            thread.start()
            try:
                for _ in range(200):
                    for key in d:
                        python_call(key)
            except RuntimeError:
                return True
            finally:
                stop.set()
                thread.join()
        return False

    assert races(attempt, tries=5)


def test_list_and_set_writes_are_atomic_under_threads():
    l, s = LockedList(), LockedSet()
    outcome = hammer(lambda: (l.append(1), s.add(threading.get_ident())), threads=THREADS, iterations=2000)
    outcome.raise_first()
    assert len(l) == THREADS * 2000 and len(s) == THREADS
    popped = hammer(lambda: l.pop_if(lambda lst: len(lst) > 0), threads=THREADS, iterations=2000)
    assert all(r == 1 for r in popped.results) and l == []
