"""Fixer for family SST3 (shared objects): SST301, SST302, SST303 and SST304.

DESCRIPTION:
* SST301: one class-level lock is added at the top of the class body (`_lock =
  threading.Lock()`, an `RLock` when the guarded statements call code that could take it
  again; an existing class-level lock is reused), and held around the statement: `with
  cls._lock:` in a classmethod, `with ClassName._lock:` elsewhere.
* SST302: the class's own lock, the one the other writes of the attribute hold, around the
  statement: `with self._lock:`.
* SST304: the lock the class (or a base, in this module or another) owns, when it owns exactly
  one, around the statement: `with self._lock:`.
* SST303: the declared lock around the statement that uses the state without it (not an
  access in the test or header of a compound statement: that is left for a person).
A test-then-act or a read-then-write is covered from the test (or read) through the write,
so the lock never silences the finding while the race between them stays. Under the fix
rules of every fixer: never across a yield, an await or a blocking call, never a
non-reentrant lock around code that can take it again.
"""

from __future__ import annotations

import ast
from typing import List, Optional, Set, Tuple

from safestate_lint.engine.analysis import Act
from safestate_lint.engine.guarded import Access, unguarded
from safestate_lint.engine.races import ConsequenceKind, RaceFinder
from safestate_lint.engine.shapes import check_then_act_span
from safestate_lint.finding import Finding
from safestate_lint.fixers.base import FixContext, Unfixable, plan_each
from safestate_lint.fixers.shared_state import wrap_statements
from safestate_lint.rules.sst302_inconsistent_locking import guards

_COMPOUND = tuple(getattr(ast, name) for name in ("If", "While", "For", "AsyncFor", "With", "AsyncWith", "Try",
                                                  "TryStar", "Match") if hasattr(ast, name))
CODES = ("SST301", "SST302", "SST303", "SST304")
LOCATED = ("SST303",)  # reported without an act: the access is found again from the finding


def plan(ctx: FixContext, items: List[Tuple[Finding, Optional[Act]]]) -> Set[Finding]:
    guarded = guards(ctx.m)
    races = RaceFinder(ctx.m)
    accesses: Optional[List[Access]] = None

    def fix_one(finding: Finding, act: Optional[Act]) -> bool:
        nonlocal accesses
        if finding.code == "SST303":
            if accesses is None:
                accesses = unguarded(ctx.m, ctx.m.guards())
            _take_declared_lock(ctx, finding, accesses)
            return True
        if act is None:
            raise Unfixable("cannot locate the statement")
        lock: Optional[str] = None
        if finding.code == "SST302":
            race = races.race(act)
            if race is not None and race.kind is ConsequenceKind.TORN_ITERATION and race.other is not None:
                raise Unfixable(f"the race is the loop in '{race.other.func.qualname}()' (line {race.other.stmt.lineno}), "
                                f"which walks it without the lock: that loop is what needs the fix")
            region, _ = guarded[act.key]
            if not act.func.self_param:
                raise Unfixable("the method has no 'self' to take the lock from")
            lock = f"{act.func.self_param}.{(region.ident or region.name).partition('.')[2]}"
        elif finding.code == "SST304":
            lock = _own_lock(ctx, act)
        else:  # one class-level lock for the class's shared attributes
            lock = ctx.lock_for_class(act.func, act.key[1], "")
        wrap_statements(ctx, act, _span(act), lock)
        return True

    return plan_each(ctx, ((f, a) for f, a in items if f.code in CODES), fix_one)


def _own_lock(ctx: FixContext, act: Act) -> str:
    """`self.<the one threading lock the object owns>` for SST304."""
    m = ctx.m
    cls = act.func.class_name or act.key[1]
    family = {cls, *m.bases(cls)}
    locks = sorted({attr for (owner, attr), b in m.class_attrs.items()
                    if owner in family and b.kind == "lock" and not b.async_lock and b.is_mutex})
    if not act.func.self_param:
        raise Unfixable("the method has no 'self' to take the lock from")
    if len(locks) != 1:
        raise Unfixable(f"'{cls}' owns {'no lock' if not locks else 'several locks'}: choose the one that "
                        f"guards 'self.{act.key[-1]}'")
    return f"{act.func.self_param}.{locks[0]}"


def _take_declared_lock(ctx: FixContext, finding: Finding, accesses: List[Access]) -> None:
    """SST303: the declared lock around the statement that uses the state without it."""
    access = next((a for a in accesses if getattr(a.node, "lineno", 0) == finding.line), None)
    if access is None:
        raise Unfixable("the declaration names no lock to take")
    if isinstance(access.stmt, _COMPOUND):
        raise Unfixable("the state is used in the header of a compound statement (its test or iterable): "
                        "take the lock around it by hand")
    lock = access.guard.lock_expr(access.func)
    if lock is None:
        raise Unfixable("the function has no 'self' or 'cls' to take the lock from")
    act = Act(access.guard.key, "rebind" if access.write else "iterate", access.stmt, access.node, (), access.func)
    wrap_statements(ctx, act, [access.stmt], lock)


def _span(act: Act) -> List[ast.stmt]:
    """The statements one lock must cover: from the test or the read through the write."""
    origin = act.read_at
    if origin is None and act.check is not None and act.key in act.check.keys:
        if act.check.locks and not act.check.shares_lock_with(act.locks):
            raise Unfixable("the test is made under a lock that is released before the write")
        origin = act.check.origin
    if origin is None:
        return [act.stmt, *_read_back(act)]
    span = check_then_act_span(act, origin)
    if span is None:
        raise Unfixable("the test (or read) and the write are in different blocks")
    return [span[0], *(_read_back(act) or [span[-1]])]


def _read_back(act: Act) -> List[ast.stmt]:
    """The simple statements right after an update that read the updated attribute again
    (`Order.next += 1` then `self.number = Order.next`): the lock covers them, or they can read
    another thread's update."""
    block = next((body for node in ast.walk(act.func.node) for body in _blocks(node) if act.stmt in body), None)
    if block is None or act.kind != "rebind" or not (act.reads_self or act.augmented):
        return []
    found: List[ast.stmt] = []
    for stmt in block[block.index(act.stmt) + 1:]:
        if isinstance(stmt, _COMPOUND) or isinstance(stmt, (ast.Return, ast.FunctionDef, ast.ClassDef)) \
                or not any(isinstance(n, ast.Attribute) and n.attr == act.key[-1] for n in ast.walk(stmt)):
            break
        found.append(stmt)
    return found[-1:] if found else []


def _blocks(node: ast.AST) -> List[List[ast.stmt]]:
    return [getattr(node, name) for name in ("body", "orelse", "finalbody") if isinstance(getattr(node, name, None), list)]
