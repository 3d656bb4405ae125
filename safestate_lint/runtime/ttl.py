"""`TTLCache`: a thread-safe cache whose entries expire."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, Generic, Hashable, Optional, Tuple, TypeVar, cast

from safestate_lint.runtime._flight import wait_for
from safestate_lint.runtime.singletons import _CREATING, _Attempt, _creating, check_not_creating

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING: Any = object()


class TTLCache(Generic[K, V]):
    """`set(key, value, ttl=None)` (default TTL from the constructor), `get(key, default)`
    returning `default` once expired, `cleanup_expired()`, `stats`.  `maxsize` evicts the
    oldest entries; `clock` is injectable for tests (default `time.monotonic`)."""

    def __init__(self, default_ttl: float = 300.0, *, maxsize: Optional[int] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if default_ttl <= 0:
            raise ValueError("default_ttl must be positive")
        self._ttl = default_ttl
        self._maxsize = maxsize
        self._clock = clock
        self._data: "OrderedDict[K, Tuple[float, V]]" = OrderedDict()
        self._lock = threading.Lock()
        self._creating: Dict[K, _Attempt] = {}  # key -> the one factory run in progress
        self._hits = self._misses = self._expired = self._evicted = 0

    def set(self, key: K, value: V, ttl: Optional[float] = None) -> None:
        expires = self._clock() + (self._ttl if ttl is None else ttl)
        with self._lock:
            self._data[key] = (expires, value)
            self._data.move_to_end(key)
            if self._maxsize is not None:
                while len(self._data) > self._maxsize:
                    self._data.popitem(last=False)
                    self._evicted += 1

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            return self._lookup(key, default)

    def _lookup(self, key: K, default: Any) -> Any:
        entry = self._data.get(key)
        if entry is None:
            self._misses += 1
            return default
        if entry[0] <= self._clock():
            del self._data[key]
            self._expired += 1
            self._misses += 1
            return default
        self._hits += 1
        return entry[1]

    def get_or_set(self, key: K, factory: Callable[[], V], ttl: Optional[float] = None) -> V:
        """The live value for `key`; otherwise `factory()` creates it, once however many
        threads ask at the same moment (other keys are not blocked while it runs). If the
        factory raises, the threads waiting on that attempt get the exception, and the next
        call runs it again, again once. A factory that asks for its own key, or a cycle of
        factories across threads (`a` needs `b` while another thread's `b` needs `a`), raises
        `RuntimeError` instead of waiting forever."""
        with self._lock:
            value = self._lookup(key, _MISSING)
            if value is not _MISSING:
                return value
            attempt = self._creating.get(key)
            leader = attempt is None
            if leader:
                attempt = self._creating[key] = _Attempt()
        assert attempt is not None
        name = f"TTLCache.get_or_set({key!r})"
        if not leader:
            check_not_creating(attempt, name)
            wait_for(attempt, name)  # RuntimeError for a cycle through other threads' factories
            return cast(V, attempt.result())
        try:
            token = _creating(attempt, name)
            try:
                value = factory()
            finally:
                _CREATING.reset(token)
            self.set(key, value, ttl)
        except BaseException as exc:
            self._finish(key, attempt, error=exc)
            raise
        self._finish(key, attempt, value)
        return value

    def _finish(self, key: K, attempt: "_Attempt", value: Any = None, error: Optional[BaseException] = None) -> None:
        with self._lock:
            if self._creating.get(key) is attempt:
                del self._creating[key]
        attempt.finish(value, error)

    def delete(self, key: K) -> bool:
        """Remove `key`; True only when it held a live (unexpired) value."""
        with self._lock:
            entry = self._data.pop(key, None)
            return entry is not None and entry[0] > self._clock()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            entry = self._data.get(key)  # type: ignore[call-overload, arg-type]
            return entry is not None and entry[0] > self._clock()

    def __len__(self) -> int:
        """The number of live entries (expired ones are not counted, even before cleanup)."""
        now = self._clock()
        with self._lock:
            return sum(1 for expires, _ in self._data.values() if expires > now)

    def cleanup_expired(self) -> int:
        """Drop every expired entry; return how many."""
        now = self._clock()
        with self._lock:
            dead = [key for key, (expires, _) in self._data.items() if expires <= now]
            for key in dead:
                del self._data[key]
            self._expired += len(dead)
            return len(dead)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    @property
    def stats(self) -> Dict[str, Any]:
        with self._lock:
            lookups = self._hits + self._misses
            return {"size": len(self._data), "hits": self._hits, "misses": self._misses,
                    "expired": self._expired, "evicted": self._evicted,
                    "hit_rate": self._hits / lookups if lookups else 0.0}
