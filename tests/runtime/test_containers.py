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


def test_snapshot_or_the_lock_iterates_while_others_write():
    """The one documented way: `for k in d.snapshot()` (or under `with d.lock:`) never raises.
    Lists and sets also iterate a snapshot on their own."""
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
                assert sum(1 for _ in d.snapshot()) >= 1000 and sum(1 for _ in l) >= 1000 and sum(1 for _ in s) >= 1000
                list(d.snapshot().items())
                with d.lock:
                    assert sum(1 for _ in d) >= 1000
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


def _updated(plain, d):
    plain.update(d)
    return plain


class Tagged(LockedDict):
    """A subclass with its own attributes (module level: pickle finds it by name)."""


COPY_IDIOMS = {
    "dict(d)": lambda d: dict(d),
    "{**d}": lambda d: {**d},
    "d | {}": lambda d: d | {},
    "{} | d": lambda d: {} | d,
    "plain.update(d)": lambda d: _updated({}, d),
    "f(**d)": lambda d: (lambda **kw: kw)(**d),
    "d.copy()": lambda d: d.copy(),
}


@pytest.mark.parametrize("idiom", sorted(COPY_IDIOMS))
def test_copy_idioms_never_raise_while_another_thread_deletes(idiom):
    """As with a plain dict: these copies are one C call, atomic on GIL and free-threaded builds."""
    copy_of = COPY_IDIOMS[idiom]
    d = LockedDict({str(i): i for i in range(200)})
    stop = threading.Event()

    def churn():
        i = 0
        while not stop.is_set():
            key = str(i % 200)
            d.pop(key, None)
            d[key] = i
            i += 1

    thread = threading.Thread(target=churn)
    with tiny_switch_interval():
        thread.start()
        try:
            for _ in range(3000):
                assert len(copy_of(d)) >= 199
        finally:
            stop.set()
            thread.join()


def test_views_are_live_with_constant_time_membership():
    d = LockedDict({i: i for i in range(1000)})
    keys, values, items = d.keys(), d.values(), d.items()
    d[1000] = "new"
    assert 1000 in keys and "new" in values and (1000, "new") in items and len(keys) == 1001
    assert type(keys) is type({}.keys())  # the C view: membership is a hash lookup, not a copy


def test_reinitialising_and_subclass_state_and_self_reference():
    d = LockedDict(a=1)
    lock = d.lock
    d.__init__(b=2)
    assert d == {"a": 1, "b": 2} and d.lock is lock  # re-filled under the same lock, like dict.__init__

    t = Tagged(x=1)
    t.tag = "kept"
    for clone in (copy.copy(t), copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        assert type(clone) is Tagged and clone == {"x": 1} and clone.tag == "kept"
    r = LockedDict(a=1)
    r["me"] = r
    assert repr(r) == "LockedDict({'a': 1, 'me': {...}})"  # a dict shows {'me': {...}}
    assert pickle.loads(pickle.dumps(r))["me"]["a"] == 1 and copy.deepcopy(r)["me"]["me"]["a"] == 1
    l = LockedList([1])
    l.append(l)
    assert repr(l) == "LockedList([1, [...]])" and pickle.loads(pickle.dumps(l))[1][0] == 1


def test_locked_set_in_place_operators_take_sets_only_as_a_set_does():
    s = LockedSet({1})
    for plain_fails in (lambda x: x.__ior__([2]),):
        assert plain_fails(set()) is NotImplemented and plain_fails(s) is NotImplemented
    with pytest.raises(TypeError):
        s |= [2]  # type: ignore[misc]
    with pytest.raises(TypeError):
        s -= [1]  # type: ignore[misc]
    s |= frozenset({2})
    assert s == {1, 2}
