"""Classic race shapes, each as a racy version and a fixed one, for `explore` (the tests) and
`bench/explore_bench.py` (the comparison with stress testing).

A shape is `setup`, the workers (each called with setup's state) and an invariant (raises when
the run went wrong); `kind` is how the racy version fails.  The fixed version has the same
workers' intent and must never fail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from safestate_lint.runtime import AtomicCounter, LockedDict, RWLock


@dataclass(frozen=True)
class Version:
    setup: Callable[[], Any]
    workers: Tuple[Callable[[Any], Any], ...]
    invariant: Optional[Callable[[Any], Any]] = None


@dataclass(frozen=True)
class Shape:
    name: str
    kind: str
    racy: Version
    fixed: Version


class State:
    """A bag of attributes, made fresh by each setup."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


# 1. lost update on a module global -------------------------------------------------------------
COUNTER = 0
COUNTER_LOCK: Any = None


def global_setup() -> None:
    global COUNTER, COUNTER_LOCK
    COUNTER = 0
    COUNTER_LOCK = threading.Lock()


def global_increment(_: Any) -> None:
    global COUNTER
    COUNTER += 1


def global_increment_locked(_: Any) -> None:
    global COUNTER
    with COUNTER_LOCK:
        COUNTER += 1


def global_is_two(_: Any) -> None:
    assert COUNTER == 2, f"COUNTER == {COUNTER}, expected 2: an update was lost"


# 2. lost update on an attribute -------------------------------------------------------------------
def attr_setup() -> State:
    return State(hits=0, lock=threading.Lock())


def attr_increment(s: State) -> None:
    s.hits += 1


def attr_increment_locked(s: State) -> None:
    with s.lock:
        s.hits += 1


def hits_is_two(s: State) -> None:
    assert s.hits == 2, f"hits == {s.hits}, expected 2: an update was lost"


# 3. double init of a lazy singleton -----------------------------------------------------------------
def init_setup() -> State:
    return State(instance=None, created=[], lock=threading.Lock())


def lazy_get(s: State) -> Any:
    if s.instance is None:
        s.created.append(1)
        s.instance = object()
    return s.instance


def lazy_get_locked(s: State) -> Any:
    if s.instance is None:
        with s.lock:
            if s.instance is None:
                s.created.append(1)
                s.instance = object()
    return s.instance


def created_once(s: State) -> None:
    assert len(s.created) == 1, f"the factory ran {len(s.created)} times"


# 4. check-then-act on a dict ---------------------------------------------------------------------------
def dict_setup() -> State:
    return State(d={"k": 1}, lock=threading.Lock())


def remove_if_present(s: State) -> None:
    if "k" in s.d:
        del s.d["k"]


def remove_if_present_locked(s: State) -> None:
    with s.lock:
        if "k" in s.d:
            del s.d["k"]


# 5. ABBA deadlock ----------------------------------------------------------------------------------------
def two_locks() -> State:
    return State(a=threading.Lock(), b=threading.Lock(), done=[])


def a_then_b(s: State) -> None:
    with s.a:
        with s.b:
            s.done.append("ab")


def b_then_a(s: State) -> None:
    with s.b:
        with s.a:
            s.done.append("ba")


# 6. publish before ready ---------------------------------------------------------------------------------
class Service:
    def __init__(self) -> None:
        self.ready = False

    def start(self) -> None:
        self.ready = True


def publish_setup() -> State:
    return State(service=None)


def publish_early(s: State) -> None:
    s.service = Service()
    s.service.start()


def publish_when_ready(s: State) -> None:
    service = Service()
    service.start()
    s.service = service


def use_if_published(s: State) -> None:
    service = s.service
    if service is not None:
        assert service.ready, "got a service that was published before it was started"


# 7. iteration during mutation -------------------------------------------------------------------------------
def registry_setup() -> State:
    return State(d={"a": 1, "b": 2, "c": 3}, lock=threading.Lock())


def total(s: State) -> int:
    result = 0
    for key in s.d:
        result += s.d[key]
    return result


def register(s: State) -> None:
    s.d["d"] = 4


def total_locked(s: State) -> int:
    with s.lock:
        result = 0
        for key in s.d:
            result += s.d[key]
        return result


def register_locked(s: State) -> None:
    with s.lock:
        s.d["d"] = 4


# 8. a lost signal: notify before wait, no predicate ------------------------------------------------------------
def signal_setup() -> State:
    return State(cond=threading.Condition(), ready=False)


def wait_plain(s: State) -> None:
    with s.cond:
        s.cond.wait()


def notify_plain(s: State) -> None:
    with s.cond:
        s.ready = True
        s.cond.notify()


def wait_predicate(s: State) -> None:
    with s.cond:
        s.cond.wait_for(lambda: s.ready)


# 9. a counter class: naive read-modify-write vs the runtime's AtomicCounter --------------------------------------
class NaiveCounter:
    def __init__(self) -> None:
        self.value = 0

    def increment(self) -> int:
        current = self.value
        self.value = current + 1
        return self.value


def naive_counter_setup() -> State:
    return State(counter=NaiveCounter())


def atomic_counter_setup() -> State:
    return State(counter=AtomicCounter())


def count(s: State) -> None:
    s.counter.increment()


def counter_is_two(s: State) -> None:
    value = s.counter.value() if callable(s.counter.value) else s.counter.value
    assert value == 2, f"counter == {value}, expected 2"


# 10. a dict of counts: get-then-set vs LockedDict.update_item ------------------------------------------------------
def counts_setup() -> State:
    return State(counts={})


def locked_counts_setup() -> State:
    return State(counts=LockedDict())


def count_word(s: State) -> None:
    s.counts["w"] = s.counts.get("w", 0) + 1


def count_word_locked(s: State) -> None:
    s.counts.update_item("w", lambda n: n + 1, 0)


def word_counted_twice(s: State) -> None:
    assert s.counts.get("w") == 2, f"counts == {dict(s.counts)}"


# 11. a torn read: a transfer seen half done -------------------------------------------------------------------------
def bank_setup() -> State:
    return State(a=100, b=0, lock=threading.Lock(), rw=RWLock())


def transfer(s: State) -> None:
    s.a -= 10
    s.b += 10


def audit(s: State) -> None:
    assert s.a + s.b == 100, f"saw a + b == {s.a + s.b} mid-transfer"


def transfer_rw(s: State) -> None:
    with s.rw.write():
        s.a -= 10
        s.b += 10


def audit_rw(s: State) -> None:
    with s.rw.read():
        assert s.a + s.b == 100, f"saw a + b == {s.a + s.b} mid-transfer"


# 12. check-then-act on a list: pop from a list that another thread emptied -------------------------------------------
def queue_setup() -> State:
    return State(items=[1], lock=threading.Lock(), taken=[])


def take_if_any(s: State) -> None:
    if s.items:
        s.taken.append(s.items.pop())


def take_if_any_locked(s: State) -> None:
    with s.lock:
        if s.items:
            s.taken.append(s.items.pop())


SHAPES: Dict[str, Shape] = {shape.name: shape for shape in (
    Shape("lost_update_global", "invariant",
          Version(global_setup, (global_increment, global_increment), global_is_two),
          Version(global_setup, (global_increment_locked, global_increment_locked), global_is_two)),
    Shape("lost_update_attr", "invariant",
          Version(attr_setup, (attr_increment, attr_increment), hits_is_two),
          Version(attr_setup, (attr_increment_locked, attr_increment_locked), hits_is_two)),
    Shape("double_init", "invariant",
          Version(init_setup, (lazy_get, lazy_get), created_once),
          Version(init_setup, (lazy_get_locked, lazy_get_locked), created_once)),
    Shape("check_then_act_dict", "exception",
          Version(dict_setup, (remove_if_present, remove_if_present)),
          Version(dict_setup, (remove_if_present_locked, remove_if_present_locked))),
    Shape("abba_deadlock", "deadlock",
          Version(two_locks, (a_then_b, b_then_a)),
          Version(two_locks, (a_then_b, a_then_b))),
    Shape("publish_before_ready", "exception",
          Version(publish_setup, (publish_early, use_if_published)),
          Version(publish_setup, (publish_when_ready, use_if_published))),
    Shape("iteration_during_mutation", "exception",
          Version(registry_setup, (total, register)),
          Version(registry_setup, (total_locked, register_locked))),
    Shape("lost_signal", "deadlock",
          Version(signal_setup, (wait_plain, notify_plain)),
          Version(signal_setup, (wait_predicate, notify_plain))),
    Shape("counter_class", "invariant",
          Version(naive_counter_setup, (count, count), counter_is_two),
          Version(atomic_counter_setup, (count, count), counter_is_two)),
    Shape("dict_of_counts", "invariant",
          Version(counts_setup, (count_word, count_word), word_counted_twice),
          Version(locked_counts_setup, (count_word_locked, count_word_locked), word_counted_twice)),
    Shape("torn_read", "exception",
          Version(bank_setup, (transfer, audit)),
          Version(bank_setup, (transfer_rw, audit_rw))),
    Shape("check_then_act_list", "exception",
          Version(queue_setup, (take_if_any, take_if_any)),
          Version(queue_setup, (take_if_any_locked, take_if_any_locked))),
)}
