"""Locks that live outside the process: a file lock, a ZooKeeper or Redis lock, a lease.

`with zk.Lock("/jobs/lock"):` and `with FileLock(path):` exclude other processes (or machines)
from a resource; held across I/O by design, they guard nothing against the other threads of
this process. Only `threading`, `multiprocessing` and `asyncio` primitives, the runtime's and
configured `lock-names` are in-process locks (the precision issue), so a name that matches the
lock pattern is no lock when the code binds it to one of these: SST302/SST304 see no region,
SST403 no order, SST404 no critical section.

Two signs, both read from the call that makes the lock: a constructor of a library of
inter-process locks (:data:`INTERPROCESS_LOCKS`), or a lock made by name or path
(`client.Lock("/path")`, `redis.lock("name")`: an in-process lock takes no name).
"""

from __future__ import annotations

import ast
import weakref
from typing import Dict, Optional, Set, Tuple

from safestate_lint.engine.bindings import LOCK_CTORS, ModuleBindings
from safestate_lint.engine.syntax import walk

__all__ = ["INTERPROCESS_LOCKS", "out_of_process", "out_of_process_attribute"]

INTERPROCESS_LOCKS = frozenset({
    "filelock.FileLock", "filelock.SoftFileLock", "filelock.UnixFileLock", "filelock.WindowsFileLock",
    "filelock.AsyncFileLock", "portalocker.Lock", "portalocker.RLock", "portalocker.BoundedSemaphore",
    "fasteners.InterProcessLock", "fasteners.InterProcessReaderWriterLock", "redis_lock.Lock",
    "pottery.Redlock", "pottery.AIORedlock", "oslo_concurrency.lockutils.external_lock",
})
# methods of a client that make a lock other processes share, by the name or path they are given
_NAMED_LOCKS = frozenset({"Lock", "lock", "Semaphore", "ReadLock", "WriteLock", "Lease", "lease", "RLock"})
_NAME_KEYWORDS = ("path", "name", "key", "lock_name", "lockname")

_ATTRIBUTES: "weakref.WeakKeyDictionary[ModuleBindings, Dict[str, Set[str]]]" = weakref.WeakKeyDictionary()


def out_of_process(m: ModuleBindings, value: Optional[ast.AST]) -> bool:
    """Whether `value` makes a lock that lives outside the process."""
    if not isinstance(value, ast.Call):
        return False
    qualified = m.qualify(value.func) or ""
    if qualified in INTERPROCESS_LOCKS:
        return True
    func = value.func
    if not isinstance(func, ast.Attribute) or func.attr not in _NAMED_LOCKS or qualified in LOCK_CTORS:
        return False
    named = value.args[0] if value.args else next((k.value for k in value.keywords if k.arg in _NAME_KEYWORDS), None)
    return isinstance(named, ast.JoinedStr) or (isinstance(named, ast.Constant) and isinstance(named.value, str))


def _attributes(m: ModuleBindings) -> Dict[str, Set[str]]:
    """Class -> the attributes its methods bind (`self.x = ...`) to a lock outside the process."""
    found = _ATTRIBUTES.get(m)
    if found is None:
        found = {}
        for name, cls in m.classes.items():
            for method in cls.body:
                if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not method.args.args:
                    continue
                self_name = method.args.args[0].arg
                for node in walk(method):
                    if isinstance(node, ast.Assign) and out_of_process(m, node.value):
                        for target in node.targets:
                            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                    and target.value.id == self_name:
                                found.setdefault(name, set()).add(target.attr)
        _ATTRIBUTES[m] = found
    return found


def out_of_process_attribute(m: ModuleBindings, owners: Tuple[str, ...], attr: str) -> bool:
    """Whether one of these classes binds `self.attr` to a lock outside the process."""
    attributes = _attributes(m)
    return any(attr in attributes.get(owner, ()) for owner in owners)
