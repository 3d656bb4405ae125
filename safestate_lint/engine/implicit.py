"""Calls the code never spells out: a property read, the dunder an operation runs, a function
passed as a value, a subclass's override. The fixers follow them before they hold a lock around
code (a fix must not deadlock through `key in self` or a key function); findings do not (an
over-approximation by name would invent lock-order inversions)."""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Sequence, Set, Tuple

from safestate_lint.engine.bindings import _CONSTRUCTORS, ModuleBindings
from safestate_lint.engine.facts import FunctionInfo
from safestate_lint.engine.syntax import dotted_name, iter_scope_nodes, walk
from safestate_lint.engine.walker import FunctionWalker

__all__ = ["ImplicitCalls"]

_COMPARE_DUNDERS = {
    ast.In: ("__contains__", "__iter__", "__eq__", "__hash__"), ast.NotIn: ("__contains__", "__iter__", "__eq__", "__hash__"),
    ast.Eq: ("__eq__",), ast.NotEq: ("__ne__", "__eq__"), ast.Lt: ("__lt__", "__gt__"), ast.Gt: ("__gt__", "__lt__"),
    ast.LtE: ("__le__", "__ge__"), ast.GtE: ("__ge__", "__le__"),
}
_BINOP_DUNDERS = {
    ast.Add: ("__add__", "__radd__"), ast.Sub: ("__sub__", "__rsub__"), ast.Mult: ("__mul__", "__rmul__"),
    ast.Div: ("__truediv__",), ast.Mod: ("__mod__",), ast.BitOr: ("__or__", "__ror__"),
    ast.BitAnd: ("__and__", "__rand__"),
}
_ORDERING = ("__lt__", "__gt__", "__le__", "__ge__", "__eq__")
_ITERATING = ("__iter__", "__next__", "__len__")
_CALL_DUNDERS: Dict[str, Tuple[str, ...]] = {
    "len": ("__len__",), "repr": ("__repr__",), "str": ("__str__", "__repr__"), "format": ("__format__", "__str__"),
    "print": ("__str__", "__repr__"), "hash": ("__hash__",), "bool": ("__bool__", "__len__"),
    "iter": _ITERATING, "next": ("__next__",), "list": _ITERATING, "tuple": _ITERATING, "set": _ITERATING + ("__hash__",),
    "frozenset": _ITERATING + ("__hash__",), "dict": _ITERATING, "sum": _ITERATING + ("__add__", "__radd__"),
    "any": _ITERATING + ("__bool__",), "all": _ITERATING + ("__bool__",), "enumerate": _ITERATING, "zip": _ITERATING,
    "sorted": _ITERATING + _ORDERING, "min": _ITERATING + _ORDERING, "max": _ITERATING + _ORDERING,
    "sort": _ORDERING, "index": ("__eq__",), "remove": ("__eq__",), "count": ("__eq__",),
    "heappush": _ORDERING, "heappop": _ORDERING, "insort": _ORDERING, "bisect": _ORDERING,
    "get": ("__hash__", "__eq__"), "setdefault": ("__hash__", "__eq__"), "pop": ("__hash__", "__eq__"),
    "add": ("__hash__", "__eq__"), "discard": ("__hash__", "__eq__"), "join": _ITERATING + ("__str__",),
}



class ImplicitCalls:
    """The module's functions a list of statements runs implicitly (see `callees`)."""

    def __init__(self, m: ModuleBindings) -> None:
        self.m = m
        self._implicit_names: Optional[Dict[str, List[FunctionInfo]]] = None

    def callees(self, w: FunctionWalker, stmts: Sequence[ast.AST]) -> List[FunctionInfo]:
        """The module's functions these statements run without naming a call: a property read
        or set (`self.size`), a dunder an operation runs (`key in self`, `len(x)`, `f"{x!r}"`,
        iteration, comparisons while sorting, hashing a key), a function or class passed as a
        value (`sorted(key=f)`, `map(Node, ...)`, `wait_for(self.ready)`: its callee may call it
        now), and the subclass overrides a `self.m()` call can dispatch to. An over-approximation
        by name within the module: enough for the fixers' re-entry and lock-order checks."""
        index = self._implicit_index()
        names: Set[str] = set()
        found: List[FunctionInfo] = []
        for node in iter_scope_nodes(stmts):
            if isinstance(node, ast.Attribute):
                names.add(f"property:{node.attr}")
            elif isinstance(node, ast.Compare):
                for op in node.ops:
                    names.update(_COMPARE_DUNDERS.get(type(op), ()))
            elif isinstance(node, (ast.For, ast.comprehension)):
                names.update(("__iter__", "__next__"))
            elif isinstance(node, ast.Subscript):
                names.update(("__getitem__", "__setitem__", "__delitem__", "__hash__", "__eq__"))
            elif isinstance(node, ast.FormattedValue):
                names.update(("__repr__",) if node.conversion == ord("r") else ("__str__", "__format__", "__repr__"))
            elif isinstance(node, (ast.If, ast.While, ast.BoolOp, ast.UnaryOp, ast.IfExp, ast.Assert)):
                names.update(("__bool__", "__len__"))
            elif isinstance(node, ast.BinOp):
                names.update(_BINOP_DUNDERS.get(type(node.op), ()))
            elif isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else \
                    node.func.attr if isinstance(node.func, ast.Attribute) else ""
                names.update(_CALL_DUNDERS.get(called, ()))
                for value in [*node.args, *(k.value for k in node.keywords)]:
                    found.extend(self._passed(w, value))
                callee = w.callee(node)
                if callee is not None and callee.class_name is not None and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == w.info.self_param:
                    for sub in self.m.overrides(callee.class_name, callee.name):
                        override = self.m.function_index.get((sub, callee.name))
                        if override is not None:
                            found.append(override)
        for name in names:
            found.extend(index.get(name, ()))
        return found

    def _passed(self, w: FunctionWalker, value: ast.AST) -> List[FunctionInfo]:
        """A module function, method or class passed as a value (a key function, a callback)."""
        if isinstance(value, ast.Lambda):  # what its body calls, spelled out or not
            return [c for node in walk(value.body) if isinstance(node, ast.Call)
                    for c in [w.callee(node)] if c is not None] + self.callees(w, [value.body])
        if isinstance(value, ast.Name):
            if value.id in self.m.classes and value.id not in w.info.locals:
                init = self.m.function_index.get((value.id, "__init__"))
                return [init] if init is not None else []
            binding = self.m.bindings.get(value.id)
            if binding is not None and binding.kind == "function" and value.id not in w.info.locals:
                info = self.m.function_index.get((None, value.id))
                return [info] if info is not None else []
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) \
                and value.value.id == w.info.self_param and w.info.class_name is not None:
            for owner in [w.info.class_name, *self.m.bases(w.info.class_name)]:
                info = self.m.function_index.get((owner, value.attr))
                if info is not None:
                    return [info]
        return []

    def _implicit_index(self) -> Dict[str, List[FunctionInfo]]:
        """The module's dunder methods by name, and its properties as `property:<name>`."""
        if self._implicit_names is None:
            self._implicit_names = {}
            for info in self.m.functions:
                if info.class_name is None:
                    continue
                name = info.name
                if name.startswith("__") and name.endswith("__") and name not in _CONSTRUCTORS:
                    self._implicit_names.setdefault(name, []).append(info)
                for decorator in info.node.decorator_list:
                    written = dotted_name(decorator) or ""
                    if written in ("property", "functools.cached_property", "cached_property") \
                            or written.endswith((".setter", ".deleter", ".getter")):
                        self._implicit_names.setdefault(f"property:{name}", []).append(info)
        return self._implicit_names
