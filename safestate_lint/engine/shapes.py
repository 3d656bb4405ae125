"""Shapes that span several statements: what a fix must keep together, and what a half-fix
leaves racing. Rules report them; fixers read the same shapes to rewrite them.

- the check-then-act span: the statements from a test to the act it decides, in one block
  (an early exit, `if k in d: raise`, guards everything after it);
- a stale read: a global read again after the lock that updated it was released
  (`with lock: n += 1` then `return n`);
- an early publish: a lazy initialisation that binds the shared name first and finishes
  building the object after (`_m = Manager(); _m.validate()`), so another thread can use
  it half-built;
- an early flag: a flag raised before the value it announces is stored (`_ready = True`
  then `_value = compute()`), while another function tests the flag and reads the value.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

from safestate_lint.engine.facts import BEFORE_SHARING, Act, FunctionInfo, SharedKey
from safestate_lint.engine.syntax import ast_block_of, dotted_name, inside, terminates

if TYPE_CHECKING:  # pragma: no cover
    from safestate_lint.engine.analysis import ModuleAnalysis

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk` that does not enter nested functions, lambdas or classes."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child for child in ast.iter_child_nodes(current) if not isinstance(child, _SCOPES))


def index_holding(block: List[ast.stmt], node: ast.AST, start: int = 0) -> Optional[int]:
    """The index of the statement of `block` (from `start`) that is or contains `node`."""
    for i in range(start, len(block)):
        if block[i] is node or inside(node, block[i]):
            return i
    return None


def check_then_act_span(act: Act, origin: Optional[ast.stmt] = None) -> Optional[List[ast.stmt]]:
    """The statements from the check's origin (or `origin`: where the value was read) through
    the statement holding the act, when both are in one block: what one lock must cover."""
    origin = origin or (act.check.origin if act.check is not None else None)
    if origin is None:
        return None
    block = ast_block_of(act.func.node, origin)
    if block is None:
        return None
    start = block.index(origin)
    end = index_holding(block, act.stmt, start)
    return None if end is None else block[start:end + 1]


def uses_of(act: Act, node: ast.AST) -> List[ast.expr]:
    """The expressions in `node` (outside nested scopes) that denote the act's shared name:
    `X` for a global, `cls.X` / `self.X` / `C.X` for a class attribute."""
    key, func = act.key, act.func
    found: List[ast.expr] = []
    for sub in walk_scope(node):
        if key[0] == "g" and isinstance(sub, ast.Name) and sub.id == key[1]:
            found.append(sub)
        elif key[0] == "c" and isinstance(sub, ast.Attribute) and sub.attr == key[2] \
                and isinstance(sub.value, ast.Name) \
                and sub.value.id in {key[1], func.cls_param, func.self_param} - {None}:
            found.append(sub)
    return found


def _stores(act: Act, node: ast.AST) -> bool:
    return any(isinstance(getattr(use, "ctx", None), (ast.Store, ast.Del)) for use in uses_of(act, node))


@dataclass
class StaleRead:
    """`with lock: n += 1` then `return n`: the later reads may see another thread's update."""

    act: Act  # the locked read-modify-write
    region: ast.With  # the lock's `with`
    block: List[ast.stmt]  # the block holding the `with`
    reads: List[ast.Name]  # the reads after it, before the name is bound again


def stale_reads(m: "ModuleAnalysis") -> List[StaleRead]:
    found: Dict[Tuple[int, SharedKey], StaleRead] = {}
    for act in m.acts:
        if act.key[0] != "g" or act.kind != "rebind" or not act.reads_self or act.via is not None:
            continue
        regions = [r for r in act.locks if isinstance(r.node, ast.With) and m.thread_capable(r)]
        if not regions or (id(regions[-1].node), act.key) in found:
            continue
        region = regions[-1].node
        assert isinstance(region, ast.With)
        block = ast_block_of(act.func.node, region)
        if block is None:
            continue
        reads: List[ast.Name] = []
        for stmt in block[block.index(region) + 1:]:
            if _stores(act, stmt) or any(isinstance(n, (ast.Global, ast.Nonlocal)) for n in walk_scope(stmt)):
                break
            relocked = [w for w in walk_scope(stmt) if isinstance(w, ast.With)
                        and any(ast.dump(a.context_expr) == ast.dump(b.context_expr)
                                for a in w.items for b in region.items)]
            reads.extend(use for use in uses_of(act, stmt) if isinstance(use, ast.Name)  # type: ignore[misc]
                         and not any(inside(use, w) for w in relocked))
        if reads:
            found[(id(region), act.key)] = StaleRead(act, region, block, reads)
    return list(found.values())


@dataclass
class EarlyPublish:
    """`_m = Manager(); _m.validate()` in a lazy initialisation: bound before it is ready."""

    act: Act  # the binding of the shared name
    block: List[ast.stmt]
    start: int  # index of the binding in `block`
    end: int  # index of the last statement that still works on the object
    ends_in_return: bool  # block[end] is `return ...`: publish before it


def early_publish(act: Act) -> Optional[EarlyPublish]:
    check = act.check
    if act.kind != "rebind" or check is None or act.key not in check.lazy_keys or act.key[0] not in ("g", "c"):
        return None
    stmt = act.stmt
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or uses_of(act, stmt.value):
        return None
    block = ast_block_of(act.func.node, stmt)
    if block is None:
        return None
    start = block.index(stmt)
    end = None
    for j in range(start + 1, len(block)):
        if _stores(act, block[j]):
            return None
        if uses_of(act, block[j]):
            end = j
    if end is None:
        return None
    last = block[end]
    if end == start + 1 and isinstance(last, ast.Return) and last.value is not None \
            and uses_of(act, last) and last.value is uses_of(act, last)[0]:
        return None  # `_m = Manager(); return _m`: nothing happens to it after it is published
    return EarlyPublish(act, block, start, end, isinstance(last, ast.Return))


_IMPORT_CALLS = frozenset({"import_module", "reload", "__import__"})


def reimport_after_delete(act: Act) -> Optional[ast.AST]:
    """`del sys.modules[name]` (or `sys.modules.pop(name)`) and, later in the same function, an
    import (`import x`, `importlib.import_module`, `importlib.reload`): the import that runs
    the module again, which another thread doing the same can interleave with."""
    if act.key != ("g", "sys.modules") or act.kind != "mutate" or act.detail not in ("del", ".pop()"):
        return None
    after = getattr(act.stmt, "end_lineno", act.stmt.lineno) or act.stmt.lineno
    for node in walk_scope(act.func.node):
        if getattr(node, "lineno", 0) > after and (isinstance(node, (ast.Import, ast.ImportFrom)) or (
                isinstance(node, ast.Call) and (dotted_name(node.func) or "").rsplit(".", 1)[-1] in _IMPORT_CALLS)):
            return node
    return None


@dataclass
class EarlyFlag:
    """`_ready = True` then `_value = compute()`, while another function tests `_ready` and
    reads `_value`: the flag announces a value that is not there yet."""

    flag: Act  # the store of the flag
    value: Act  # the store of the value it announces, after it
    reader: FunctionInfo  # a function that tests the flag and then reads the value
    test: ast.AST  # its test


def early_flags(m: "ModuleAnalysis") -> List[EarlyFlag]:
    """Flags of module globals, and of the shared instance's attributes, set (without a lock)
    before the value they announce is stored, in a function other threads run."""
    found: List[EarlyFlag] = []
    stores = [a for a in m.acts if a.kind == "rebind" and a.key[0] in ("g", "i") and a.via is None
              and not a.locks and a.func.name not in BEFORE_SHARING]
    for flag in stores:
        value = getattr(flag.stmt, "value", None)
        if not (isinstance(flag.stmt, ast.Assign) and isinstance(value, ast.Constant) and value.value
                and value.value is not ...):
            continue  # a flag raised (`True`, `1`, `"ready"`); a reset announces nothing
        for later in stores:
            if later.func is not flag.func or later.key == flag.key or later.key[0] != flag.key[0] \
                    or later.stmt.lineno <= flag.stmt.lineno:
                continue
            reader = _reader(m, flag, later)
            if reader is not None:
                found.append(EarlyFlag(flag, later, reader[0], reader[1]))
                break
    return found


def _reader(m: "ModuleAnalysis", flag: Act, value: Act) -> Optional[Tuple[FunctionInfo, ast.AST]]:
    """Another function that tests the flag and reads the value under (or after) the test."""
    for other in m.functions:
        if other is flag.func or other.import_time or other.name in BEFORE_SHARING:
            continue
        other.ensure_scope()
        for node in walk_scope(other.node):
            if not isinstance(node, (ast.If, ast.IfExp)) or not _denotes(flag.key, other, node.test):
                continue
            guarded: List[ast.AST] = [node.body] if isinstance(node, ast.IfExp) else list(node.body)
            if isinstance(node, ast.If) and terminates(node.body):  # `if not ready: return`: the rest
                guarded += [n for n in walk_scope(other.node) if getattr(n, "lineno", 0) > (node.end_lineno or 0)]
            if any(_denotes(value.key, other, part) for part in guarded):
                return other, node.test
    return None


def _denotes(key: SharedKey, func: FunctionInfo, node: ast.AST) -> bool:
    """Whether `node` mentions the global or the `self` attribute `key` in `func`."""
    for sub in walk_scope(node):
        if key[0] == "g" and isinstance(sub, ast.Name) and sub.id == key[1] \
                and (sub.id not in func.locals or sub.id in func.globals_declared):
            return True
        if key[0] == "i" and isinstance(sub, ast.Attribute) and sub.attr == key[2] and func.class_name == key[1] \
                and isinstance(sub.value, ast.Name) and sub.value.id == func.self_param:
            return True
    return False


def has_unlocked_fast_path(act: Act) -> bool:
    """A test of the shared name outside the lock the act holds (double-checked locking's
    fast path): a thread passing it uses whatever is bound, ready or not."""
    regions = [r.node for r in act.locks if r.node is not None]
    if not regions:
        return False
    region = regions[0]
    for node in walk_scope(act.func.node):
        if isinstance(node, ast.If) and not inside(node, region) and uses_of(act, node.test) \
                and (inside(region, node) or node.lineno < getattr(region, "lineno", 0)):
            return True
    return False


def nested_writes(m: "ModuleAnalysis", act: Act) -> List[Act]:
    """The unlocked writes of `act`'s function into containers held inside the same shared one."""
    return [a for a in m.acts if a.func is act.func and a.key == act.key and a.inner is not None
            and a.kind == "mutate" and not m.is_locked(a) and a.via is None
            and not (a.reads_self and a.detail in ("augmented assignment", "item assignment"))]

