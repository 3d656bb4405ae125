"""safestate_lint.runtime: small, proven primitives for shared state.

Standard library only (importing it never imports libcst), correct on GIL and
free-threaded CPython alike.  Fixed code imports these; so can you.

Names load on first use (PEP 562), so `from safestate_lint.runtime import LockedDict`
costs only the containers module, not asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict

_WHERE: Dict[str, str] = {
    "LockedDict": "containers", "LockedList": "containers", "LockedSet": "containers",
    "AtomicCounter": "counter", "LockTimeout": "errors",
    "RWLock": "rwlock", "AsyncRWLock": "rwlock",
    "singleton": "singletons", "Singleton": "singletons",
    "StateManager": "state", "Transaction": "state", "MISSING": "state",
    "TTLCache": "ttl", "GuardedBy": "guarded", "shared": "guarded", "LoopLock": "looplock",
}
__all__ = sorted(_WHERE)

if TYPE_CHECKING:  # pragma: no cover - `X as X`: explicit re-exports for type checkers
    from safestate_lint.runtime.containers import LockedDict as LockedDict, LockedList as LockedList, LockedSet as LockedSet
    from safestate_lint.runtime.counter import AtomicCounter as AtomicCounter
    from safestate_lint.runtime.errors import LockTimeout as LockTimeout
    from safestate_lint.runtime.guarded import GuardedBy as GuardedBy, shared as shared
    from safestate_lint.runtime.looplock import LoopLock as LoopLock
    from safestate_lint.runtime.rwlock import AsyncRWLock as AsyncRWLock, RWLock as RWLock
    from safestate_lint.runtime.singletons import Singleton as Singleton, singleton as singleton
    from safestate_lint.runtime.state import MISSING as MISSING, StateManager as StateManager, Transaction as Transaction
    from safestate_lint.runtime.ttl import TTLCache as TTLCache


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'safestate_lint.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"safestate_lint.runtime.{module}"), name)
    globals()[name] = value  # bound once: later lookups skip this function
    return value


def __dir__() -> list:
    return __all__
