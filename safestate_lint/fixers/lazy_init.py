"""Fixer for family SST2 (lazy initialisation): SST201, SST202, SST203.

DESCRIPTION:
* SST201/SST202: rewrite `if TEST: <create>` into double-checked locking,
  `if TEST: with LOCK: if TEST: <create>`, with a module-level (or class-level)
  `threading.Lock()` named after the attribute; the inner test re-reads the shared name.
  The early-return shape (`if x is not None: return x` then the creation) keeps its fast
  path and repeats the guard inside the lock.
* An `async def` whose creation awaits cannot hold a threading lock across the `await`,
  and an `asyncio.Lock` does not exclude threads. When the creation is
  `_x = await make()` with no local inputs, the awaited expression moves into a module-level
  `async def _create_x()` decorated with the runtime's `singleton`, which runs it exactly
  once across threads and event loops; every caller then stores the same object.
* SST203: add the missing inner test inside the existing lock; replace an asyncio lock that
  threads reach by a threading lock when no `await` is inside it.
* Publish last: a creation that binds the shared name and then keeps building the object
  (`_m = Manager(); _m.validate()`) is rebuilt into a local that is bound to the shared
  name last (`m = Manager(); m.validate(); _m = m`), with every rewrite above and alone
  (SST203, published before ready). Left alone when building calls back into the getter.
"""

from __future__ import annotations

import ast
from typing import List, Set, Tuple

import libcst as cst

from safestate_lint.engine.analysis import Act
from safestate_lint.engine.shapes import EarlyPublish, early_publish, has_unlocked_fast_path, index_holding
from safestate_lint.engine.syntax import ast_block_of, inside
from safestate_lint.finding import Finding
from safestate_lint.fixers.base import FixContext, Unfixable, contains_await, plan_each, plan_recheck
from safestate_lint.fixers.event_loop import fix_across_await

CODES = ("SST201", "SST202", "SST203")


def plan(ctx: FixContext, items: List[Tuple[Finding, Act]]) -> Set[Finding]:
    def fix_one(finding: Finding, act: Act) -> bool:
        if act.key[0] == "n":
            raise Unfixable(f"'{act.key[2]}' is a closure variable of '{act.key[1]}()': create a lock beside it "
                            f"there and hold it across the test and the set")
        if ctx.event_loop_key(act.key) and fix_across_await(ctx, act):
            return True  # one loop's tasks: a single flight (fixers/event_loop.py)
        status = ctx.m.lazy_init_status(act)
        publish = early_publish(act)
        if publish is not None:
            _check_publish_last(ctx, publish)
        if status == "unlocked" and _announces_before_ready(act):
            # the flag is set before the helper finishes: a fast path outside the lock would
            # see it and use what is not built yet; the whole test takes the lock instead
            from safestate_lint.fixers.shared_state import wrap_statements

            wrap_statements(ctx, act, [_site(act)])
        elif status == "unlocked":
            _double_check(ctx, act)
        elif status == "no-recheck":
            plan_recheck(ctx, act)
        elif status == "async-lock":
            _to_thread_lock(ctx, act)
        elif publish is not None and act.locks and has_unlocked_fast_path(act):
            ctx.claim([ctx.statement(s) for s in publish.block[publish.start:publish.end + 1]])
        else:
            return False
        if publish is not None:
            _publish_last(ctx, publish)
        return True

    return plan_each(ctx, (item for item in items if item[0].code in CODES), fix_one)


def _announces_before_ready(act: Act) -> bool:
    """The write is made by a helper (`if not self._loaded: self._load()`) that stores more
    state after it (`self._loaded = True` then `self._codec = ...`)."""
    helper = act.via
    if helper is None:
        return False
    name = act.key[-1]
    body = helper.node.body
    for index, stmt in enumerate(body):
        if any(isinstance(n, (ast.Attribute, ast.Name)) and isinstance(n.ctx, ast.Store)
               and (n.attr if isinstance(n, ast.Attribute) else n.id) == name for n in ast.walk(stmt)):
            return any(isinstance(n, (ast.Attribute, ast.Name)) and isinstance(n.ctx, ast.Store)
                       for later in body[index + 1:] for n in ast.walk(later))
    return False


def _site(act: Act) -> ast.If:
    check = act.check
    if check is None or check.origin is not check.site or not isinstance(check.site, ast.If):
        raise Unfixable("the test reads the shared state through a local")
    return check.site


def _double_check(ctx: FixContext, act: Act) -> None:
    site = _site(act)
    if inside(act.stmt, site):
        if site.orelse:
            raise Unfixable("the test has an else branch")
        if act.func.is_async and contains_await(site.body):
            _async_singleton(ctx, act, site)
            return
        node = ctx.statement(site)
        lock = ctx.lock_for(act, site.body, once=True)
        ctx.claim([node])
        ctx.edits.double_check[id(node)] = lock
        return
    block = ast_block_of(act.func.node, site)
    if block is None:
        raise Unfixable("guard not found")
    # the guard, repeated under the lock, through the creation (and the publishing): not the
    # rest of the function (`if _running: return; _running = True; while ...: work()`)
    start = block.index(site)
    end = index_holding(block, act.stmt, start)
    publish = early_publish(act)
    if end is None or end == start:
        raise Unfixable("the creation is not after the guard in its block")
    if publish is not None and publish.block is block:
        end = max(end, publish.end)
    rest = block[start:end + 1]
    node = ctx.statement(site)
    lock = ctx.lock_for(act, rest, once=True)
    ctx.claim(ctx.same_block_range(node, ctx.statement(rest[-1])))
    ctx.edits.early_return[id(node)] = (lock, ctx.statement(rest[-1]))


def _check_publish_last(ctx: FixContext, publish: EarlyPublish) -> None:
    act = publish.act
    between = publish.block[publish.start:publish.end + 1]
    if any(isinstance(node, ast.Return) for stmt in between[1:-1] for node in ast.walk(stmt)) or \
            (not publish.ends_in_return and any(isinstance(n, ast.Return) for n in ast.walk(between[-1]))):
        raise Unfixable("a return inside the initialisation would skip publishing the object")
    if any(isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)) for stmt in between for node in ast.walk(stmt)):
        raise Unfixable("the initialisation pauses (yield/await) after binding the shared name")
    reached = ctx.reach.reached(ctx.reach.statements(act.func, between))
    if id(act.func) in reached:
        raise Unfixable(f"building the object calls back into '{act.func.qualname}()', which reads "
                        f"the shared name before it is published")


def _publish_last(ctx: FixContext, publish: EarlyPublish) -> None:
    """`_m = Manager(); _m.validate()` -> `m = Manager(); m.validate(); _m = m`."""
    act = publish.act
    assert isinstance(act.stmt, ast.Assign)
    target = act.stmt.targets[0]
    local = ctx.local_name(act.func, act.key[-1])
    shared = act.key[1] if isinstance(target, ast.Name) else \
        f"{getattr(getattr(target, 'value', None), 'id', act.key[1])}.{act.key[2]}"
    ctx.rename(act, publish.block[publish.start:publish.end + 1], local)
    anchor = publish.block[publish.end - 1 if publish.ends_in_return else publish.end]
    ctx.edits.insert_after.setdefault(id(ctx.statement(anchor)), []).append(f"{shared} = {local}")


def _to_thread_lock(ctx: FixContext, act: Act) -> None:
    regions = [r for r in (act.locks + (act.check.locks if act.check else ())) if r.async_lock
               and isinstance(r.node, ast.AsyncWith)]
    if not regions:
        raise Unfixable("no async with to replace")
    region = regions[0]
    if len(getattr(region.node, "items", ())) > 1:
        raise Unfixable("the other context managers of this `async with` need it to stay async")
    with_node = ctx.statement(region.node)  # type: ignore[arg-type]
    lock = ctx.lock_for(act, region.node.body, once=True)  # type: ignore[union-attr]
    ctx.claim([with_node])
    ctx.edits.to_thread_lock[id(with_node)] = lock


def _async_singleton(ctx: FixContext, act: Act, site: ast.If) -> None:
    """`if _x is None: _x = await make()` -> the creation runs once, via `@singleton`."""
    body = site.body
    if ctx.m.config.runtime_module == "none":
        raise Unfixable("the creation awaits, and runtime-module is 'none': no run-once factory to move it into")
    if act.key[0] != "g" or "." in act.func.qualname or len(body) != 1 or body[0] is not act.stmt:
        raise Unfixable("only a module-level `_x = await ...` creation moves into a singleton factory")
    own = ctx.m.bindings.get("singleton")
    if own is not None and ctx.m.imports.get("singleton") != f"{ctx.m.config.runtime_module}.singleton":
        raise Unfixable("the module defines its own 'singleton', which the runtime's would have to replace")
    reset = next((a for a in ctx.m.acts if a.key == act.key and a.resets and a is not act), None)
    if reset is not None:
        raise Unfixable(f"'{reset.func.qualname}()' sets '{act.key[1]}' back to None: it is not created once, "
                        f"and a run-once factory would hand out the closed object forever")
    stmt = act.stmt
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.value, ast.Await):
        raise Unfixable("the creation is not `_x = await ...`")
    used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
    if used & (act.func.locals | act.func.closure):
        raise Unfixable("the creation uses local values")
    name = act.key[1]
    factory = ctx.fresh_name(f"_create_{name.strip('_') or 'instance'}")
    source = "".join(ctx.m.lines or ())
    awaited = ast.get_source_segment(source, stmt.value)
    if awaited is None:
        raise Unfixable("source not available")
    func_node = ctx.statement(act.func.node)
    await_node = getattr(ctx.small_statement(stmt), "value", None)
    if not isinstance(await_node, cst.Await):
        raise Unfixable("cannot locate the await")
    ctx.claim([ctx.statement(stmt)])
    ctx.edits.insert_before.setdefault(id(func_node), []).append(
        f"@singleton\nasync def {factory}():\n    return {awaited}\n"
    )
    ctx.edits.replace_expr[id(await_node)] = f"await {factory}()"
    ctx.imports.add((ctx.m.config.runtime_module, "singleton"))
