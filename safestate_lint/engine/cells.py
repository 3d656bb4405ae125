"""Closure cells that every thread shares.

A decorator's local (`def once(f): done = False; def wrapper(*a): nonlocal done ...`) lives
in one cell per decorated function, and every call of the decorated function, from any
thread, reads and rebinds that cell: it is shared state exactly as a module global is. A
closure the enclosing function only calls itself (`def outer(): n = 0; def inner(): nonlocal
n; n += 1; inner()`) stays private to that call.

The key of a shared cell is `("n", <qualname of the function that owns it>, <name>)`.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Optional, Set

from safestate_lint.engine.facts import FunctionInfo, SharedKey
from safestate_lint.engine.syntax import dotted_name, iter_scope_nodes, walk

if TYPE_CHECKING:  # pragma: no cover
    from safestate_lint.engine.bindings import ModuleBindings

__all__ = ["shared_cell"]


def shared_cell(m: "ModuleBindings", info: FunctionInfo, name: str) -> Optional[SharedKey]:
    """The key of the cell `nonlocal name` in `info` rebinds, when the function that owns the
    cell hands the closure out as a decorator's wrapper (None otherwise)."""
    chain = [info] + info.parents[::-1]  # innermost first
    for inner, outer in zip(chain, chain[1:]):
        outer.ensure_scope()
        if name in outer.nonlocals_declared:
            continue  # declared nonlocal again: the cell belongs further out
        if name not in outer.locals:
            return None
        return ("n", outer.qualname, name) if _hands_out_wrapper(m, outer, inner) else None
    return None


def _hands_out_wrapper(m: "ModuleBindings", outer: FunctionInfo, inner: FunctionInfo) -> bool:
    """`outer` returns `inner` (as is, or through `functools.wraps`), and it is a decorator:
    the module applies it (`@outer`), or `inner` calls `outer`'s first parameter (the function
    it wraps). A factory whose inner function calls another parameter (`actor_class(fn)` in a
    `def decorator(fn)` that `actor(fn=None, *, actor_class=Actor)` returns) hands out the
    decorator itself, which runs once per decorated function, not a wrapper."""
    returned = any(isinstance(node, ast.Return) and node.value is not None
                   and any(isinstance(n, ast.Name) and n.id == inner.name for n in walk(node.value))
                   for node in iter_scope_nodes(outer.node.body))
    if not returned:
        return False
    if outer.name in _decorator_names(m):
        return True
    positional = [a.arg for a in outer.node.args.posonlyargs + outer.node.args.args]
    if outer.class_name is not None and outer.method_kind != "staticmethod":
        positional = positional[1:]  # `self`/`cls`
    if not positional:
        return False
    wrapped = positional[0]
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == wrapped
               and wrapped not in inner.locals for node in iter_scope_nodes(inner.node.body))


def _decorator_names(m: "ModuleBindings") -> Set[str]:
    """The names the module uses as bare decorators (`@once`, `@mod.once` -> "once")."""
    found: Optional[Set[str]] = getattr(m, "_decorator_names", None)
    if found is None:
        found = set()
        for node in walk(m.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                for decorator in node.decorator_list:
                    written = dotted_name(decorator)
                    if written is not None:
                        found.add(written.rsplit(".", 1)[-1])
        setattr(m, "_decorator_names", found)
    return found
