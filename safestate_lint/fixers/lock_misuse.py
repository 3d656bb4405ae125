"""Fixer for family SST4 (lock misuse): SST401 and SST402.

DESCRIPTION:
* SST401: a lock made anew on every call becomes one module-level lock, created once and
  named after the state it guards (`with threading.Lock():` -> `with _totals_lock:`; a local
  `lock = threading.RLock()` -> `lock = _count_lock`), under the fix-safety rules: an `RLock`
  when the region calls code, never around a yield, an await or a blocking call.
* SST402: `x.acquire(); ...; x.release()` in one block becomes `with x: ...`, so a return
  or an exception in between releases it. `acquire(timeout=...)`/`blocking=False` are left.
* SST405, with --unsafe-fixes only: a module-private `threading.Lock()` used nowhere but in
  `with` statements of coroutines becomes the runtime's `LoopLock()` (an asyncio lock made in
  each running loop, never bound at import time) entered with `async with`
  (unsafe: correct only when those coroutines all run on one event loop).
SST403 and SST404 have no automatic fix.
"""

from __future__ import annotations

import ast
from typing import Any, List, Optional, Set, Tuple

import libcst as cst

from safestate_lint.engine.analysis import FunctionInfo
from safestate_lint.engine.locking import Unreleased
from safestate_lint.engine.syntax import inside
from safestate_lint.finding import Finding
from safestate_lint.fixers.base import FixContext, Unfixable, plan_each

CODES = ("SST401", "SST402", "SST405")


def plan(ctx: FixContext, items: List[Tuple[Finding, Any]]) -> Set[Finding]:
    usage = ctx.m.lock_usage()

    def fix_one(finding: Finding, _act: Any) -> bool:
        if finding.code == "SST401":
            site = next(((f, n) for f, n, _ in usage.per_call if getattr(n, "lineno", 0) == finding.line), None)
            if site is None:
                raise Unfixable("cannot locate the lock")
            _hoist(ctx, *site)
        elif finding.code == "SST405":
            held = next((h for h, n in usage.awaits if getattr(n, "lineno", 0) == finding.line), None)
            if held is None:
                raise Unfixable("cannot locate the lock")
            _to_event_loop_lock(ctx, held.region.name)
        else:
            item = next((u for u in usage.unreleased if u.stmt.lineno == finding.line), None)
            if item is None:
                raise Unfixable("cannot locate the acquire()")
            _with_statement(ctx, item)
        return True

    return plan_each(ctx, ((f, a) for f, a in items if f.code in CODES), fix_one)


def _hoist(ctx: FixContext, func: FunctionInfo, node: ast.AST) -> None:
    m = ctx.m
    item = m.parent_of(node)
    with_ast = m.parent_of(item) if isinstance(item, ast.withitem) else None
    if not isinstance(with_ast, (ast.With, ast.AsyncWith)) or isinstance(with_ast, ast.AsyncWith):
        raise Unfixable("only a `with` on a threading lock is hoisted")
    guarded = next((a for a in m.acts if a.func is func and a.key[0] == "g" and inside(a.stmt, with_ast)), None)
    if guarded is not None and guarded.key in ctx.refused:
        raise Unfixable(ctx.refused[guarded.key])
    if guarded is not None:
        lock = ctx.lock_for(guarded, with_ast.body)
    else:
        lock = ctx.new_module_lock(func.name, func, with_ast.body)
    statement = ctx.statement(with_ast)
    ctx.claim([statement])
    ctx.locked_regions.add(id(with_ast))
    if isinstance(node, ast.Call):  # `with threading.Lock():` -> `with _totals_lock:`
        index = with_ast.items.index(item)  # type: ignore[arg-type]
        ctx.edits.replace_expr[id(cst.ensure_type(statement, cst.With).items[index].item)] = lock
        return
    assert isinstance(node, ast.Name)  # `guard = threading.RLock()` -> `guard = _count_lock`; `with guard:` stays
    made = _local_assignment(func, node.id)
    if made is None:
        raise Unfixable(f"cannot locate where '{node.id}' is created")
    value = getattr(ctx.small_statement(made), "value", None)
    if value is None:
        raise Unfixable("cannot locate the lock's creation")
    ctx.claim([ctx.statement(made)])
    ctx.edits.replace_expr[id(value)] = lock


def _local_assignment(func: FunctionInfo, name: str) -> Optional[ast.Assign]:
    for node in ast.walk(func.node):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id == name and isinstance(node.value, ast.Call):
            return node
    return None


def _with_statement(ctx: FixContext, item: Unreleased) -> None:
    """`x.acquire(); S...; x.release()` -> `with x: S...`."""
    if not item.plain:
        raise Unfixable("acquire() with a timeout or blocking=False: its result decides what happens next")
    if item.release is None:
        raise Unfixable("no release() follows in the same block")
    block = item.block
    start, end = block.index(item.stmt), block.index(item.release)
    between = block[start + 1:end]
    if not between:
        raise Unfixable("nothing is done between acquire() and release()")
    key = ast.dump(item.target)
    for stmt in between:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Attribute) and node.attr in ("acquire", "release") and ast.dump(node.value) == key:
                raise Unfixable("the lock is acquired or released again in between")
    first, last = ctx.statement(between[0]), ctx.statement(between[-1])
    ctx.claim([ctx.statement(item.stmt), *ctx.same_block_range(first, last), ctx.statement(item.release)])
    ctx.edits.wrap[id(first)] = (last, ast.unparse(item.target))
    ctx.edits.delete.update({id(ctx.statement(item.stmt)), id(ctx.statement(item.release))})


def _to_event_loop_lock(ctx: FixContext, name: str) -> None:
    """`_lock = threading.Lock()` -> `LoopLock()`, and every `with _lock:` -> `async with`.  Not
    `asyncio.Lock()`: made at import time, it belongs to the first loop that waits on it."""
    m = ctx.m
    binding = m.bindings.get(name)
    if binding is None or binding.kind != "lock" or binding.async_lock:
        raise Unfixable(f"'{name}' is not a module-level threading lock")
    if binding.lock_type != "Lock" or not name.startswith("_"):
        raise Unfixable(f"only a module-private threading.Lock() becomes an asyncio lock; '{name}' is "
                        f"{'public' if not name.startswith('_') else f'a {binding.lock_type}'}")
    if not ctx.unsafe_fixes:
        raise Unfixable(f"with --unsafe-fixes, '{name}' becomes a LoopLock(), an asyncio lock (correct only when "
                        f"every coroutine using it runs on one event loop)")
    if m.config.runtime_module == "none":
        raise Unfixable(f"'{name}' would become an asyncio lock, and runtime-module is 'none': an asyncio.Lock() "
                        f"made at import time belongs to the first event loop that waits on it")
    assign = binding.node
    withs: List[ast.With] = []
    for node, parent in m.uses_of_global(name):
        if parent is assign:
            continue
        owner = m.parent_of(parent) if isinstance(parent, ast.withitem) else None
        if not isinstance(owner, ast.With) or len(owner.items) != 1 or owner.items[0].context_expr is not node:
            raise Unfixable(f"'{name}' is used outside a `with` of its own (line {getattr(node, 'lineno', '?')})")
        scope = m.parent_of(owner)
        while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            scope = m.parent_of(scope)
        if not isinstance(scope, ast.AsyncFunctionDef):
            raise Unfixable(f"'{name}' is also taken outside a coroutine (line {owner.lineno}), by a thread")
        withs.append(owner)
    if not isinstance(assign, ast.Assign) or not isinstance(assign.value, ast.Call):
        raise Unfixable(f"cannot locate where '{name}' is created")
    statements = [ctx.statement(w) for w in withs]
    if any(id(statement) in ctx.edits.to_async_lock for statement in statements):
        return  # another finding on the same lock planned it already
    ctx.claim([ctx.statement(assign), *statements])
    value = getattr(ctx.small_statement(assign), "value", None)
    if value is None:
        raise Unfixable(f"cannot locate where '{name}' is created")
    ctx.edits.replace_expr[id(value)] = "LoopLock()"
    ctx.imports.add((m.config.runtime_module, "LoopLock"))
    ctx.edits.to_async_lock.update(id(statement) for statement in statements)
