"""safestate_lint.runtime: small, proven primitives for shared state.

Standard library only (importing it never imports libcst), correct on GIL and
free-threaded CPython alike.  Fixed code imports these; so can you.
"""

from safestate_lint.runtime.containers import LockedDict, LockedList, LockedSet
from safestate_lint.runtime.counter import AtomicCounter
from safestate_lint.runtime.errors import LockTimeout
from safestate_lint.runtime.rwlock import AsyncRWLock, RWLock
from safestate_lint.runtime.singleton import Singleton, singleton
from safestate_lint.runtime.state import MISSING, StateManager, Transaction
from safestate_lint.runtime.ttl import TTLCache

__all__ = [
    "AsyncRWLock", "AtomicCounter", "LockTimeout", "LockedDict", "LockedList", "LockedSet",
    "MISSING", "RWLock", "Singleton", "StateManager", "TTLCache", "Transaction", "singleton",
]
