"""Managed stand-ins for `threading.Lock`, `RLock` and `Condition`, made while `explore` runs.

In a managed thread of the run in progress they never block the OS thread: a thread that would
wait is marked blocked on the primitive and the scheduler runs another.  Anywhere else (the
thread that called `explore`, threads the explorer does not manage, after the run) they behave
as the real ones, over a real `_thread` lock, so a primitive that outlives its run stays correct.

`threading.Semaphore`, `BoundedSemaphore`, `Event`, `Barrier` and `queue.Queue` are built
from `threading.Lock` and `threading.Condition` when they are made, so made during a run they
are managed too.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple, Union

from safestate_lint.runtime._schedule import Abort, Managed, allocate_lock, current, get_ident, user_site

_Real = Any  # a `_thread.lock`


def _note(me: Managed) -> None:
    me.where = user_site(1)


def acquire(real: _Real, blocking: bool, timeout: float, owner: Any) -> bool:
    """Acquire `real` (the lock inside the managed primitive `owner`) as its caller may."""
    scheduler, me = current()
    if me is None or scheduler is None or scheduler.abandoned:
        if scheduler is not None and me is None and blocking and get_ident() == scheduler.controller_ident:
            if real.acquire(False):
                return True
            raise RuntimeError(f"explore: {owner.describe()} is still held after the workers finished "
                               f"(a worker never released it)")
        return bool(real.acquire(blocking, timeout))
    if me.kill:  # unwinding: never wait
        if real.acquire(False):
            return True
        if not blocking:
            return False
        raise Abort()
    _note(me)
    scheduler.point(me, f"acquire {owner.describe()}")
    while not real.acquire(False):
        if not blocking:
            return False
        if not scheduler.block(me, owner, None if timeout is None or timeout < 0 else timeout):
            return False
    return True


def release(real: _Real, owner: Any) -> None:
    real.release()
    scheduler, me = current()
    if scheduler is None:
        return
    scheduler.wake(owner)
    if me is not None and not me.kill:
        _note(me)
        scheduler.point(me, f"release {owner.describe()}")


_numbers = itertools.count(1)


def restart_numbering() -> None:
    """Number the primitives of each run from 1, so reports of the same schedule match."""
    global _numbers
    _numbers = itertools.count(1)


class _Primitive:
    kind = "?"

    def __init__(self) -> None:
        self._site = user_site(1)
        self._number = next(_numbers)

    def describe(self) -> str:
        return f"{self.kind}#{self._number}@{os.path.basename(self._site[0])}:{self._site[1]}"

    def __repr__(self) -> str:
        return f"<managed {self.describe()}>"


class ManagedLock(_Primitive):
    """`threading.Lock` under the explorer."""

    kind = "Lock"

    def __init__(self) -> None:
        super().__init__()
        self._real = allocate_lock()
        self._owner: Optional[int] = None  # who took it, for the deadlock report

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if acquire(self._real, blocking, timeout, self):
            self._owner = get_ident()
            return True
        return False

    def release(self) -> None:
        self._owner = None
        release(self._real, self)

    def locked(self) -> bool:
        return bool(self._real.locked())

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _at_fork_reinit(self) -> None:
        self._real = allocate_lock()
        self._owner = None

    def describe(self) -> str:
        text = super().describe()
        holder = _holder(self._owner) if self._real.locked() else None
        return f"{text} held by {holder}" if holder else text


class ManagedRLock(_Primitive):
    """`threading.RLock` under the explorer: a count and an owner over one real lock."""

    kind = "RLock"

    def __init__(self) -> None:
        super().__init__()
        self._real = allocate_lock()
        self._owner: Optional[int] = None
        self._count = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return True
        if not acquire(self._real, blocking, timeout, self):
            return False
        self._owner, self._count = me, 1
        return True

    def release(self) -> None:
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        self._count -= 1
        if self._count == 0:
            self._owner = None
            release(self._real, self)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _is_owned(self) -> bool:
        return self._owner == get_ident()

    def _release_save(self) -> Tuple[int, Optional[int]]:
        if self._owner != get_ident():
            raise RuntimeError("cannot release un-acquired lock")
        state = (self._count, self._owner)
        self._owner, self._count = None, 0
        release(self._real, self)
        return state

    def _acquire_restore(self, state: Tuple[int, Optional[int]]) -> None:
        acquire(self._real, True, -1, self)
        self._count, self._owner = state

    def _at_fork_reinit(self) -> None:
        self._real = allocate_lock()
        self._owner, self._count = None, 0

    def describe(self) -> str:
        text = super().describe()
        holder = _holder(self._owner)
        return f"{text} held by {holder}" if holder else text


def _holder(ident: Optional[int]) -> Optional[str]:
    if ident is None:
        return None
    scheduler, _ = current()
    record = scheduler.by_ident.get(ident) if scheduler is not None else None
    return record.name if record is not None else "an unmanaged thread"


class _Waiter:
    __slots__ = ("thread", "notified")

    def __init__(self, thread: Managed) -> None:
        self.thread = thread
        self.notified = False


class ManagedCondition(_Primitive):
    """`threading.Condition` under the explorer.  Timeouts are virtual: a timed wait gives up
    only when no thread can run any more."""

    kind = "Condition"

    def __init__(self, lock: Any = None) -> None:
        super().__init__()
        if lock is None:
            lock = ManagedRLock()
        self._lock = lock
        self.acquire: Callable[..., bool] = lock.acquire
        self.release: Callable[[], None] = lock.release
        self._waiters: Deque[Union[_Waiter, _Real]] = deque()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._lock.__exit__(*exc)

    def __repr__(self) -> str:
        return f"<managed {self.describe()} over {self._lock!r}>"

    def _is_owned(self) -> bool:
        lock = self._lock
        if isinstance(lock, ManagedLock):
            return lock.locked()
        if hasattr(lock, "_is_owned"):
            return bool(lock._is_owned())
        if lock.acquire(False):
            lock.release()
            return False
        return True

    def _release_save(self) -> Any:
        if hasattr(self._lock, "_release_save"):
            return self._lock._release_save()
        self._lock.release()
        return None

    def _acquire_restore(self, state: Any) -> None:
        if hasattr(self._lock, "_acquire_restore"):
            self._lock._acquire_restore(state)
        else:
            self._lock.acquire()

    def wait(self, timeout: Optional[float] = None) -> bool:
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        scheduler, me = current()
        if me is None or scheduler is None or scheduler.abandoned:
            return self._real_wait(timeout)
        if me.kill:
            raise Abort()
        waiter = _Waiter(me)
        self._waiters.append(waiter)
        saved = self._release_save()
        try:
            if not waiter.notified:
                _note(me)
                scheduler.block(me, self, timeout)
            return waiter.notified
        finally:
            if not waiter.notified:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            self._acquire_restore(saved)

    def _real_wait(self, timeout: Optional[float]) -> bool:
        waiter = allocate_lock()
        waiter.acquire()
        self._waiters.append(waiter)
        saved = self._release_save()
        got = False
        try:
            if timeout is None:
                got = waiter.acquire()
            elif timeout > 0:
                got = waiter.acquire(True, timeout)
            else:
                got = waiter.acquire(False)
            return bool(got)
        finally:
            self._acquire_restore(saved)
            if not got:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass

    def wait_for(self, predicate: Callable[[], Any], timeout: Optional[float] = None) -> Any:
        result = predicate()
        while not result:
            if not self.wait(timeout) and timeout is not None:
                return predicate()
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        while n > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if isinstance(waiter, _Waiter):
                waiter.notified = True
                if waiter.thread.blocked_on is self:
                    waiter.thread.blocked_on = None
                    waiter.thread.deadline = None
            else:
                try:
                    waiter.release()
                except RuntimeError:
                    pass
            n -= 1

    def notify_all(self) -> None:
        self.notify(len(self._waiters))

    notifyAll = notify_all
