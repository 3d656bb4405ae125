"""Fixes for state only the coroutines of one event loop touch (`assume-single-event-loop`),
when an await splits a test-then-act or a read-modify-write.

DESCRIPTION:
* Read-modify-write in one statement whose awaited value does not depend on the state
  (`total += await size(r)`, `X[k] = X.get(k, 0) + await q.get()`): the await moves into a
  local just before the statement (`n = await size(r)` then `total += n`).  On one loop
  nothing runs between the read and the write any more, so no lock is needed, and no task
  waits for another's fetch or queue item.  Only when every other part of the statement is
  a plain read (no call that could observe the new order) and the awaited code neither
  reads the state nor calls code that writes it.
* Test-then-set whose value takes an await to build (`if k not in X: X[k] = await
  fetch(k)`): a single flight per key.  The test is repeated under the runtime's
  `LoopLock` for that key (`async with _X_locks[k]:`), so the first task builds, the others
  for the same key wait for it and find the value, and other keys never wait.  Not when
  the build waits for another task's progress (`await q.get()`), which the lock could hang.
* Creation tested by a flag or a None whose body awaits (`if not _ready: await setup();
  _ready = True`): the same single flight with one `LoopLock` for the creation (the first task
  sets up, the others wait for it and find it done).  A lone `_x = await make()` is left to
  the lazy-init fixer's run-once factory.
* Otherwise the statements are locked with a `LoopLock` (made in the running loop, never
  bound to the first loop as an import-time `asyncio.Lock()` is), and only when every await
  under it is part of the test-then-act (see `fixers/awaits.py`); else no automatic fix.
"""

from __future__ import annotations

import ast
from typing import List, Optional, Tuple

import libcst as cst

from safestate_lint.engine.analysis import Act
from safestate_lint.engine.syntax import inside
from safestate_lint.fixers.awaits import own_awaits, touches_state, waits_for_progress
from safestate_lint.fixers.base import FixContext, Unfixable
from safestate_lint.fixers.edits import LockDecl

# what an await may sit under and still be evaluated first (no short circuit, no condition)
_EAGER = (ast.BinOp, ast.UnaryOp, ast.Call, ast.keyword, ast.Subscript, ast.Attribute, ast.Tuple, ast.List,
          ast.Set, ast.Dict, ast.FormattedValue, ast.JoinedStr, ast.Starred)
# calls that only read, whose order against the await nobody can observe
_PURE_BUILTINS = frozenset({"len", "min", "max", "abs", "int", "float", "str", "bool", "round", "tuple", "frozenset",
                            "repr", "isinstance"})
_PURE_METHODS = frozenset({"get", "count", "index", "copy", "keys", "values", "items"})


def fix_across_await(ctx: FixContext, act: Act) -> bool:
    """Plan the fix of an act whose window an await splits (True), or leave it to the lock (False)."""
    contexts = ctx.m.contexts()
    if not act.func.is_async or contexts is None or contexts.pause_in_window(act) is None:
        return False
    if _hoist(ctx, act):
        return True
    return _single_flight(ctx, act)


# -- the await moves out of the read-modify-write ----------------------------------------------


def _hoist(ctx: FixContext, act: Act) -> bool:
    stmt = act.stmt
    if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)) or stmt.value is None:
        return False
    if (act.read_at is not None and act.read_at is not stmt) or act.check is not None:
        return False  # the window starts before this statement: moving its await changes nothing
    awaits = own_awaits([stmt])
    if not awaits or any(isinstance(n, (ast.NamedExpr, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                                        ast.GeneratorExp, ast.Yield, ast.YieldFrom)) for n in ast.walk(stmt)):
        return False
    parents = {id(child): parent for parent in ast.walk(stmt) for child in ast.iter_child_nodes(parent)}
    for awaited in awaits:
        node: ast.AST = awaited
        while id(node) in parents and parents[id(node)] is not stmt:
            node = parents[id(node)]
            if not isinstance(node, _EAGER) or isinstance(node, ast.Await):
                return False  # conditional, short-circuited or nested: it may not run, or runs later
        if touches_state(ctx.m, ctx.reach, act, awaited.value):
            return False  # the awaited code is part of the read-modify-write
    if not _rest_is_plain_reads(ctx, act, stmt, awaits):
        return False
    statement = ctx.statement(stmt)
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    ctx.block_of(statement)  # Unfixable in a one-line suite (`if c: X += await f()`)
    found = _CstAwaits()
    statement.visit(found)
    if len(found.matches) != len(awaits):
        return False
    ctx.claim([statement])
    names: List[str] = []
    for awaited, (cst_await, path) in zip(awaits, found.matches):
        callee = _callee(awaited.value)
        local = ctx.local_name(act.func, callee if callee == "item" else f"{callee}_result")
        names.append(f"{local} = {ctx.module.code_for_node(cst_await).strip()}")
        ctx.edits.replace_expr[id(cst_await)] = local
        ctx.edits.descend.update(path)
    ctx.edits.hoisted[id(statement)] = names
    return True


def _rest_is_plain_reads(ctx: FixContext, act: Act, stmt: ast.stmt, awaits: List[ast.Await]) -> bool:
    """Everything the statement evaluates besides its awaits is a plain read, of state the
    awaited code does not write: evaluating it after the awaits instead of before is the same."""
    skip = {id(n) for awaited in awaits for n in ast.walk(awaited)}
    loaded = set()
    for node in ast.walk(stmt):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _PURE_BUILTINS and func.id not in ctx.m.bindings:
                continue
            if isinstance(func, ast.Attribute) and func.attr in _PURE_METHODS:
                continue
            return False
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id != act.key[-1]:
            loaded.add(node.id)
    act.func.ensure_scope()
    shared = {name for name in loaded if name in ctx.m.bindings and name not in act.func.locals}
    if not shared:
        return True
    reach = ctx.reach
    reached = set()
    for awaited in awaits:
        reached |= reach.reached(reach.closure(reach.statements(act.func, [awaited.value])))
    return not any(other.key[0] == "g" and other.key[1] in shared and id(other.func) in reached for other in ctx.m.acts)


def _callee(value: ast.expr) -> str:
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "get" \
            and not value.args:
        return "item"  # `await q.get()`
    func = value.func if isinstance(value, ast.Call) else value
    while isinstance(func, ast.Call):
        func = func.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return "awaited"


class _CstAwaits(cst.CSTVisitor):
    """The statement's awaits outside nested scopes, in source order, with their paths."""

    def __init__(self) -> None:
        super().__init__()
        self.path: List[int] = []
        self.matches: List[Tuple[cst.Await, List[int]]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.path.append(id(node))
        if isinstance(node, cst.Await):
            self.matches.append((node, list(self.path)))
        return not isinstance(node, (cst.Lambda, cst.Await))

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.path.pop()


# -- a single flight per key ---------------------------------------------------------------------


def _single_flight(ctx: FixContext, act: Act) -> bool:
    """`if k not in X: X[k] = await build(k)` -> the test repeated under `async with _X_locks[k]:`;
    `if not _ready: await setup(); _ready = True` -> the test repeated under `async with _ready_lock:`."""
    check = act.check
    if act.key[0] != "g" or check is None or act.key not in check.keys or check.locks or act.locks:
        return False
    site = check.site
    if check.origin is not site or not isinstance(site, ast.If) or site.orelse or not inside(act.stmt, site):
        return False
    name = act.key[1]
    if act.key in check.lazy_keys:  # a flag or a None: one flight for the whole creation
        if len(site.body) == 1 and isinstance(act.stmt, ast.Assign) and isinstance(act.stmt.value, ast.Await):
            return False  # `_x = await make()`: the lazy-init fixer's run-once factory
        tested: Optional[ast.expr] = None
    else:
        tested = _tested_key(site.test, name)
        if tested is None or not _stores_at(act.stmt, name, tested):
            return False
        if not _simple_key(tested) or any(isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                                          and n.id in _names(tested) for s in site.body for n in ast.walk(s)):
            return False  # the key must mean the same thing at the test and at the store
    awaits = own_awaits(site.body)
    if not awaits:
        return False
    for awaited in awaits:
        progress = waits_for_progress(ctx.m, awaited)
        if progress is not None:
            raise Unfixable(f"the value is built by `await {progress}` (line {awaited.lineno}), which waits for other "
                            f"tasks: neither a lock nor a single flight may be held across it")
    if ctx.m.config.runtime_module == "none":
        raise Unfixable("the act awaits, and runtime-module is 'none': no LoopLock for a single flight")
    summary = ctx.reach.statements(act.func, site.body)
    if summary.yields:
        raise Unfixable("a lock cannot be held across a yield: a paused generator would keep it")
    if id(act.func) in ctx.reach.reached(ctx.reach.closure(summary)):
        raise Unfixable(f"building the value calls '{act.func.qualname}()' again, which would wait for itself")
    lock = _flight_lock(ctx, name, keyed=tested is not None)
    held = f"{lock}[{ast.unparse(tested)}]" if tested is not None else lock
    node = ctx.statement(site)
    ctx.claim([node])
    ctx.edits.async_locks.add(held)
    ctx.edits.double_check[id(node)] = held
    return True


def _stores_at(stmt: ast.stmt, name: str, key: ast.expr) -> bool:
    """`X[key] = ...` (the one target)."""
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return False
    target = stmt.targets[0]
    return isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id == name \
        and ast.dump(target.slice) == ast.dump(key)


def _flight_lock(ctx: FixContext, name: str, keyed: bool) -> str:
    """The module's `LoopLock` for the flights of global `name`: `_X_locks` used per key, or
    `_X_lock` used whole (one per pass and name)."""
    made = ctx.flight_locks
    if name not in made and _existing_flight_lock(ctx, name, keyed):
        made[name] = _existing_flight_lock(ctx, name, keyed)
    if name not in made:
        base = name.strip("_").lower() or "state"
        lock = ctx.fresh_name(f"_{base}_locks", alternative=f"_{base}_key_locks") if keyed else \
            ctx.fresh_name(f"_{base}_lock", alternative=f"_{base}_task_lock")
        decl = LockDecl(lock, event_loop=True)
        binding = ctx.m.bindings.get(name)
        anchor = ctx.module_anchor(binding.node if binding is not None else None)
        target = ctx.edits.insert_after.setdefault(id(anchor), []) if anchor is not None else \
            ctx.edits.body_start.setdefault(id(ctx.module), [])
        target.append(decl)
        made[name] = lock
    return made[name]


def _existing_flight_lock(ctx: FixContext, name: str, keyed: bool) -> str:
    """The module's `LoopLock` already guarding global `name` the same way (`async with L[k]:`
    when `keyed`, else `async with L:`), e.g. one an earlier pass of the fix declared."""
    for act in ctx.m.acts:
        for region in act.locks if act.key == ("g", name) else ():
            items = getattr(region.node, "items", None) if isinstance(region.node, ast.AsyncWith) else None
            for item in items or ():
                expr = item.context_expr
                held = expr.value if keyed and isinstance(expr, ast.Subscript) else (None if keyed else expr)
                binding = ctx.m.bindings.get(held.id) if isinstance(held, ast.Name) else None
                if binding is not None and binding.kind == "lock" and binding.lock_type == "LoopLock":
                    return held.id  # type: ignore[union-attr]
    return ""


def _tested_key(test: ast.expr, name: str) -> Optional[ast.expr]:
    """`k not in X`, `X.get(k) is None`, `not X.get(k)`: the key `k` (None for other tests)."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        right = test.comparators[0]
        if isinstance(test.ops[0], ast.NotIn) and isinstance(right, ast.Name) and right.id == name:
            return test.left
        if isinstance(test.ops[0], ast.Is) and isinstance(right, ast.Constant) and right.value is None:
            return _get_key(test.left, name)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _get_key(test.operand, name)
    return None


def _get_key(expr: ast.expr, name: str) -> Optional[ast.expr]:
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get" \
            and isinstance(expr.func.value, ast.Name) and expr.func.value.id == name and len(expr.args) == 1 \
            and not expr.keywords:
        return expr.args[0]
    return None


def _simple_key(expr: ast.expr) -> bool:
    """Names, constants, attributes of names and tuples of them: no call, read twice the same."""
    if isinstance(expr, (ast.Name, ast.Constant)):
        return True
    if isinstance(expr, ast.Attribute):
        return _simple_key(expr.value)
    if isinstance(expr, ast.Tuple):
        return all(_simple_key(e) for e in expr.elts)
    return False


def _names(expr: ast.expr) -> set:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
