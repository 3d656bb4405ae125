"""`LockedDict`, `LockedList`, `LockedSet`: drop-in dict/list/set for shared state.

Each is a real subclass (`isinstance(x, dict)` holds; json, copy, pickle, `==` and repr
work).  CPython already makes a single read (`d[k]`, `d.get(k)`, `k in d`, `len(d)`)
atomic on GIL and free-threaded builds alike, so reads are the inherited C methods and
cost exactly what a plain container's cost.  Every write takes the container's
re-entrant `lock`.

A `LockedDict` iterates, copies and shows views exactly as a dict does (its `__iter__` and
`keys()` are the C ones): `dict(d)`, `{**d}`, `d | {}` and `f(**d)` are then one atomic C
call, and `k in d.keys()` is a hash lookup.  To iterate while others write, walk
`d.snapshot()` (a copy taken under the lock), or hold `d.lock`.  A `LockedList` or
`LockedSet` iterates a snapshot by itself.  Compound work (test-then-act,
read-modify-write) goes under `with d.lock:`, or through `get_or_set` and `update_item`.
`LockedDict.get_or_create` builds a missing value once per key without holding the lock:
callers of that key wait for the one build, callers of other keys never wait for it.
"""

from __future__ import annotations

import copy
import copyreg
import operator
import reprlib
import threading
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple, TypeVar,
                    Union, cast, overload)

from safestate_lint.runtime._flight import Flight, wait_for
from safestate_lint.runtime._fork import fork_safe_lock

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
_MISSING: Any = object()
# what pickle and copy rebuild a dict or list subclass with: `cls.__new__(cls)`, without
# `__init__` (protocol 2+ writes it as the NEWOBJ opcode); typeshed does not declare it
_NEWOBJ: Callable[..., Any] = getattr(copyreg, "__newobj__")
_dict_setitem = dict.__setitem__  # one global load on update_item's locked path


def _copy_state(source: Any, target: Any, memo: Optional[Dict[int, Any]]) -> None:
    """A subclass's own attributes, copied (deep-copied with `memo`) onto its copy."""
    state = getattr(source, "__dict__", None)
    if state:
        target.__dict__.update(copy.deepcopy(state, memo) if memo is not None else state)


def _fill(container: Any, items: Any) -> None:
    if isinstance(container, dict):
        dict.update(container, items)
    elif isinstance(container, list):
        list.extend(container, items)
    else:
        set.update(container, items)


class _Snapshots:
    """copy, repr, pickle and deepcopy through an atomic `snapshot()` (a plain container)."""

    __slots__ = ()

    def snapshot(self) -> Any:
        raise NotImplementedError

    def copy(self) -> Any:
        # as copy and pickle rebuild a dict subclass: `cls.__new__(cls)`, the items, the
        # `__dict__`; never `__init__`, whose arguments may be anything
        new = type(self).__new__(type(self))
        _fill(new, self.snapshot())
        _copy_state(self, new, None)
        return new

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.snapshot()!r})"

    def __copy__(self) -> Any:
        return self.copy()

    def __deepcopy__(self, memo: Dict[int, Any]) -> Any:
        new = type(self).__new__(type(self))
        memo[id(self)] = new  # a container that holds itself deep-copies like a dict does
        _fill(new, copy.deepcopy(self.snapshot(), memo))
        _copy_state(self, new, memo)
        return new


class LockedDict(_Snapshots, Dict[K, V]):
    """A dict whose every single operation is atomic; `with d.lock:` for compound work."""

    __slots__ = ("_lock", "_flights", "__weakref__")  # (weakly tracked: its lock is made anew in a forked child)
    _lock: Any  # a threading.RLock, made by `__new__`
    _flights: Optional[Dict[Any, Flight]]  # key -> its build in progress (get_or_create); made on first miss

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # the lock exists from birth: copy, deepcopy and pickle rebuild through `cls.__new__(cls)`
        # and never call `__init__`, and a subclass may forget `super().__init__()`
        self = super().__new__(cls)
        self._lock = fork_safe_lock(self)
        self._flights = None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            dict.__init__(self, *args, **kwargs)

    @reprlib.recursive_repr("{...}")  # as a dict shows itself inside itself
    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.snapshot()!r})"

    @property
    def lock(self) -> "threading.RLock":  # type: ignore[valid-type]
        """The re-entrant lock every write takes; hold it for compound operations."""
        return self._lock

    # -- writes ----------------------------------------------------------------------
    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            dict.__setitem__(self, key, value)

    def __delitem__(self, key: K) -> None:
        with self._lock:
            dict.__delitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        with self._lock:
            dict.update(self, *args, **kwargs)

    def __ior__(self, other: Any) -> "LockedDict[K, V]":  # type: ignore[misc, override]
        with self._lock:
            dict.update(self, other)
        return self

    def pop(self, key: K, default: Any = _MISSING) -> Any:  # type: ignore[override]
        with self._lock:
            if default is _MISSING:
                return dict.pop(self, key)
            return dict.pop(self, key, default)

    def popitem(self) -> Tuple[K, V]:
        with self._lock:
            return dict.popitem(self)

    def setdefault(self, key: K, default: Any = None) -> V:  # type: ignore[override]
        with self._lock:
            return dict.setdefault(self, key, default)

    def clear(self) -> None:
        with self._lock:
            dict.clear(self)

    # -- compound helpers ------------------------------------------------------------
    def get_or_set(self, key: K, factory: Callable[[], V]) -> V:
        """The value for `key`, calling `factory()` to create it at most once per key."""
        value = dict.get(self, key, _MISSING)
        if value is not _MISSING:
            return value
        with self._lock:
            value = dict.get(self, key, _MISSING)
            if value is _MISSING:
                value = factory()
                dict.__setitem__(self, key, value)
            return value

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        """The value for `key`; on a miss `factory()` builds it, once per key, with no lock held.

        Per-key single flight: the first caller of a missing key runs `factory()`; callers of
        the same key meanwhile wait and return the same object; callers of other keys never
        wait for it (a hit takes no lock at all).  The factory may call `get_or_create` for
        other keys of this dict or any other.

        If the factory raises, its caller gets the exception and nothing is stored; each
        caller that was waiting then tries again, one build at a time, as it would have built
        the value itself without the cache (a failure is not shared with callers that did not
        run it).  A value stored by a build in progress lands even if the dict was cleared
        meanwhile, as a plain `d[key] = factory()` would.

        `RuntimeError`, never a hang: a factory that asks for its own key again in the same
        thread; a cycle of factories across threads (`a` needs `b` while another thread's
        `b` needs `a`); and a wait for another thread's build while holding `d.lock` (that
        build needs the lock to store its value).
        """
        value = dict.get(self, key, _MISSING)
        if value is not _MISSING:
            return value
        return self._build(key, factory)

    def _build(self, key: K, factory: Callable[[], V]) -> V:
        lock = self._lock
        while True:
            with lock:
                value = dict.get(self, key, _MISSING)
                if value is not _MISSING:
                    return value
                flights = self._flights
                if flights is None:
                    flights = self._flights = {}
                flight = flights.get(key)
                if flight is None or flight.abandoned():
                    flight = flights[key] = Flight()
                    break
            if lock._is_owned():  # held by this caller's own `with d.lock:` (the `with` above released it)
                raise RuntimeError(f"LockedDict.get_or_create({reprlib.repr(key)}) would wait for another thread's "
                                   f"build while holding the dict's lock, which that build needs to store its value")
            wait_for(flight, f"LockedDict.get_or_create({reprlib.repr(key)})")
            if flight.ok:
                return cast(V, flight.value)
            # that build raised: this caller tries again (and may build it now)
        stored = False
        value = None
        try:
            value = factory()
            with lock:
                dict.__setitem__(self, key, value)
                stored = True
                if flights.get(key) is flight:
                    del flights[key]
        finally:
            if not stored:
                with lock:
                    if flights.get(key) is flight:
                        del flights[key]
            flight.land(value, stored)
        return cast(V, value)

    def update_item(self, key: K, fn: Callable[[V], V], default: Any = _MISSING) -> V:
        """Atomically replace `d[key]` with `fn(d[key])` (`fn(default)` when missing); return it.

        At least as fast as `with d.lock: d[key] += 1`, also under contention: the read is
        `key in d` and `d[key]` (a subclass's overrides answer them), the C operations a plain
        locked increment uses, and the lock is held for nothing else.  A `dict.get` here made
        it six times slower than that with two threads on the free-threaded build
        (bench/runtime_costs.py measures both).
        """
        lock = self._lock
        lock.acquire()  # explicit: a with-statement costs more, and the lock is held meanwhile
        try:
            if key in self:
                value = fn(self[key])
            elif default is _MISSING:
                raise KeyError(key)
            else:
                value = fn(default)
            _dict_setitem(self, key, value)
            return value
        finally:
            lock.release()

    # -- snapshots ---------------------------------------------------------------------
    def __reduce__(self) -> Tuple[Any, ...]:
        # the items after the object exists, as a dict pickles: a self-reference is restored by
        # pickle's memo; a subclass's own attributes travel as its state
        return (_NEWOBJ, (type(self),), getattr(self, "__dict__", None) or None, None,
                iter(self.snapshot().items()))

    def snapshot(self) -> Dict[K, V]:
        """A plain dict copy, taken atomically: iterate over it while others write."""
        with self._lock:
            return dict.copy(self)



class LockedList(_Snapshots, List[T]):
    """A list whose every single operation is atomic; `with l.lock:` for compound work."""

    __slots__ = ("_lock", "__weakref__")  # (weakly tracked: its lock is made anew in a forked child)
    _lock: Any  # a threading.RLock, made by `__new__`

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # the lock exists from birth: copy, deepcopy and pickle rebuild through `cls.__new__(cls)`
        # and never call `__init__`, and a subclass may forget `super().__init__()`
        self = super().__new__(cls)
        self._lock = fork_safe_lock(self)
        return self

    def __init__(self, iterable: Iterable[T] = ()) -> None:
        items = list(iterable)  # materialise outside the lock: the iterable may be ourself
        with self._lock:
            list.__init__(self, items)

    @reprlib.recursive_repr("[...]")  # as a list shows itself inside itself
    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.snapshot()!r})"

    @property
    def lock(self) -> "threading.RLock":  # type: ignore[valid-type]
        return self._lock

    def append(self, item: T) -> None:
        with self._lock:
            list.append(self, item)

    def extend(self, items: Iterable[T]) -> None:
        items = list(items)  # materialise outside the lock: the iterable may be slow or ourself
        with self._lock:
            list.extend(self, items)

    def insert(self, index: int, item: T) -> None:  # type: ignore[override]
        with self._lock:
            list.insert(self, index, item)

    def remove(self, item: T) -> None:
        with self._lock:
            list.remove(self, item)

    def pop(self, index: int = -1) -> T:  # type: ignore[override]
        with self._lock:
            return list.pop(self, index)

    def clear(self) -> None:
        with self._lock:
            list.clear(self)

    def sort(self, *, key: Optional[Callable[[T], Any]] = None, reverse: bool = False) -> None:
        """Sort in place, as `list.sort`; readers see the old order or the new, never less.

        `list.sort` empties the list while it runs (its items wait in a private array), and
        readers take no lock: `len(l)` read 0 mid-sort.  A copy is sorted instead and put back
        with one slice assignment, which keeps the length and never runs Python code.  If the
        key or a comparison raises, the list is unchanged.
        """
        with self._lock:
            before: List[Any] = list.copy(self)
            items = sorted(before, key=cast(Any, key), reverse=reverse)
            # only this thread can write now: its key or a comparison changed the list
            if list.__len__(self) != len(before) or any(map(operator.is_not, list.__iter__(self), before)):
                raise ValueError("list modified during sort")
            list.__setitem__(self, slice(None), items)

    def reverse(self) -> None:
        with self._lock:
            list.reverse(self)

    @overload  # type: ignore[override]
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...
    def __setitem__(self, index: Any, value: Any) -> None:
        with self._lock:
            list.__setitem__(self, index, value)

    def __delitem__(self, index: Union[int, slice]) -> None:  # type: ignore[override]
        with self._lock:
            list.__delitem__(self, index)

    def __iadd__(self, other: Iterable[T]) -> "LockedList[T]":  # type: ignore[misc, override]
        self.extend(other)
        return self

    def __imul__(self, n: int) -> "LockedList[T]":  # type: ignore[misc, override]
        with self._lock:
            list.__imul__(self, n)
        return self

    def __iter__(self) -> Iterator[T]:
        with self._lock:
            return iter(list.copy(self))

    def __reversed__(self) -> Iterator[T]:
        with self._lock:
            return iter(list(list.__reversed__(self)))

    def snapshot(self) -> List[T]:
        with self._lock:
            return list.copy(self)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_NEWOBJ, (type(self),), getattr(self, "__dict__", None) or None, iter(self.snapshot()), None)

    def pop_if(self, predicate: Callable[[List[T]], bool], index: int = -1) -> Optional[T]:
        """Atomically pop `l[index]` when `predicate(l)` holds (`if l: l.pop()`), else None."""
        with self._lock:
            if predicate(self):
                return list.pop(self, index)
            return None



class LockedSet(_Snapshots, Set[T]):
    """A set whose every single operation is atomic; `with s.lock:` for compound work."""

    __slots__ = ("_lock",)  # (a set can be weakly referenced already: its lock is made anew in a forked child)
    _lock: Any  # a threading.RLock, made by `__new__`

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # the lock exists from birth: copy, deepcopy and pickle rebuild through `cls.__new__(cls)`
        # and never call `__init__`, and a subclass may forget `super().__init__()`
        self = super().__new__(cls)
        self._lock = fork_safe_lock(self)
        return self

    def __init__(self, iterable: Iterable[T] = ()) -> None:
        items = list(iterable)
        with self._lock:
            set.__init__(self, items)

    @property
    def lock(self) -> "threading.RLock":  # type: ignore[valid-type]
        return self._lock

    def add(self, item: T) -> None:
        with self._lock:
            set.add(self, item)

    def add_if_absent(self, item: T) -> bool:
        """Atomically add `item`; True when it was not there (`if x not in s: s.add(x)`)."""
        with self._lock:
            if set.__contains__(self, item):
                return False
            set.add(self, item)
            return True

    def discard(self, item: T) -> None:  # type: ignore[override]
        with self._lock:
            set.discard(self, item)

    def remove(self, item: T) -> None:
        with self._lock:
            set.remove(self, item)

    def pop(self) -> T:
        with self._lock:
            return set.pop(self)

    def clear(self) -> None:
        with self._lock:
            set.clear(self)

    def update(self, *others: Iterable[T]) -> None:
        with self._lock:
            set.update(self, *others)

    def difference_update(self, *others: Iterable[Any]) -> None:
        with self._lock:
            set.difference_update(self, *others)

    def intersection_update(self, *others: Iterable[Any]) -> None:
        with self._lock:
            set.intersection_update(self, *others)

    def symmetric_difference_update(self, other: Iterable[T]) -> None:
        with self._lock:
            set.symmetric_difference_update(self, other)

    def __ior__(self, other: Any) -> "LockedSet[T]":  # type: ignore[misc, override]
        if not isinstance(other, (set, frozenset)):
            return NotImplemented  # as a set: `s |= [1, 2]` is a TypeError
        self.update(other)
        return self

    def __iand__(self, other: Any) -> "LockedSet[T]":  # type: ignore[misc, override]
        if not isinstance(other, (set, frozenset)):
            return NotImplemented  # as a set: `s |= [1, 2]` is a TypeError
        self.intersection_update(other)
        return self

    def __isub__(self, other: Any) -> "LockedSet[T]":  # type: ignore[misc, override]
        if not isinstance(other, (set, frozenset)):
            return NotImplemented  # as a set: `s |= [1, 2]` is a TypeError
        self.difference_update(other)
        return self

    def __ixor__(self, other: Any) -> "LockedSet[T]":  # type: ignore[misc, override]
        if not isinstance(other, (set, frozenset)):
            return NotImplemented  # as a set: `s |= [1, 2]` is a TypeError
        self.symmetric_difference_update(other)
        return self

    def __iter__(self) -> Iterator[T]:
        with self._lock:
            return iter(set.copy(self))

    def snapshot(self) -> Set[T]:
        with self._lock:
            return set.copy(self)

    def __reduce__(self) -> Tuple[Any, ...]:
        # not `(cls, (items,))` as a set pickles: that calls `__init__`; the items travel as state
        return (_NEWOBJ, (type(self),), (list(self.snapshot()), getattr(self, "__dict__", None) or None))

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):  # pickled by an earlier release: `(cls, (items,), __dict__)`
            self.__dict__.update(state)
            return
        items, attributes = state
        with self._lock:
            set.update(self, items)
        if attributes:
            self.__dict__.update(attributes)
