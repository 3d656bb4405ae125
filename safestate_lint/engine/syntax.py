"""Small questions about Python syntax trees, shared by every pass."""

from __future__ import annotations

import ast
import re
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

def dotted_name(node: ast.AST) -> Optional[str]:
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def terminates(body: Sequence[ast.stmt]) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))


_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _target_names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _target_names(elt)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


# fields that never hold a node the analysis looks at: names, flags, and the context and
# operator singletons (`Load()`, `Add()`), which every Name and BinOp would otherwise yield
_LEAF_FIELDS = frozenset({"ctx", "op", "ops", "id", "attr", "arg", "kind", "type_comment", "name", "names",
                          "module", "level", "conversion", "is_async", "simple", "asname", "tag", "type_ignores",
                          "kwd_attrs"})
_MAY_HOLD_NONE = frozenset({"keys", "kw_defaults"})  # `{**d}` has a None key; `*, a` a None default
_CHILD_FIELDS: Dict[type, Tuple[Tuple[str, bool], ...]] = {}


def child_nodes(node: ast.AST) -> List[ast.AST]:
    """`ast.iter_child_nodes` without the leaf fields above (a few times faster on a big tree).
    `Global`/`Nonlocal`/`Import` names are strings or aliases and are read from the statement."""
    kind = type(node)
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        fields = _CHILD_FIELDS[kind] = tuple(
            (f, f in _MAY_HOLD_NONE) for f in kind._fields
            if f not in _LEAF_FIELDS and not (kind.__name__ in ("Constant", "MatchSingleton") and f == "value"))
    out: List[ast.AST] = []
    for name, may_hold_none in fields:
        value = getattr(node, name, None)
        if value.__class__ is list:
            out.extend([item for item in value if item is not None] if may_hold_none else value)
        elif isinstance(value, ast.AST):
            out.append(value)
    return out


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk` over `child_nodes` (depth first: callers must not depend on the order)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child_nodes(current))


def parent_map(root: ast.AST) -> Dict[int, ast.AST]:
    """id(node) -> its parent, for every node under `root`."""
    return {id(child): parent for parent in walk(root) for child in child_nodes(parent)}


def iter_scope_nodes(body: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node of a function body, not descending into nested scopes (their defaults and
    decorators, which run in this scope, are included)."""
    stack: List[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(node.decorator_list)
            stack.extend(node.args.defaults)
            stack.extend(d for d in node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend(node.decorator_list)
            stack.extend(node.bases)
            continue
        if isinstance(node, ast.Lambda):
            stack.extend(node.args.defaults)
            continue
        if isinstance(node, COMPREHENSIONS):
            # walrus targets in comprehensions bind in this scope; the rest is the comprehension's own
            stack.append(node.generators[0].iter)
            continue
        stack.extend(child_nodes(node))



def _is_main_guard(stmt: ast.stmt) -> bool:
    """`if __name__ == "__main__":`"""
    test = getattr(stmt, "test", None)
    return isinstance(stmt, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) \
        and test.left.id == "__name__" and len(test.comparators) == 1 \
        and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__"


def _header_nodes(stmt: ast.stmt) -> List[ast.AST]:
    nodes: List[ast.AST] = []
    for name in ("test", "iter"):
        value = getattr(stmt, name, None)
        if value is not None:
            nodes.extend(walk(value))
    for item in getattr(stmt, "items", []) or []:
        nodes.extend(walk(item.context_expr))
    return nodes


def _iter_defs(body: Sequence[ast.stmt]) -> Iterator[Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]]:
    """Function and class definitions in a block, looking into compound statements but not into defs."""
    stack: List[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
            continue
        if isinstance(node, ast.stmt):
            children = [c for c in child_nodes(node) if isinstance(c, (ast.stmt, ast.excepthandler, ast.match_case))] \
                if hasattr(ast, "match_case") else [c for c in child_nodes(node) if isinstance(c, (ast.stmt, ast.excepthandler))]
            stack.extend(reversed(children))
        elif isinstance(node, ast.excepthandler) or type(node).__name__ == "match_case":
            stack.extend(reversed(node.body))  # type: ignore[attr-defined]


def collect_scope(info: Any) -> None:
    args = info.node.args
    params = args.posonlyargs + args.args + args.kwonlyargs
    names = {a.arg for a in params}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    nonlocal_names: Set[str] = set()
    if not getattr(info, "walrus", True):
        _statement_scope(info.node.body, names, info.globals_declared, nonlocal_names)
        info.locals = (names - info.globals_declared) | nonlocal_names
        info.nonlocals_declared = nonlocal_names
        return
    for node in iter_scope_nodes(info.node.body):
        if isinstance(node, ast.Global):
            info.globals_declared.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            nonlocal_names.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif type(node).__name__ in ("MatchAs", "MatchStar") and getattr(node, "name", None):
            names.add(node.name)  # type: ignore[attr-defined]
        elif type(node).__name__ == "MatchMapping" and getattr(node, "rest", None):
            names.add(node.rest)  # type: ignore[attr-defined]
    info.locals = (names - info.globals_declared) | nonlocal_names
    info.nonlocals_declared = nonlocal_names



_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statement_scope(body: Sequence[ast.stmt], names: Set[str], declared: Set[str], nonlocal_names: Set[str]) -> None:
    """`collect_scope` for code without `:=`: only statements and their targets bind names, so
    expressions (most of a function) are never walked. Gives exactly the full walk's result."""
    stack: List[Any] = list(body)
    while stack:
        node = stack.pop()
        kind = type(node)
        targets: List[Any] = []
        if kind is ast.Assign or kind is ast.Delete:
            targets = node.targets
        elif kind is ast.AugAssign or kind is ast.AnnAssign or kind is ast.For or kind is ast.AsyncFor:
            targets = [node.target]
        elif kind is ast.With or kind is ast.AsyncWith:
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        elif kind is ast.Global:
            declared.update(node.names)
        elif kind is ast.Nonlocal:
            nonlocal_names.update(node.names)
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.ClassDef:
            names.add(node.name)
            continue
        elif kind is ast.Import or kind is ast.ImportFrom:
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif kind is ast.ExceptHandler:
            if node.name:
                names.add(node.name)
        elif kind.__name__ == "match_case":
            for pattern in walk(node.pattern):
                if type(pattern).__name__ in ("MatchAs", "MatchStar") and getattr(pattern, "name", None):
                    names.add(pattern.name)  # type: ignore[attr-defined]
                elif type(pattern).__name__ == "MatchMapping" and getattr(pattern, "rest", None):
                    names.add(pattern.rest)  # type: ignore[attr-defined]
        elif kind.__name__ == "TypeAlias":
            names.add(node.name.id)
        for target in targets:
            names.update(_target_names(target))  # `a[i] = ...` and `o.x = ...` bind nothing
        for name in _BLOCK_FIELDS:
            block = getattr(node, name, None)
            if block:
                stack.extend(block)


def _is_reset(stmt: ast.stmt) -> bool:
    """`x = None` / `x = False` / `x = 0`: clearing a value, not creating one."""
    value = getattr(stmt, "value", None)
    return isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Constant) \
        and value.value in (None, False, 0)


def _value_locals(value: Optional[ast.AST]) -> Iterator[str]:
    if value is None:
        return
    for node in walk(value):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield node.id


def _call_target(stmt: ast.stmt, method: str) -> Optional[ast.AST]:
    """`X` for a statement `X.<method>(...)`, `v = X.<method>(...)` or `if [not] X.<method>(...):`."""
    expr: Optional[ast.AST] = None
    if isinstance(stmt, ast.Expr):
        expr = stmt.value
    elif isinstance(stmt, ast.Assign):
        expr = stmt.value
    elif isinstance(stmt, ast.If) and method == "acquire":
        expr = stmt.test.operand if isinstance(stmt.test, ast.UnaryOp) else stmt.test
    if isinstance(expr, ast.Await):
        expr = expr.value
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == method:
        return expr.func.value
    return None


def _acquire_target(stmt: ast.stmt) -> Optional[ast.AST]:
    return _call_target(stmt, "acquire")


def _release_target(stmt: ast.stmt) -> Optional[ast.AST]:
    return _call_target(stmt, "release")


def char_col(lines: Optional[Sequence[str]], lineno: int, byte_col: int) -> int:
    """ast gives UTF-8 byte offsets; findings use 1-based character columns."""
    if lines is None or byte_col == 0 or not (0 < lineno <= len(lines)):
        return byte_col + 1
    line = lines[lineno - 1]
    if line.isascii():
        return byte_col + 1
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace")) + 1


def inside(node: ast.AST, container: ast.AST) -> bool:
    """Whether `node` is `container` or lies within it."""
    return any(child is node for child in walk(container))


def ast_block_of(func: ast.AST, stmt: ast.stmt) -> Optional[List[ast.stmt]]:
    """The statement list of `func` (at any depth) that holds `stmt`."""
    stack = [func]
    while stack:
        node = stack.pop()
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            value = getattr(node, name, None)
            if isinstance(value, list):
                if stmt in value:
                    return value
                stack.extend(v for v in value if isinstance(v, ast.AST))
    return None


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def physical_lines(source: str) -> List[str]:
    """The source's lines as Python numbers them, ends kept: split at `\\n`, `\\r\\n` and `\\r`
    only (`str.splitlines` also splits at form feeds, U+2028 and other characters that do not
    end a line in Python, which would shift every line number after them)."""
    return _LINE.findall(source)


def split_statement(stmt: ast.stmt) -> Tuple[List[ast.AST], List[List[ast.stmt]]]:
    """A statement's own expressions (a test, an iterable, targets: they run here) and its
    blocks (bodies, handlers' bodies, match cases' bodies)."""
    headers: List[ast.AST] = []
    blocks: List[List[ast.stmt]] = []
    for _, value in ast.iter_fields(stmt):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            blocks.append(value)
        elif isinstance(value, list) and value and isinstance(value[0], ast.excepthandler):
            blocks.extend(h.body for h in value)  # type: ignore[attr-defined]
        elif isinstance(value, list) and value and type(value[0]).__name__ == "match_case":
            blocks.extend(c.body for c in value)
        elif isinstance(value, ast.AST):
            headers.append(value)
        elif isinstance(value, list):
            headers.extend(v for v in value if isinstance(v, ast.AST))
    return headers, blocks


def is_super_call(node: ast.AST) -> bool:
    """`super()` (or `super(C, self)`)."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
