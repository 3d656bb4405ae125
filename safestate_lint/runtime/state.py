"""`StateManager`: a thread-safe key-value store with transactions, listeners and statistics."""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Set, Tuple

from safestate_lint.runtime._atomic import atomic_write, remove_stale_temporaries
from safestate_lint.runtime.errors import LockTimeout

log = logging.getLogger(__name__)
Listener = Callable[[str, Any, Any], None]  # (key, old value or MISSING, new value or MISSING)
Change = Tuple[str, Any, Any]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class StateManager:
    """Shared application state behind one re-entrant lock.

    * get/set/delete/exists/clear, get_many/set_many;
    * `update(fn)`: atomic read-modify-write; `fn` gets a read-only snapshot and returns
      a dict of changes (a value of `MISSING` deletes the key);
    * `with m.transaction() as tx:` a mutable mapping over the current state whose changes
      apply atomically when the block ends and are discarded if it raises;
    * listeners `fn(key, old, new)` called after each change, outside the lock (one that
      raises is logged and counted, the others still run);
    * statistics (lock acquisitions, timeouts, wait time) and `healthy()`;
    * `lock_timeout`: waiting longer raises `LockTimeout`;
    * `path`: optional JSON persistence, written atomically (temporary file, fsync,
      replace) before a change becomes visible, and reloaded on start.  If the write
      fails the change is not applied, so memory and disk always agree.  Opening removes
      the temporary files of this path that a crashed write left, once a minute old (a
      younger one may be another process's write in progress).
    """

    def __init__(self, initial: Optional[Mapping[str, Any]] = None, *, lock_timeout: Optional[float] = 5.0,
                 path: Optional[str] = None) -> None:
        self._lock = threading.RLock()
        self._stats_lock = threading.Lock()
        self._data: Dict[str, Any] = dict(initial or {})
        self._listeners: List[Listener] = []
        self._outbox: "collections.deque[List[Change]]" = collections.deque()  # committed, not yet delivered
        self._deliver_lock = threading.Lock()
        self._deliverer: Optional[int] = None  # the thread delivering, while it does
        self._timeout = lock_timeout
        self._path = path
        self._acquisitions = 0
        self._timeouts = 0
        self._wait_total = 0.0
        self._wait_max = 0.0
        self._tx_owner: Optional[int] = None  # the thread inside `transaction()`
        self._last_timeout: Optional[float] = None
        self._listener_errors = 0
        if path is not None:
            remove_stale_temporaries(path)
        if path is not None and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                loaded = json.load(handle)
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a JSON object, got {type(loaded).__name__}")
            self._data.update(loaded)

    # -- locking -----------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        start = time.perf_counter()
        acquired = self._lock.acquire(timeout=-1 if self._timeout is None else self._timeout)
        waited = time.perf_counter() - start
        with self._stats_lock:
            self._wait_total += waited
            self._wait_max = max(self._wait_max, waited)
            if acquired:
                self._acquisitions += 1
            else:
                self._timeouts += 1
                self._last_timeout = time.monotonic()
        if not acquired:
            raise LockTimeout(f"state lock not acquired within {self._timeout}s")
        try:
            yield
        finally:
            self._lock.release()

    # -- reads ---------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """The last committed value: one dict lookup, atomic on GIL and free-threaded builds
        (writes apply under the lock, a commit all at once), so a read never waits, not even
        for an open transaction. Read several keys at one instant with `get_many`."""
        return self._data.get(key, default)

    def exists(self, key: str) -> bool:
        return key in self._data

    __contains__ = exists

    def get_many(self, keys: Iterable[str]) -> Dict[str, Any]:
        """The present keys among `keys`, read at one instant."""
        with self._locked():
            return {key: self._data[key] for key in keys if key in self._data}

    def snapshot(self) -> Dict[str, Any]:
        with self._locked():
            return dict(self._data)

    def keys(self) -> List[str]:
        with self._locked():
            return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # -- writes ---------------------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        self._apply({key: value})

    def set_many(self, values: Mapping[str, Any]) -> None:
        """Set several keys at once: readers see all of them or none."""
        self._apply(dict(values))

    def delete(self, key: str) -> bool:
        """Remove `key`; False when it was not there."""
        self._writing()
        with self._locked():
            if key not in self._data:
                return False
            changes = self._commit({key: MISSING})
        self._notify(changes)
        return True

    def clear(self) -> None:
        self._writing()
        with self._locked():
            changes = self._commit({key: MISSING for key in self._data})
        self._notify(changes)

    def update(self, fn: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> Dict[str, Any]:
        """Atomic read-modify-write: `fn(snapshot)` returns the changes to apply; returns them."""
        self._writing()
        with self._locked():
            changes = fn(MappingProxyType(dict(self._data)))
            if not isinstance(changes, Mapping):
                raise TypeError(f"update() function must return a mapping of changes, got {type(changes).__name__}")
            changes = dict(changes)
            applied = self._commit(changes)
        self._notify(applied)
        return changes

    @contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """Hold the state for a block; its changes apply at the end, or not at all if it raises.
        Inside the block, write through `tx`: a direct write to the manager from the same
        thread raises `RuntimeError` (the commit would silently overwrite it)."""
        with self._locked():
            if self._tx_owner == threading.get_ident():
                raise RuntimeError("a transaction is already open in this thread: use its tx")
            tx = Transaction(self._data)
            self._tx_owner = threading.get_ident()
            try:
                yield tx
            finally:
                self._tx_owner = None
            applied = self._commit(tx.changes())
        self._notify(applied)

    def _writing(self) -> None:
        if self._tx_owner is not None and self._tx_owner == threading.get_ident():
            raise RuntimeError("use tx inside a transaction: a direct write to the StateManager would be "
                               "overwritten when the transaction commits")

    def _apply(self, changes: Dict[str, Any]) -> None:
        self._writing()
        with self._locked():
            applied = self._commit(changes)
        self._notify(applied)

    def _commit(self, changes: Dict[str, Any]) -> List[Change]:
        """Apply changes under the lock: persist first, so a failed write changes nothing."""
        effective: List[Change] = []
        for key, value in changes.items():
            old = self._data.get(key, MISSING)
            if value is MISSING and old is MISSING:
                continue
            effective.append((key, old, value))
        if not effective:
            return []
        if self._path is None:  # in memory only: in place, O(1) per key (each single read sees a key old or new)
            for key, _old, value in effective:
                if value is MISSING:
                    del self._data[key]
                else:
                    self._data[key] = value
            return self._queued(effective)
        for key, _old, value in effective:
            if value is not MISSING:
                self._survives_json(key, value)
        new_data = dict(self._data)  # persisted first: a failed write changes nothing
        for key, _old, value in effective:
            if value is MISSING:
                del new_data[key]
            else:
                new_data[key] = value
        self._persist(new_data)
        self._data = new_data
        return self._queued(effective)

    def _queued(self, changes: List[Change]) -> List[Change]:
        """Applied changes, queued for the listeners under the lock: in commit order."""
        if self._listeners:
            self._outbox.append(changes)
        return changes

    def _persist(self, data: Dict[str, Any]) -> None:
        payload = json.dumps(data, indent=2, sort_keys=True)  # TypeError before touching the disk
        atomic_write(self._path or "", payload.encode("utf-8"), durable=True)

    @staticmethod
    def _survives_json(key: Any, value: Any) -> None:
        """With persistence, a key or value JSON would reload as something else is refused now
        (int keys come back as str, tuples as lists), not discovered after a restart."""
        if not isinstance(key, str):
            raise TypeError(f"StateManager keys must be str when persisted, got {type(key).__name__} {key!r}")
        try:
            reloaded = json.loads(json.dumps(value))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the value of {key!r} cannot be persisted as JSON: {exc}") from None
        if reloaded != value or _shape(reloaded) != _shape(value):
            raise TypeError(f"the value of {key!r} would not reload the same from JSON "
                            f"({_shape(value)} would come back as {_shape(reloaded)})")

    # -- listeners -----------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        with self._stats_lock:
            self._listeners = self._listeners + [listener]

    def remove_listener(self, listener: Listener) -> None:
        with self._stats_lock:
            self._listeners = [l for l in self._listeners if l is not listener]

    def _notify(self, changes: List[Change]) -> None:
        """Deliver every committed change to the listeners, in commit order: changes queue up
        under the state lock as they commit; one thread at a time empties the queue (maybe
        another writer's: a writer never waits for listeners of other writes). A listener that
        writes sees its own change delivered after the current one reaches every listener."""
        if not changes:
            return
        me = threading.get_ident()
        if self._deliverer == me:
            return  # a listener wrote: the loop below delivers it next
        while self._outbox:
            if not self._deliver_lock.acquire(False):
                return  # the thread delivering takes ours too: it looks again after letting go
            try:
                self._deliverer = me
                while self._outbox:
                    self._call_listeners(self._outbox.popleft())
            finally:
                self._deliverer = None
                self._deliver_lock.release()

    def _call_listeners(self, changes: List[Change]) -> None:
        for listener in list(self._listeners):
            for key, old, new in changes:
                try:
                    listener(key, old, new)
                except Exception:  # a broken listener must not break the writer
                    with self._stats_lock:
                        self._listener_errors += 1
                    log.exception("state listener %r failed for key %r", listener, key)

    # -- health --------------------------------------------------------------------------
    @property
    def stats(self) -> Dict[str, Any]:
        with self._stats_lock:
            return {
                "keys": len(self._data),
                "acquisitions": self._acquisitions,
                "timeouts": self._timeouts,
                "wait_time_total": self._wait_total,
                "wait_time_max": self._wait_max,
                "listener_errors": self._listener_errors,
            }

    def healthy(self, window: float = 60.0) -> bool:
        """False while a lock timeout (a sign of contention or a deadlock) happened within the
        last `window` seconds; the count of all timeouts stays in `stats`."""
        last = self._last_timeout
        return last is None or time.monotonic() - last > window


def _shape(value: Any) -> str:
    """The JSON-relevant types in a value (`tuple`, `dict[int]`...), to say what changes."""
    if isinstance(value, dict):
        return "dict[" + ",".join(sorted({type(k).__name__ for k in value})) + "](" + \
            ",".join(_shape(v) for v in value.values()) + ")"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}(" + ",".join(_shape(v) for v in value) + ")"
    return type(value).__name__


class Transaction(MutableMapping[str, Any]):
    """A mutable mapping over the current state; its changes apply when the block ends."""

    def __init__(self, base: Dict[str, Any]) -> None:
        self._base = base
        self._written: Dict[str, Any] = {}
        self._deleted: Set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key in self._written:
            return self._written[key]
        if key in self._deleted:
            raise KeyError(key)
        return self._base[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._deleted.discard(key)
        self._written[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._written.pop(key, None)
        self._deleted.add(key)

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key in list(self._base) + list(self._written):
            if key not in seen and key not in self._deleted:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def changes(self) -> Dict[str, Any]:
        result: Dict[str, Any] = {key: MISSING for key in self._deleted}
        result.update(self._written)
        return result
