"""One lock per global (or attribute of a shared instance): after a pass is planned, every other writer that the
pass locks takes the same lock, or no fix of that global is applied (and the summary says
why). A getter that sets the global without the lock `shutdown()` takes is a writer too,
async ones included: a lock that only some writers take excludes nothing.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set, Tuple

from safestate_lint.engine.analysis import Act
from safestate_lint.finding import Finding
from safestate_lint.fixers.base import FixContext, Unfixable

Key = Tuple[str, ...]


def unlocked_writers(ctx: FixContext, key: Key) -> List[Act]:
    """Writes of `key` made at run time without a lock that excludes threads: rebindings, and
    mutations of a container (setting an attribute of a shared object is not a write of the global)."""
    m = ctx.m
    binding = m.binding_of(key)
    kinds = ("rebind", "mutate") if binding is not None and binding.is_container_like else ("rebind",)
    return [act for act in m.acts
            if act.key == key and act.kind in kinds and act.via is None and not act.func.import_time
            and not any(m.thread_capable(region) for region in act.locks)]


def cover_writers(ctx: FixContext, items: List[Tuple[Finding, Optional[Act]]], fixed: Set[Finding]) -> Dict[Key, str]:
    """Put the other unlocked writers of each global this pass locks under the same lock.
    Returns the globals where that is impossible, with the reason: their fixes must not land."""
    from safestate_lint.fixers.shared_state import wrap_statements  # one wrapping logic

    covered = {id(act.stmt) for finding, act in items if finding in fixed and act is not None} | ctx.locked_regions
    refused: Dict[Key, str] = {}
    # a shared instance's attributes share its class's one lock (`("c", class, "")`)
    attributes = {act.key for finding, act in items if finding in fixed and act is not None and act.key[0] == "i"}
    targets = [(key, lock) for key, lock in ctx.locks_used().items() if key[0] == "g"]
    targets += [(key, lock) for key in sorted(attributes) for lock in [ctx.locks_used().get(("c", key[1], ""))] if lock]
    for key, lock in targets:
        if lock == f"{key[1]}.lock":  # a locked container locks its own writes
            continue
        for writer in unlocked_writers(ctx, key):
            if id(writer.stmt) in covered or any(_inside(writer.stmt, ctx, other) for other in covered):
                continue
            try:
                wrap_statements(ctx, writer, [writer.stmt])
                covered.add(id(writer.stmt))
            except Unfixable as why:
                refused[key] = (f"'{writer.func.qualname}()' also writes '{ctx.m.describe(key)}' "
                                f"and cannot take the same lock: {why}")
                break
    return refused


def _inside(stmt: ast.stmt, ctx: FixContext, other: int) -> bool:
    """Whether `stmt` lies inside the statement with id `other` (already under the lock)."""
    node = ctx.m.parent_of(stmt)
    while node is not None:
        if id(node) == other:
            return True
        node = ctx.m.parent_of(node)
    return False
