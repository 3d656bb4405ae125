"""How each function uses its locks: where each lock is taken and what is already held
there, what runs while a lock is held (blocking calls, awaits, calls into the module), and
locks created per call. The lock-misuse rules (SST4) read it; it is computed on first use.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from safestate_lint.engine.callgraph import Reach, Summary
from safestate_lint.engine.facts import FunctionInfo, LockRegion
from safestate_lint.engine.syntax import _acquire_target, _release_target, split_statement, walk

if TYPE_CHECKING:  # pragma: no cover
    from safestate_lint.engine.analysis import ModuleAnalysis


@dataclass
class Held:
    """One acquisition of a lock: where, in which function, and what was held already."""

    region: LockRegion
    func: FunctionInfo
    node: ast.AST
    # `X.acquire()` that the function never releases after it: a hand-off (another thread or
    # process releases it) that marks a state, not a region of code others wait to enter
    handoff: bool = False

    @property
    def ident(self) -> str:
        return self.region.ident or self.region.name

    def where(self) -> str:
        return f"line {getattr(self.node, 'lineno', '?')} in '{self.func.qualname}()'"


@dataclass
class Order:
    """`inner` taken while `outer` is held, directly or by a call (`via`)."""

    outer: Held
    inner: str  # the lock's ident
    node: ast.AST  # the `with` of `inner`, or the call that takes it
    func: FunctionInfo
    via: str = ""  # "'helper()'" when a call takes it


@dataclass
class Blocking:
    held: Held
    call: str  # "'time.sleep()'", "'requests.get()' (in 'fetch()')"
    node: ast.AST


@dataclass
class Unreleased:
    """`X.acquire()` with no `release()` in a `finally` that follows it on every path."""

    func: FunctionInfo
    stmt: ast.Expr  # the `X.acquire(...)` statement
    target: ast.expr  # X
    block: List[ast.stmt]  # the block holding it
    release: Optional[ast.stmt]  # the plain `X.release()` later in the block, if any
    plain: bool  # `acquire()` without arguments (a `with X:` means the same)


@dataclass
class LockUsage:
    per_call: List[Tuple[FunctionInfo, ast.AST, str]] = field(default_factory=list)  # (func, node, how)
    unreleased: List[Unreleased] = field(default_factory=list)
    orders: List[Order] = field(default_factory=list)
    blocking: List[Blocking] = field(default_factory=list)
    awaits: List[Tuple[Held, ast.AST]] = field(default_factory=list)  # an await under a thread lock
    acquisitions: List[Held] = field(default_factory=list)  # every acquisition the walk saw


def lock_usage(m: "ModuleAnalysis") -> LockUsage:
    usage = LockUsage()
    reach = Reach(m)
    # only a function whose text has `with` or `acquire` can hold a lock (an exact, C-speed pre-pass)
    words = m._occurrences(["with", "acquire"])
    for info in m.functions:
        if info.import_time or not m._node_contains(words, info.node):
            continue
        info.ensure_scope()
        walker = reach.walker(info)
        _walk_block(m, reach, walker, info, info.node.body, (), usage)
    _drop_split_protocols(m, usage)
    return usage


def _drop_split_protocols(m: "ModuleAnalysis", usage: LockUsage) -> None:
    """`__enter__` acquires and `__exit__` releases; `lock()` acquires and `unlock()` releases:
    an acquire no release follows in its own function, released by another function of the
    module, is a protocol split on purpose, not a leak."""
    if not usage.unreleased:
        return
    released_in: Dict[str, set] = {}
    for info in m.functions:
        for node in ast.walk(info.node):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "release":
                released_in.setdefault(ast.dump(node.func.value), set()).add(id(info))
    usage.unreleased = [item for item in usage.unreleased
                        if item.release is not None or not released_in.get(ast.dump(item.target), set()) - {id(item.func)}]


def _walk_block(m: "ModuleAnalysis", reach: Reach, walker, info: FunctionInfo,  # type: ignore[no-untyped-def]
                body: Sequence[ast.stmt], held: Tuple[Held, ...], usage: LockUsage) -> None:
    acquired: Dict[str, Held] = {}
    for index, stmt in enumerate(body):
        _check_release(walker, info, body, index, usage)
        current = held + tuple(acquired.values())
        target = _acquire_target(stmt)
        region = walker.lock_of(target) if target is not None else None
        if region is not None and isinstance(stmt, ast.If) and not isinstance(stmt.test, ast.UnaryOp):
            # `if X.acquire(False): try: ... finally: X.release()`: held in the body only
            new = Held(region, info, stmt)
            usage.acquisitions.append(new)
            _order(usage, current, new, info, stmt)
            _walk_block(m, reach, walker, info, stmt.body, current + (new,), usage)
            _walk_block(m, reach, walker, info, stmt.orelse, current, usage)
            continue
        _walk_stmt(m, reach, walker, info, stmt, current, usage)
        if region is not None:  # `X.acquire()`, or `if not X.acquire(...): return`: held from here on
            if isinstance(getattr(stmt, "value", None), ast.Await):  # `await X.acquire()`: an event-loop lock
                region = dataclasses.replace(region, async_lock=True)
            assert target is not None  # a region is found only for an acquire's target
            new = Held(region, info, stmt, handoff=not _released_after(info, target, stmt))
            usage.acquisitions.append(new)
            _order(usage, current, new, info, stmt)
            acquired[ast.dump(target)] = new
        released = _release_target(stmt)
        if released is not None:
            acquired.pop(ast.dump(released), None)
        if isinstance(stmt, ast.With):  # `with X:` on an X acquired above: another thread released it
            for item in stmt.items:
                acquired.pop(ast.dump(item.context_expr), None)


def _walk_stmt(m: "ModuleAnalysis", reach: Reach, walker, info: FunctionInfo,  # type: ignore[no-untyped-def]
               stmt: ast.stmt, held: Tuple[Held, ...], usage: LockUsage) -> None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        inner = held
        for item in stmt.items:
            how = walker.per_call_lock(item.context_expr)
            if how is not None:
                usage.per_call.append((info, item.context_expr, how))
                continue
            _under(m, reach, info, [item.context_expr], inner, usage)
            region = walker.lock_of(item.context_expr)
            if region is not None:
                region = region.at(stmt)
                if isinstance(stmt, ast.AsyncWith):  # only an event-loop lock is entered with `async with`
                    region = dataclasses.replace(region, async_lock=True)
                new = Held(region, info, stmt)
                usage.acquisitions.append(new)
                _order(usage, inner, new, info, stmt)
                inner = inner + (new,)
        _walk_block(m, reach, walker, info, stmt.body, inner, usage)
        return
    headers, blocks = split_statement(stmt)
    if isinstance(stmt, ast.AsyncFor):
        headers.append(stmt)  # the `async for` itself awaits
    _under(m, reach, info, headers, held, usage)
    for block in blocks:
        _walk_block(m, reach, walker, info, block, held, usage)


def _under(m: "ModuleAnalysis", reach: Reach, info: FunctionInfo, nodes: List[ast.AST],
           held: Tuple[Held, ...], usage: LockUsage) -> None:
    """What these expressions do while `held` is held."""
    thread_held = [h for h in held if not h.region.async_lock and not h.handoff]
    if not held or not nodes:
        return
    summary = reach.statements(info, nodes)
    found: List[Blocking] = []
    if thread_held:
        for call, blocked in _blocking(summary, thread_held):
            found.append(Blocking(blocked, call, nodes[0]))
    for callee in summary.callees:
        closure = reach.closure(reach.direct(callee))
        if thread_held:
            for call, blocked in _blocking(closure, thread_held):
                found.append(Blocking(blocked, f"{call} (through '{callee.qualname}()')", nodes[0]))
        for ident, where in closure.locks.items():
            if ident not in closure.taken or any(h.ident == ident for h in held):
                continue  # held by its callers around it, or already by this thread (taken again, never waited for)
            for outer in held:
                if outer.ident != ident:
                    usage.orders.append(Order(outer, ident, nodes[0], info, via=where))
    waits = thread_held and summary.awaits and info.is_async
    if (found or waits) and not _double_checked(m, thread_held[-1].node):
        # (a lock taken only until the object exists is exempt: waiting for its creation is the point)
        usage.blocking.extend(found)
        if waits:
            node = next((n for root in nodes for n in ast.walk(root)
                         if isinstance(n, (ast.Await, ast.AsyncFor, ast.AsyncWith))), nodes[0])
            usage.awaits.append((thread_held[-1], node))


def _released_after(info: FunctionInfo, target: ast.AST, stmt: ast.stmt) -> bool:
    """Whether `info` releases `target` anywhere after `stmt` (a `release()` call, or a `with`
    on it, which releases it on exit)."""
    key, line = ast.dump(target), getattr(stmt, "end_lineno", None) or stmt.lineno
    for node in walk(info.node):
        if getattr(node, "lineno", 0) <= line:
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "release" \
                and ast.dump(node.func.value) == key:
            return True
    return False


def _blocking(summary: Summary, held: List[Held]) -> List[Tuple[str, Held]]:
    """The blocking calls of `summary`, each with the innermost lock it keeps held: `cond.wait()`
    releases `cond` while it waits, so it blocks only the other locks held around it."""
    out = []
    for call in summary.blocking:
        released = summary.releases.get(call, "").split(",")
        kept = [h for h in held if h.ident not in released]
        if kept:
            out.append((call, kept[-1]))
    return out


def _check_release(walker, info: FunctionInfo, body: Sequence[ast.stmt], index: int,  # type: ignore[no-untyped-def]
                   usage: LockUsage) -> None:
    """`X.acquire()` as a statement must be followed by `try: ... finally: X.release()`."""
    stmt = body[index]
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return
    call = stmt.value
    if not isinstance(call.func, ast.Attribute) or call.func.attr != "acquire":
        return
    target = call.func.value
    if walker.lock_of(target) is None:
        return
    key = ast.dump(target)
    following = body[index + 1] if index + 1 < len(body) else None
    if isinstance(following, ast.Try) and any(_releases(s, key) for s in following.finalbody):
        return
    release = next((s for s in body[index + 1:] if isinstance(s, ast.Expr) and _releases(s, key)), None)
    if release is not None and body.index(release) == index + 1:
        return  # `X.acquire(); X.release()`: waits for X to be free; nothing between can raise
    plain = not call.args and not call.keywords
    releases = [node.lineno for node in ast.walk(info.node) if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute) and node.func.attr == "release" and ast.dump(node.func.value) == key]
    if plain and release is None and (not releases or min(releases) < stmt.lineno):
        return  # never released after it: held on purpose (a hand-off), or the re-acquire after a release
    if plain and not _skips_release(body[index + 1:], key):
        return  # every path from the acquire reaches a release before it returns, raises, breaks or suspends
    usage.unreleased.append(Unreleased(info, stmt, target, list(body), release, plain))


_EXITS = (ast.Return, ast.Raise, ast.Break, ast.Continue)
_SUSPENDS = (ast.Yield, ast.YieldFrom, ast.Await)


def _skips_release(body: Sequence[ast.stmt], key: str) -> bool:
    """Whether a path through `body` returns, raises, breaks, continues or suspends before it
    releases the lock `key` (a `release()` in a branch covers that branch's exit)."""
    for stmt in body:
        if isinstance(stmt, ast.Expr) and _releases(stmt, key):
            return False  # released on this path: what follows runs without the lock
        if isinstance(stmt, ast.Try) and any(isinstance(s, ast.Expr) and _releases(s, key) for s in stmt.finalbody):
            return False  # `try: ... finally: lock.release()`: released on every path out of it
        if isinstance(stmt, _EXITS):
            return True
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        headers, blocks = split_statement(stmt)
        if any(isinstance(node, _SUSPENDS) for header in headers for node in walk(header)):
            return True
        if any(_skips_release(block, key) for block in blocks):
            return True
    return False


def _releases(stmt: ast.stmt, key: str) -> bool:
    target = _release_target(stmt)
    return target is not None and ast.dump(target) == key


def _double_checked(m: "ModuleAnalysis", node: ast.AST) -> bool:
    """`if T: with L: if T: ...`, or `if T: return` before `with L: if T: return`: the lock is
    taken only while the thing does not exist yet (double-checked creation)."""
    if not isinstance(node, ast.With) or not node.body or not isinstance(node.body[0], ast.If):
        return False
    test = ast.dump(node.body[0].test)
    parent = m.parent_of(node)
    while parent is not None and not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if isinstance(parent, ast.If) and ast.dump(parent.test) == test:
            return True
        siblings = getattr(parent, "body", None)
        if isinstance(siblings, list) and node in siblings:
            before = siblings[:siblings.index(node)]
            if any(isinstance(s, ast.If) and ast.dump(s.test) == test for s in before):
                return True
        node, parent = parent, m.parent_of(parent)
    return False


def _order(usage: LockUsage, held: Tuple[Held, ...], new: Held, info: FunctionInfo, node: ast.AST) -> None:
    if any(outer.ident == new.ident for outer in held):
        return  # taken again while this thread holds it (a reentrant lock): it cannot wait here
    for outer in held:
        usage.orders.append(Order(outer, new.ident, node, info))


def inversions(usage: LockUsage) -> List[Tuple[Order, Order]]:
    """Pairs of orders that take two locks in opposite orders (each pair once)."""
    first: Dict[Tuple[str, str], Order] = {}
    for order in usage.orders:
        first.setdefault((order.outer.ident, order.inner), order)
    found: List[Tuple[Order, Order]] = []
    for (a, b), order in first.items():
        other = first.get((b, a))
        if other is not None and (a, b) < (b, a):
            found.append((order, other))
    return found


__all__ = ["Blocking", "Held", "LockUsage", "Order", "inversions", "lock_usage"]
