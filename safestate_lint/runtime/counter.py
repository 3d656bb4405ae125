"""`AtomicCounter`: an integer whose increments are never lost."""

from __future__ import annotations

import threading

from safestate_lint.runtime._fork import fork_safe_lock


class AtomicCounter:
    """A thread-safe integer counter: `increment(n=1)`, `decrement(n=1)`, `value`."""

    __slots__ = ("_value", "_lock", "__weakref__")  # (weakly tracked: its lock is made anew in a forked child)

    def __init__(self, initial: int = 0) -> None:
        self._value = initial
        self._lock = fork_safe_lock(self, threading.Lock)

    def increment(self, n: int = 1) -> int:
        """Add `n` and return the new value."""
        with self._lock:
            self._value += n
            return self._value

    def decrement(self, n: int = 1) -> int:
        """Subtract `n` and return the new value."""
        with self._lock:
            self._value -= n
            return self._value

    def get_and_set(self, value: int) -> int:
        """Set a new value and return the old one (e.g. to read-and-reset a statistic)."""
        with self._lock:
            old, self._value = self._value, value
            return old

    @property
    def value(self) -> int:
        return self._value

    def __int__(self) -> int:
        return self._value

    def __repr__(self) -> str:
        return f"AtomicCounter({self._value})"
