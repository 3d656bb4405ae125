"""Which lock an expression denotes: the part of the per-function walk (:mod:`.walker`) that
resolves `with` items and `acquire()` targets to a :class:`LockRegion` (module locks, a class's
own locks, the runtime's containers, configured `lock-names`), and tells a lock made anew on
every call (SST401) and a lock outside the process (:mod:`.interprocess`) from one that
excludes this process's threads.
"""

from __future__ import annotations

import ast
from typing import Dict, Optional

from safestate_lint.engine.bindings import LOCK_CTORS, LOCK_METHODS, ModuleBindings
from safestate_lint.engine.facts import FunctionInfo, LockRegion
from safestate_lint.engine.interprocess import out_of_process, out_of_process_attribute
from safestate_lint.engine.syntax import dotted_name, iter_scope_nodes, parent_map, walk

__all__ = ["LockResolver"]


class LockResolver:
    """Lock resolution for one function; :class:`~.walker.FunctionWalker` builds on it."""

    m: ModuleBindings
    info: FunctionInfo
    local_locks: Dict[str, bool]  # locals bound to a lock made in the function (async or not)
    local_aliases: Dict[str, LockRegion]  # `lock = self._lock`
    _parent_map: Optional[Dict[int, ast.AST]]
    _local_made: Optional[Dict[str, bool]]

    def class_of(self, node: ast.AST) -> Optional[str]:
        raise NotImplementedError  # pragma: no cover - the walker resolves classes

    def instance_of(self, node: ast.AST) -> Optional[str]:
        raise NotImplementedError  # pragma: no cover - the walker resolves instances

    # ---- locks ----------------------------------------------------------------------------
    def per_call_lock(self, expr: ast.AST) -> Optional[str]:
        """How a lock is made anew on every call, so it excludes no other caller:
        `with threading.Lock():`, or a local lock that never leaves the function."""
        if isinstance(expr, ast.Call) and self.m.qualify(expr.func) in LOCK_CTORS:
            return f"'{dotted_name(expr.func)}()' is created in the `with` itself"
        if isinstance(expr, ast.Name) and expr.id in self._made_locks() and self._stays_local(expr.id):
            return f"'{expr.id}' is a local lock created on every call of '{self.info.qualname}()'"
        return None

    def _made_locks(self) -> Dict[str, bool]:
        """Locals bound to a new lock in this function (`lock = threading.Lock()`)."""
        if self._local_made is None:
            self._local_made = {}
            for node in iter_scope_nodes(self.info.node.body):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                        and node.targets[0].id in self.info.locals and isinstance(node.value, ast.Call):
                    qualified = self.m.qualify(node.value.func)
                    if qualified in LOCK_CTORS:
                        self._local_made[node.targets[0].id] = LOCK_CTORS[qualified]
        return self._local_made

    def _stays_local(self, name: str) -> bool:
        """Every use of local `name` takes, releases or tests it (nothing stores or passes it on,
        and no nested function or lambda, which another thread may run, uses it)."""
        for inner in walk(self.info.node):
            if inner is not self.info.node and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                    and any(isinstance(n, ast.Name) and n.id == name for n in walk(inner)):
                return False
        for node in iter_scope_nodes(self.info.node.body):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
                parent = self._parents.get(id(node))
                if isinstance(parent, ast.withitem):
                    continue
                if isinstance(parent, ast.Attribute) and parent.attr in ("acquire", "release", "locked"):
                    continue
                return False
        return True

    @property
    def _parents(self) -> Dict[int, ast.AST]:
        if self._parent_map is None:
            self._parent_map = parent_map(self.info.node)
        return self._parent_map

    def lock_of(self, expr: ast.AST) -> Optional[LockRegion]:
        """The lock a `with` item / `acquire()` target holds, if it is one (a lock made anew on
        every call is none: SST401)."""
        if self.per_call_lock(expr) is not None:
            return None
        if isinstance(expr, ast.Call):
            if out_of_process(self.m, expr):
                return None  # `with zk.Lock("/path"):`, `with FileLock(path):`: it excludes other processes
            func = expr.func
            if isinstance(func, ast.Attribute) and func.attr in LOCK_METHODS:
                return self.lock_of(func.value)
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and self.info.class_name \
                    and func.value.id == self.info.self_param and not expr.args and not expr.keywords:
                held = self.m.lock_context(self.info.class_name, func.attr)  # `with self._locked():`
                if held is not None:
                    return self.lock_of(ast.Attribute(value=func.value, attr=held, ctx=ast.Load()))
            name = dotted_name(func)
            if name is not None and self.m.matches_lock_name(name.rsplit(".", 1)[-1]):
                return LockRegion(0, name)
            return None
        if isinstance(expr, ast.Subscript):
            inner = self.lock_of(expr.value)
            if inner is not None:
                return inner
            name = dotted_name(expr.value)
            if name is not None and name.rsplit(".", 1)[-1].rstrip("s") and \
                    self.m.matches_lock_name(name.rsplit(".", 1)[-1].rstrip("s")):
                return LockRegion(0, name)
            return None
        name = dotted_name(expr)
        if name is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if isinstance(expr, ast.Name):
            if expr.id in self.local_aliases:  # `lock = _lock` / `lock = self._lock`
                return self.local_aliases[expr.id]
            if expr.id in self.local_locks:
                return LockRegion(0, name, self.local_locks[expr.id], ident=f"{self.info.qualname}:{name}")
            binding = self.m.bindings.get(expr.id)
            if binding is not None and binding.kind == "lock" and expr.id not in self.info.locals:
                return LockRegion(0, name, binding.async_lock, ident=name, reentrant=binding.reentrant)
            if binding is not None and expr.id not in self.info.locals \
                    and out_of_process(self.m, getattr(binding.node, "value", None)):
                return None
        elif isinstance(expr, ast.Attribute):
            owner = self.class_of(expr.value) or self.instance_of(expr.value)
            found = self.m.lock_owner(owner, expr.attr) if owner is not None else None
            if found is not None:
                definer, binding = found
                return LockRegion(0, name, binding.async_lock, ident=f"{definer}.{expr.attr}",
                                  reentrant=binding.reentrant)
            if isinstance(expr.value, ast.Name) and expr.attr == "lock":
                binding = self.m.bindings.get(expr.value.id)
                if binding is not None and binding.kind == "locked":
                    return LockRegion(0, name, ident=name, reentrant=True)  # the runtime's containers hold an RLock
            if owner is not None and out_of_process_attribute(self.m, (owner, *self.m.bases(owner)), expr.attr):
                return None  # `self._zk_lock = client.Lock("/path")`: it excludes other processes
            if owner is not None and self.m.matches_lock_name(last):
                return LockRegion(0, name, ident=f"{owner}.{expr.attr}")
        if self.m.matches_lock_name(last):
            return LockRegion(0, name, ident=name)
        return None
