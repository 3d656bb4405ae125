"""Readers-writer locks: many readers or one writer; waiting writers go first."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Dict, Optional

from safestate_lint.runtime.errors import LockTimeout


_get_ident = threading.get_ident


class _Depth(threading.local):
    depth = 0  # this thread's read depth; the class default spares a getattr with a default


class RWLock:
    """A writer-preferring readers-writer lock for threads.

    Any number of readers hold it together; a writer holds it alone.  Once a writer is
    waiting, new readers wait behind it, so a stream of readers cannot starve writers.

    Re-entrant without deadlocks: a thread that already reads goes in again at once, even
    while a writer waits (reads are counted per thread); the writer may write again and
    read inside its write section.  Asking to write while holding only a read lock is an
    upgrade, which would wait forever: it raises `RuntimeError` at once.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()  # entered directly on the uncontended paths (a C call)
        self._cond = threading.Condition(self._mutex)
        self._local = _Depth()  # `depth`: this thread's read depth (only it touches it)
        self._readers = 0  # threads reading
        self._writer: Optional[int] = None
        self._write_depth = 0
        self._writers_waiting = 0
        self._reading = _Reading(self)

    def acquire_read(self, timeout: Optional[float] = None) -> bool:
        local = self._local
        depth = local.depth
        if depth:  # this thread reads already: in again at once, even while a writer waits
            local.depth = depth + 1
            return True
        me = _get_ident()
        with self._mutex:
            if self._writer != me and (self._writer is not None or self._writers_waiting):
                if not self._cond.wait_for(lambda: self._writer is None and not self._writers_waiting,
                                           _wait_timeout(timeout)):
                    return False
            self._readers += 1
        local.depth = 1
        return True

    def release_read(self) -> None:
        local = self._local
        depth = local.depth
        if depth <= 0:
            raise RuntimeError("release_read() by a thread that holds no read lock")
        local.depth = depth - 1
        if depth == 1:
            with self._mutex:
                self._readers -= 1
                if self._writers_waiting and not self._readers:  # only writers wait for readers to leave
                    self._cond.notify_all()

    def acquire_write(self, timeout: Optional[float] = None) -> bool:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._write_depth += 1
                return True
            if self._local.depth:
                raise RuntimeError("acquire_write() while this thread holds a read lock: upgrading would deadlock; "
                                   "release the read lock first")
            self._writers_waiting += 1
            try:
                acquired = self._cond.wait_for(lambda: self._writer is None and not self._readers,
                                               _wait_timeout(timeout))
            finally:
                self._writers_waiting -= 1
            if not acquired:
                self._cond.notify_all()  # readers held back by this writer may go on
                return False
            self._writer, self._write_depth = me, 1
            return True

    def release_write(self) -> None:
        with self._cond:
            if self._writer != threading.get_ident():
                raise RuntimeError("release_write() by a thread that does not hold the write lock")
            self._write_depth -= 1
            if not self._write_depth:
                self._writer = None
                self._cond.notify_all()

    def read(self, timeout: Optional[float] = None) -> "_Hold | _Reading":
        """Hold the lock for reading (`with rw.read():`); `LockTimeout` after `timeout` seconds."""
        if timeout is None:
            return self._reading  # made once: it keeps no state of its own
        return _Hold(self.acquire_read, self.release_read, timeout, "read")

    def write(self, timeout: Optional[float] = None) -> "_Hold":
        """Hold the lock alone (`with rw.write():`); `LockTimeout` after `timeout` seconds."""
        return _Hold(self.acquire_write, self.release_write, timeout, "write")

    @property
    def readers(self) -> int:
        return self._readers

    @property
    def writer_active(self) -> bool:
        return self._writer is not None


class _Hold:
    """`with rw.read():` / `with rw.write():` without a generator (a third of the cost)."""

    __slots__ = ("_acquire", "_release", "_timeout", "_what")

    def __init__(self, acquire: Callable[[Optional[float]], bool], release: Callable[[], None],
                 timeout: Optional[float], what: str) -> None:
        self._acquire, self._release, self._timeout, self._what = acquire, release, timeout, what

    def __enter__(self) -> None:
        if not self._acquire(self._timeout):
            raise LockTimeout(f"{self._what} lock not acquired within {self._timeout}s")

    def __exit__(self, *exc: object) -> None:
        self._release()


class _Reading:
    """`with rw.read():` without a timeout, made once per lock (no allocation per use)."""

    __slots__ = ("_rw", "_local", "_mutex")

    def __init__(self, rw: "RWLock") -> None:
        self._rw, self._local, self._mutex = rw, rw._local, rw._mutex

    def __enter__(self) -> None:  # acquire_read's uncontended path, inline
        local = self._local
        depth = local.depth
        if depth:
            local.depth = depth + 1
            return
        rw = self._rw
        mutex = self._mutex
        mutex.acquire()  # (not `with`: a third of the cost on 3.11; nothing in between raises)
        if rw._writer is None and not rw._writers_waiting:
            rw._readers += 1
            mutex.release()
            local.depth = 1
            return
        mutex.release()
        rw.acquire_read()

    def __exit__(self, kind: object, error: object, traceback: object) -> None:  # release_read, inline
        local = self._local
        depth = local.depth
        if depth > 1:
            local.depth = depth - 1
            return
        rw = self._rw
        if depth != 1:
            rw.release_read()  # holds no read lock: raises as release_read() does
        local.depth = 0
        mutex = self._mutex
        mutex.acquire()
        rw._readers -= 1
        if rw._writers_waiting and not rw._readers:
            try:
                rw._cond.notify_all()
            finally:
                mutex.release()
            return
        mutex.release()


def _wait_timeout(timeout: Optional[float]) -> Optional[float]:
    """`threading`'s convention: a negative timeout waits forever, like `Lock.acquire(timeout=-1)`."""
    return None if timeout is None or timeout < 0 else timeout


class AsyncRWLock:
    """The same for the tasks of one event loop: `async with lock.read():` / `.write()`.

    Re-entrant per task as `RWLock` is per thread: a task that reads may read again, the
    writing task may write again and read, and a task that reads and asks to write gets
    `RuntimeError` at once."""

    def __init__(self) -> None:
        self._cond: Optional[asyncio.Condition] = None
        self._reads: Dict[object, int] = {}  # task -> read depth
        self._readers = 0
        self._writer: Optional[object] = None
        self._write_depth = 0
        self._writers_waiting = 0

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:  # created on first use, inside the loop that uses it
            self._cond = asyncio.Condition()
        return self._cond

    async def _wait(self, predicate, timeout: Optional[float]) -> bool:  # type: ignore[no-untyped-def]
        cond = self._condition()
        if timeout is None:
            await cond.wait_for(predicate)
            return True
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(cond.wait(), remaining)
            except asyncio.TimeoutError:
                # wait_for re-acquired the condition's lock before raising
                return predicate()
        return True

    @asynccontextmanager
    async def read(self, timeout: Optional[float] = None) -> AsyncIterator[None]:
        cond = self._condition()
        me = asyncio.current_task()
        async with cond:
            if not (self._reads.get(me) or self._writer is me):
                if not await self._wait(lambda: self._writer is None and not self._writers_waiting, timeout):
                    raise LockTimeout(f"read lock not acquired within {timeout}s")
            self._reads[me] = self._reads.get(me, 0) + 1
            self._readers += 1
        try:
            yield
        finally:
            async with cond:
                depth = self._reads[me] - 1
                if depth:
                    self._reads[me] = depth
                else:
                    del self._reads[me]
                self._readers -= 1
                if not self._readers:
                    cond.notify_all()

    @asynccontextmanager
    async def write(self, timeout: Optional[float] = None) -> AsyncIterator[None]:
        cond = self._condition()
        me = asyncio.current_task()
        async with cond:
            if self._writer is not None and self._writer is me:
                self._write_depth += 1
            else:
                if self._reads.get(me):
                    raise RuntimeError("write() while this task holds a read lock: upgrading would deadlock")
                self._writers_waiting += 1
                try:
                    acquired = await self._wait(lambda: self._writer is None and not self._readers, timeout)
                finally:
                    self._writers_waiting -= 1
                    if not self._writers_waiting:
                        cond.notify_all()  # readers held back by waiting writers (even a cancelled one) go on
                if not acquired:
                    cond.notify_all()
                    raise LockTimeout(f"write lock not acquired within {timeout}s")
                self._writer, self._write_depth = me, 1
        try:
            yield
        finally:
            async with cond:
                self._write_depth -= 1
                if not self._write_depth:
                    self._writer = None
                    cond.notify_all()

    @property
    def readers(self) -> int:
        return self._readers


# the names the seed systems used
RWLock.read_lock = RWLock.read  # type: ignore[attr-defined]
RWLock.write_lock = RWLock.write  # type: ignore[attr-defined]
AsyncRWLock.read_lock = AsyncRWLock.read  # type: ignore[attr-defined]
AsyncRWLock.write_lock = AsyncRWLock.write  # type: ignore[attr-defined]
