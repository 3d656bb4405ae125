"""`LoopLock`: an asyncio lock for state that coroutines share, made inside the loop using it.

An `asyncio.Lock()` created at import time belongs to whichever loop first waits on it (on
Python 3.9, to the loop `get_event_loop()` returned when it was made): a program that calls
`asyncio.run()` twice, or a test suite that runs each test in a new loop, then fails with
"is bound to a different event loop" as soon as two tasks contend.  A `LoopLock` keeps one
`asyncio.Lock` per running event loop, created on first use inside that loop; a closed loop's
lock is dropped when another loop first uses it.

* `async with lock:` excludes the other tasks of the same loop (not threads: guard state
  that threads touch with a `threading` lock).
* `async with lock[key]:` is one lock per key: tasks of the same key wait for each other,
  other keys never wait.  It is the single-flight shape for a value that takes an await to
  build: ``if k not in cache: async with lock[k]: if k not in cache: cache[k] = await
  build(k)`` -- the first task builds, the others for that key wait for it and then find
  the value; a failure is not cached (the next task builds).  A key's entry lives only
  while a task holds or waits for it.  The per-key locks and the whole lock are different
  locks: one does not exclude the other.
* `acquire()`, `release()` and `locked()` behave as `asyncio.Lock`'s, for the current loop.

Like `asyncio.Lock` it is not reentrant: a task that takes it again waits for itself.
Standard library only; correct on GIL and free-threaded builds (the per-loop table is
created under a `threading.Lock`; each loop's own locks are used by its thread only).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Dict, Hashable, Optional

__all__ = ["LoopLock"]


class _Keyed:
    """The lock of one key, and how many tasks hold or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # made in a coroutine of the running loop (3.9 binds it there)
        self.users = 0


class _PerLoop:
    """A `LoopLock`'s state in one event loop."""

    __slots__ = ("whole", "keys")

    def __init__(self) -> None:
        self.whole: Optional[asyncio.Lock] = None
        self.keys: Dict[Hashable, _Keyed] = {}

    def lock(self) -> asyncio.Lock:
        if self.whole is None:
            self.whole = asyncio.Lock()
        return self.whole


class LoopLock:
    """An `asyncio.Lock` per event loop, created lazily inside the running loop; `lock[key]`
    for a lock per key.  Safe to create at import time and to use from any number of
    `asyncio.run()` calls, loops and threads (each loop has its own)."""

    __slots__ = ("_loops", "_guard", "__weakref__")

    def __init__(self) -> None:
        # loop -> its state.  Not a WeakKeyDictionary: a contended asyncio.Lock refers to its
        # loop, so the value would keep its key alive; closed loops are dropped instead when
        # a new loop first uses the lock
        self._loops: Dict[Any, _PerLoop] = {}
        self._guard = threading.Lock()

    # ---- the current loop's state --------------------------------------------------------
    def _here(self) -> _PerLoop:
        loop = asyncio.get_running_loop()  # RuntimeError outside a coroutine, as asyncio's own
        found = self._loops.get(loop)
        if found is not None:
            return found
        with self._guard:  # two loops in two threads may arrive at once
            found = self._loops.get(loop)
            if found is None:
                for old in [old for old in self._loops if old.is_closed()]:
                    del self._loops[old]
                found = self._loops[loop] = _PerLoop()
        return found

    # ---- the whole lock ----------------------------------------------------------------------
    async def acquire(self) -> bool:
        return await self._here().lock().acquire()

    def release(self) -> None:
        self._here().lock().release()

    def locked(self) -> bool:
        """Whether the current loop's lock is held (outside a loop: whether any loop's is)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with self._guard:
                states = list(self._loops.values())
            return any(state.whole is not None and state.whole.locked() for state in states)
        whole = self._here().whole
        return whole is not None and whole.locked()

    async def __aenter__(self) -> None:
        await self._here().lock().acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self._here().lock().release()

    # ---- a lock per key ------------------------------------------------------------------------
    def __getitem__(self, key: Hashable) -> "_KeyHold":
        return _KeyHold(self, key)

    def __repr__(self) -> str:
        return f"<LoopLock {'locked' if self.locked() else 'unlocked'}>"


class _KeyHold:
    """`async with lock[key]:` -- holds the lock of `key` in the running loop."""

    __slots__ = ("_owner", "_key", "_state", "_entry")

    def __init__(self, owner: LoopLock, key: Hashable) -> None:
        self._owner, self._key = owner, key
        self._state: Optional[_PerLoop] = None
        self._entry: Optional[_Keyed] = None

    def locked(self) -> bool:
        """Whether a task holds this key's lock in the current loop."""
        entry = self._owner._here().keys.get(self._key)
        return entry is not None and entry.lock.locked()

    async def __aenter__(self) -> None:
        if self._entry is not None:
            raise RuntimeError("this `lock[key]` is already entered; write `async with lock[key]:` each time")
        state = self._owner._here()
        entry = state.keys.get(self._key)
        if entry is None:
            entry = state.keys[self._key] = _Keyed()
        entry.users += 1
        try:
            await entry.lock.acquire()
        except BaseException:  # cancelled while waiting: the entry goes when nobody needs it
            self._leave(state, entry)
            raise
        self._state, self._entry = state, entry

    async def __aexit__(self, *exc: Any) -> None:
        state, entry = self._state, self._entry
        assert state is not None and entry is not None
        self._state = self._entry = None
        entry.lock.release()
        self._leave(state, entry)

    def _leave(self, state: _PerLoop, entry: _Keyed) -> None:
        entry.users -= 1
        if entry.users == 0 and state.keys.get(self._key) is entry:
            del state.keys[self._key]
