"""The runtime's own locks in the child of a fork.

`os.fork()` copies the memory of every thread but starts only the thread that called it: a
lock another thread held at that moment stays held in the child, by a thread that does not
exist, and the child hangs on its first use.  A primitive that makes its lock with
`fork_safe_lock(self)` gets a new one in the child of every later fork
(`os.register_at_fork(after_in_child=...)`, where the platform has it).  The primitives are
referenced weakly: tracking never keeps one alive.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Callable, Dict, Optional

__all__ = ["fork_safe_lock"]


class _Owner(weakref.ref):  # type: ignore[type-arg]
    """A weak reference to a primitive, with the key it is filed under and its lock's maker."""

    __slots__ = ("key", "make")
    key: int
    make: Callable[[], Any]


_owners: Dict[int, _Owner] = {}  # id(primitive) -> its reference (dicts and lists are not hashable)
FORKS_TRACKED = hasattr(os, "register_at_fork")  # not on Windows, where nothing forks


def _forget(ref: _Owner) -> None:
    """The primitive is gone: called while it is freed, before its id can belong to another."""
    _owners.pop(ref.key, None)


def fork_safe_lock(owner: Any, make: Optional[Callable[[], Any]] = None) -> Any:
    """A new lock (`make()`, by default `threading.RLock()`, looked up now: the explorer of
    `runtime.testing` replaces it) for `owner._lock`; in the child of a later fork,
    `owner._lock` is set to a new `make()` again."""
    if make is None:
        make = threading.RLock
    if FORKS_TRACKED:
        ref = _Owner(owner, _forget)
        ref.key, ref.make = id(owner), make
        _owners[ref.key] = ref
    return make()


def _after_fork_in_child() -> None:
    for ref in list(_owners.values()):
        owner = ref()
        if owner is not None:
            owner._lock = ref.make()


if FORKS_TRACKED:
    os.register_at_fork(after_in_child=_after_fork_in_child)
