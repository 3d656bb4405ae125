"""Declared lock discipline: `# guarded-by: _lock` comments and `Annotated[T, GuardedBy("_lock")]`.

A declaration sits on the assignment of a module global, of a class attribute in the class
body, or of `self.attr` in a method (usually `__init__`), and names the lock: `_lock` (or
`self._lock` / `cls._lock` / `ClassName._lock`) for the class's lock, or a module-level lock.
Every read or write of that state in a function, outside the named lock, is an access to
report (SST303).  Constructors (`__init__`, `__new__`, `__post_init__`) are not concurrent.

The lock is held over a statement when an enclosing `with` takes it, when an earlier statement
of the same block acquired it (`lock.acquire()`, until `lock.release()`), or when every caller
of a private helper holds it (the call graph's caller context).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Set, Tuple

from safestate_lint.engine.bindings import _CONSTRUCTORS
from safestate_lint.engine.facts import FunctionInfo, SharedKey
from safestate_lint.engine.syntax import child_nodes, dotted_name, iter_scope_nodes, split_statement

if TYPE_CHECKING:  # pragma: no cover
    from safestate_lint.engine.analysis import ModuleAnalysis

_COMMENT = re.compile(r"#\s*guarded[-_ ]by\s*:\s*([A-Za-z_][\w.]*)")
_WORDS = ("guarded-by", "guarded_by", "guarded by", "GuardedBy")


@dataclass
class Guard:
    """One declaration: the state, the lock as written, and the lock it resolves to."""

    key: SharedKey  # ("g", name) or ("c", class, attr): the state, by where it lives
    lock: str  # as written
    decl: ast.stmt
    lock_attr: Optional[str]  # the class's lock attribute (`_lock`), when it names one
    module_lock: Optional[str]  # the module-level lock, when it names one

    @property
    def resolved(self) -> bool:
        return self.lock_attr is not None or self.module_lock is not None

    def lock_expr(self, func: FunctionInfo) -> Optional[str]:
        """How `func` takes the lock: `self._lock`, `cls._lock`, `ClassName._lock` or `_lock`."""
        if self.module_lock is not None:
            return self.module_lock
        owner = func.self_param or func.cls_param or (self.key[1] if func.class_name else None)
        return f"{owner}.{self.lock_attr}" if owner else None

    def describe(self) -> str:
        return self.key[1] if self.key[0] == "g" else f"self.{self.key[2]}"


@dataclass
class Access:
    """A read or write of guarded state without its lock."""

    guard: Guard
    func: FunctionInfo
    stmt: ast.stmt
    node: ast.AST
    write: bool


def declarations(m: "ModuleAnalysis") -> List[Guard]:
    """Every guarded-by declaration of the module (none without the words in the text)."""
    text = m._text if m._text is not None else ("".join(m.lines) if m.lines is not None else None)
    if text is not None and not any(word in text for word in _WORDS):
        return []
    lines = text.splitlines() if text is not None else []  # without the text: annotations only
    found: List[Optional[Guard]] = []
    for stmt in m.tree.body:
        found.extend(_declared(m, lines, stmt, ("g", target), None) for target in _targets(stmt, None))
        if isinstance(stmt, ast.ClassDef):
            for inner in stmt.body:
                found.extend(_declared(m, lines, inner, ("c", stmt.name, target), stmt.name)
                             for target in _targets(inner, None))
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner.args.args:
                    self_name = inner.args.args[0].arg
                    for node in iter_scope_nodes(inner.body):
                        if isinstance(node, ast.stmt):
                            found.extend(_declared(m, lines, node, ("c", stmt.name, target), stmt.name)
                                         for target in _targets(node, self_name))
    return [guard for guard in found if guard is not None]


def _targets(stmt: ast.AST, self_name: Optional[str]) -> Iterator[str]:
    """The names an assignment binds: plain names, or `self.x` attributes with `self_name`."""
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign):
        targets = [stmt.target]
    else:
        return
    for target in targets:
        if self_name is None and isinstance(target, ast.Name):
            yield target.id
        elif self_name is not None and isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                and target.value.id == self_name:
            yield target.attr


def _declared(m: "ModuleAnalysis", lines: Sequence[str], stmt: ast.stmt, key: SharedKey,
              cls: Optional[str]) -> Optional[Guard]:
    """The declaration on this assignment, if any: its trailing comment, else its annotation."""
    names: List[str] = []
    for number in range(stmt.lineno, (getattr(stmt, "end_lineno", None) or stmt.lineno) + 1):
        match = _COMMENT.search(lines[number - 1]) if number - 1 < len(lines) else None
        if match:
            names.append(match.group(1))
            break
    if isinstance(stmt, ast.AnnAssign):
        names.extend(_annotated(stmt.annotation))
    if not names:
        return None
    lock = names[0]  # one lock per declaration; the comment wins over the annotation
    attr, module_lock = _resolve(m, lock, cls)
    return Guard(key, lock, stmt, attr, module_lock)


def _annotated(annotation: ast.expr) -> List[str]:
    """`Annotated[T, GuardedBy("_lock")]` -> ["_lock"]."""
    if not isinstance(annotation, ast.Subscript) or not (dotted_name(annotation.value) or "").endswith("Annotated"):
        return []
    elements = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else []
    return [e.args[0].value for e in elements
            if isinstance(e, ast.Call) and (dotted_name(e.func) or "").endswith("GuardedBy") and e.args
            and isinstance(e.args[0], ast.Constant) and isinstance(e.args[0].value, str)]


def _resolve(m: "ModuleAnalysis", lock: str, cls: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(the class's lock attribute, the module-level lock) the written name denotes."""
    head, _, attr = lock.rpartition(".")
    if cls is not None and (not head or head in ("self", "cls", cls)):
        found = m.lock_owner(cls, attr)
        if found is not None and not found[1].async_lock:
            return attr, None
    binding = m.bindings.get(lock)
    if not head and binding is not None and binding.kind == "lock" and not binding.async_lock:
        return None, lock
    return None, None


def unguarded(m: "ModuleAnalysis", guards: List[Guard]) -> List[Access]:
    """The accesses of declared state made without its lock, once per statement and state."""
    usable = [g for g in guards if g.resolved]
    if not usable:
        return []
    found: List[Access] = []
    for info in m.functions:
        if info.import_time or info.name in _CONSTRUCTORS:
            continue
        mine = [g for g in usable if g.key[0] == "g" or info.class_name == g.key[1]]
        if not mine:
            continue
        info.ensure_scope()
        held = {(r.ident or r.name) for r in info.held}
        _walk(m, info, info.node.body, frozenset(held), mine, found, set())
    return found


def _walk(m: "ModuleAnalysis", info: FunctionInfo, body: Sequence[ast.stmt], held: frozenset,
          guards: List[Guard], found: List[Access], seen: Set[Tuple[int, SharedKey]]) -> None:
    acquired: Set[str] = set()
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        now = held | acquired
        released = _lock_call(stmt, "release")
        if released is not None:
            acquired.discard(released)
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            taken = {_normal(dotted_name(item.context_expr)) for item in stmt.items} - {None}
            _report(m, info, stmt, [item.context_expr for item in stmt.items], now, guards, found, seen)
            _walk(m, info, stmt.body, now | frozenset(taken), guards, found, seen)  # type: ignore[operator]
        else:
            headers, blocks = split_statement(stmt)
            _report(m, info, stmt, headers, now, guards, found, seen)
            for block in blocks:
                _walk(m, info, block, now, guards, found, seen)
        taken_here = _lock_call(stmt, "acquire")
        if taken_here is not None:
            acquired.add(taken_here)


def _lock_call(stmt: ast.stmt, method: str) -> Optional[str]:
    """`X.acquire()` / `X.release()` as a statement: the lock's normalised name."""
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute) \
            and stmt.value.func.attr == method:
        return _normal(dotted_name(stmt.value.func.value))
    return None


def _normal(name: Optional[str]) -> Optional[str]:
    """`self._lock` / `cls._lock` / `C._lock` -> `._lock`; a module lock stays `_lock`."""
    if name is None:
        return None
    head, _, attr = name.rpartition(".")
    return f".{attr}" if head else name


def _holds(guard: Guard, held: frozenset) -> bool:
    if guard.module_lock is not None:
        return guard.module_lock in held
    wanted = f".{guard.lock_attr}"
    return wanted in held or any(h.endswith(wanted) and "." in h for h in held)  # caller context: `C._lock`


def _report(m: "ModuleAnalysis", info: FunctionInfo, stmt: ast.stmt, nodes: Sequence[ast.AST], held: frozenset,
            guards: List[Guard], found: List[Access], seen: Set[Tuple[int, SharedKey]]) -> None:
    for guard in guards:
        if _holds(guard, held) or (id(stmt), guard.key) in seen:
            continue
        for root in nodes:
            node = next((n for n in _expression_nodes(root) if _denotes(n, guard, info)), None)
            if node is not None:
                seen.add((id(stmt), guard.key))
                write = isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)) or _mutated(stmt, node)
                found.append(Access(guard, info, stmt, node, write))
                break


def _expression_nodes(root: ast.AST) -> Iterator[ast.AST]:
    """The nodes of an expression or statement header, comprehensions included (they run here,
    now), lambdas and nested definitions not (they run later, under whatever lock is held then)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(child_nodes(node))


def _denotes(node: ast.AST, guard: Guard, info: FunctionInfo) -> bool:
    if guard.key[0] == "g":
        return isinstance(node, ast.Name) and node.id == guard.key[1] and \
            (node.id not in info.locals or node.id in info.globals_declared)
    if not isinstance(node, ast.Attribute) or node.attr != guard.key[2] or not isinstance(node.value, ast.Name):
        return False
    return node.value.id in (info.self_param, info.cls_param, guard.key[1]) and node.value.id is not None


def _mutated(stmt: ast.stmt, node: ast.AST) -> bool:
    """`X[k] = v`, `X.append(v)`, `X += ...`: the statement changes the state it reaches."""
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = stmt.targets if isinstance(stmt, (ast.Assign, ast.Delete)) else [stmt.target]
        return any(node in list(ast.walk(t)) for t in targets)
    return False
