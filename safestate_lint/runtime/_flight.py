"""Per-key single flight: one build of a missing value that the other callers of that key wait for.

`Flight` is one build in progress.  Its builder runs the factory with no lock held; callers of
the same key block on `wait_for(flight, ...)` until it lands, and callers of other keys never
touch it.  Waiting never turns a mistake into a hang:

* a builder whose factory asks for its own key again (in the same thread) gets `RuntimeError`;
* a cycle between threads (T1 builds `a` and needs `b`, T2 builds `b` and needs `a`) is found
  when its last edge would be added: the thread that would close it gets `RuntimeError`.
  The threads that wait register here (thread -> the flight it waits for), and a new waiter
  follows the builders' own waits before it starts;
* a flight whose builder lives in another process (the parent, before a `fork()`) is abandoned:
  callers in the child build the value themselves.

The waits-for check is shared by every sync run-once wait of the runtime: `TTLCache.get_or_set`
and sync `@singleton` creations wait through `wait_for` too (their attempts have an `owner` and
a `done` event), so a cycle through a dict, a cache and a singleton is found as well.

Standard library only, no asyncio: the containers import it.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional, Protocol


class Waitable(Protocol):
    """A build others wait for: its builder's thread, and the event set when it lands."""

    owner: int
    done: threading.Event


_waits_lock = threading.Lock()
_waiting: Dict[int, Waitable] = {}  # thread ident -> the build it waits for


def _forget_waits() -> None:
    """In a forked child only the forking thread exists: the parent's waits mean nothing."""
    global _waits_lock
    _waits_lock = threading.Lock()
    _waiting.clear()


if hasattr(os, "register_at_fork"):  # POSIX; Windows does not fork
    os.register_at_fork(after_in_child=_forget_waits)


class Flight:
    """One build of one key, shared by every caller of that key while it runs."""

    __slots__ = ("owner", "pid", "done", "value", "ok")

    def __init__(self) -> None:
        self.owner = threading.get_ident()  # the builder
        self.pid = os.getpid()
        self.done = threading.Event()
        self.value: Any = None
        self.ok = False  # the build stored `value`; False: it raised, the waiters try again

    def abandoned(self) -> bool:
        """Made before a fork by a thread the child does not have: nobody will finish it."""
        return self.pid != os.getpid() and self.owner != threading.get_ident()

    def land(self, value: Any, ok: bool) -> None:
        """The build is over: wake the waiters (`value` is theirs only when `ok`)."""
        self.value, self.ok = value, ok
        self.done.set()


def wait_for(flight: Waitable, name: str) -> None:
    """Block until `flight` lands, or raise RuntimeError when waiting could never end. `name`
    says what is being built (`LockedDict.get_or_create('k')`), for the error."""
    me = threading.get_ident()
    with _waits_lock:
        link: Optional[Waitable] = flight
        for _ in range(len(_waiting) + 1):  # a chain visits each waiting thread at most once
            if link is None:
                break
            if link.owner == me:
                if link is flight:
                    raise RuntimeError(f"{name}: the factory asked for the same value again in the same thread; "
                                       f"waiting for itself would never end")
                raise RuntimeError(f"{name}: the thread building it waits, through other builds, for this thread "
                                   f"(a cycle between factories); waiting would never end")
            following = _waiting.get(link.owner)
            link = following if following is not None and not following.done.is_set() else None
        _waiting[me] = flight
    try:
        flight.done.wait()
    finally:
        with _waits_lock:
            if _waiting.get(me) is flight:
                del _waiting[me]
