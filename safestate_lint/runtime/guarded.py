"""Markers for the checker, with no cost at run time.

`GuardedBy` names the lock guarding a piece of state, for `Annotated`:

    from typing import Annotated
    from safestate_lint.runtime import GuardedBy

    class Inventory:
        def __init__(self):
            self._lock = threading.Lock()
            self._stock: Annotated[dict, GuardedBy("_lock")] = {}

It does nothing at run time; `safestate-lint check` (SST303) reports every read or write of
the state made without the named lock. A trailing `# guarded-by: _lock` comment on the
assignment says the same.
"""

from __future__ import annotations

from typing import TypeVar

_C = TypeVar("_C", bound=type)


def shared(cls: _C) -> _C:
    """Class decorator: instances of this class are shared between threads (or tasks). The
    checker then treats its methods' `self` state as shared state, as it does for a class that
    starts threads or takes a lock. Returns the class itself: nothing changes at run time."""
    return cls


class GuardedBy:
    """Names the lock (`"_lock"` for `self._lock` / `cls._lock`, or a module-level lock) that
    every access to the annotated state must hold."""

    __slots__ = ("lock",)

    def __init__(self, lock: str) -> None:
        if not isinstance(lock, str) or not lock:
            raise TypeError("GuardedBy() takes the lock's name, a non-empty string")
        self.lock = lock

    def __repr__(self) -> str:
        return f"GuardedBy({self.lock!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GuardedBy) and other.lock == self.lock

    def __hash__(self) -> int:
        return hash(("GuardedBy", self.lock))
