"""Readers-writer locks: many readers or one writer; waiting writers go first."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator, Optional

from safestate_lint.runtime.errors import LockTimeout


class RWLock:
    """A writer-preferring readers-writer lock for threads.

    Any number of readers hold it together; a writer holds it alone.  Once a writer is
    waiting, new readers wait behind it, so a stream of readers cannot starve writers.
    Not re-entrant: a thread that holds a read lock must not ask for it again while a
    writer may be waiting.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    def acquire_read(self, timeout: Optional[float] = None) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: not self._writer and not self._writers_waiting, timeout):
                return False
            self._readers += 1
            return True

    def release_read(self) -> None:
        with self._cond:
            if self._readers <= 0:
                raise RuntimeError("release_read() without a matching acquire_read()")
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    def acquire_write(self, timeout: Optional[float] = None) -> bool:
        with self._cond:
            self._writers_waiting += 1
            try:
                acquired = self._cond.wait_for(lambda: not self._writer and not self._readers, timeout)
            finally:
                self._writers_waiting -= 1
            if not acquired:
                self._cond.notify_all()  # readers held back by this writer may go on
                return False
            self._writer = True
            return True

    def release_write(self) -> None:
        with self._cond:
            if not self._writer:
                raise RuntimeError("release_write() without a matching acquire_write()")
            self._writer = False
            self._cond.notify_all()

    @contextmanager
    def read(self, timeout: Optional[float] = None) -> Iterator[None]:
        """Hold the lock for reading; `LockTimeout` after `timeout` seconds."""
        if not self.acquire_read(timeout):
            raise LockTimeout(f"read lock not acquired within {timeout}s")
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self, timeout: Optional[float] = None) -> Iterator[None]:
        """Hold the lock alone; `LockTimeout` after `timeout` seconds."""
        if not self.acquire_write(timeout):
            raise LockTimeout(f"write lock not acquired within {timeout}s")
        try:
            yield
        finally:
            self.release_write()

    @property
    def readers(self) -> int:
        return self._readers

    @property
    def writer_active(self) -> bool:
        return self._writer


class AsyncRWLock:
    """The same for the tasks of one event loop: `async with lock.read():` / `.write()`."""

    def __init__(self) -> None:
        self._cond: Optional[asyncio.Condition] = None
        self._readers = 0
        self._writer = False
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
        async with cond:
            if not await self._wait(lambda: not self._writer and not self._writers_waiting, timeout):
                raise LockTimeout(f"read lock not acquired within {timeout}s")
            self._readers += 1
        try:
            yield
        finally:
            async with cond:
                self._readers -= 1
                if not self._readers:
                    cond.notify_all()

    @asynccontextmanager
    async def write(self, timeout: Optional[float] = None) -> AsyncIterator[None]:
        cond = self._condition()
        async with cond:
            self._writers_waiting += 1
            try:
                acquired = await self._wait(lambda: not self._writer and not self._readers, timeout)
            finally:
                self._writers_waiting -= 1
            if not acquired:
                cond.notify_all()
                raise LockTimeout(f"write lock not acquired within {timeout}s")
            self._writer = True
        try:
            yield
        finally:
            async with cond:
                self._writer = False
                cond.notify_all()

    @property
    def readers(self) -> int:
        return self._readers


# the names the seed systems used
RWLock.read_lock = RWLock.read  # type: ignore[attr-defined]
RWLock.write_lock = RWLock.write  # type: ignore[attr-defined]
AsyncRWLock.read_lock = AsyncRWLock.read  # type: ignore[attr-defined]
AsyncRWLock.write_lock = AsyncRWLock.write  # type: ignore[attr-defined]
