"""The race model: what goes wrong when an unlocked write meets another thread.

A write without a lock is a race only when it has a consequence (the precision issue's
definition); a lone operation CPython documents as atomic (`engine/atomicity.py`) has none by
itself. :class:`RaceFinder` answers, for one write, which consequence it has and with which
other code, so rules report races rather than mutations:

* a lost update: the write reads what it replaces (`x += 1`);
* a stale check: the write follows a test of the same state;
* a lost transition: an unconditional store overwrites a state that another function sets
  under a lock after testing it;
* a non-atomic operation: the table says other threads can see it half done;
* a torn iteration: another function iterates the container the write changes.
"""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass
from typing import Dict, Optional

from safestate_lint.engine.atomicity import Guarantee, lone_guarantee, operation_of, tears_iteration
from safestate_lint.engine.facts import Act, Binding, SharedKey

__all__ = ["ConsequenceKind", "Race", "RaceFinder", "non_atomic", "tears"]


class ConsequenceKind(enum.Enum):
    LOST_UPDATE = "a lost update"
    STALE_CHECK = "a stale test"
    LOST_TRANSITION = "a lost transition"
    NOT_ATOMIC = "not atomic"
    TORN_ITERATION = "a torn iteration"


@dataclass(frozen=True)
class Race:
    """One write, what goes wrong, and the code it races with (when there is one)."""

    act: Act
    kind: ConsequenceKind
    text: str  # a short clause for the finding's main line
    other: Optional[Act] = None


class RaceFinder:
    """Consequences of unlocked writes in one module (indexes built once)."""

    def __init__(self, m) -> None:  # type: ignore[no-untyped-def]  # ModuleAnalysis (no import cycle)
        self.m = m
        self._iterations: Dict[SharedKey, Act] = {}
        self._transitions: Dict[SharedKey, Act] = {}
        self._locked_updates: Dict[SharedKey, Act] = {}  # read-modify-writes made under a lock
        for act in m.acts:
            if act.kind == "iterate":
                self._iterations.setdefault(act.key, act)
                continue
            if (act.reads_self or act.augmented) and any(m.thread_capable(region) for region in act.locks):
                self._locked_updates.setdefault(act.key, act)
            elif act.check is not None and act.key in act.check.keys \
                    and act.locks and act.check.shares_lock_with(act.locks, m.thread_capable):
                self._transitions.setdefault(act.key, act)

    def race(self, act: Act) -> Optional[Race]:
        """The consequence of the unlocked write `act`, or None when it has none by itself."""
        if act.reads_self or act.augmented:
            return Race(act, ConsequenceKind.LOST_UPDATE, "a lost update")
        check = act.check
        if check is not None and act.key in check.keys and not check.shares_lock_with(act.locks):
            return Race(act, ConsequenceKind.STALE_CHECK,
                        f"tested at line {check.site.lineno}, it can change before this write")
        if act.kind == "mutate":
            binding = self.m.binding_of(act.key)
            unsafe = non_atomic(act, binding.type_name if binding is not None else "")
            if unsafe is not None:
                build = "" if not unsafe.gil else " (free-threaded build)"
                return Race(act, ConsequenceKind.NOT_ATOMIC, unsafe.consequence + build)
            reader = self._iterations.get(act.key)
            if reader is not None and reader.func is not act.func and tears(act, binding):
                return Race(act, ConsequenceKind.TORN_ITERATION,
                            f"'{reader.func.qualname}()' iterates it meanwhile (line {reader.stmt.lineno})", reader)
        update = self._locked_updates.get(act.key)
        if act.kind == "rebind" and update is not None and update.func is not act.func:
            return Race(act, ConsequenceKind.LOST_UPDATE,
                        f"'{update.func.qualname}()' can read before this store and write after it "
                        f"(line {update.stmt.lineno}): the store is lost", update)
        transition = self._transitions.get(act.key)
        if transition is None or transition.func is act.func:
            return None
        where = f"'{transition.func.qualname}()' (line {transition.stmt.lineno})"
        if act.kind == "rebind" and transition.kind == "rebind":
            return Race(act, ConsequenceKind.LOST_TRANSITION, f"it overwrites the transition {where} makes", transition)
        return Race(act, ConsequenceKind.STALE_CHECK, f"it breaks the locked test-then-act in {where}", transition)


def non_atomic(act: Act, type_name: str) -> Optional[Guarantee]:
    """The table's entry when the mutation at `act` is not atomic on every build (None when it
    is, or when the table says nothing about the type: such containers stay with SST105)."""
    if act.inner is not None:
        if isinstance(act.inner, ast.Subscript) and _is_root(act, act.inner.value):
            entry = lone_guarantee(type_name, "getitem-missing")
            if entry is not None and not entry.atomic:
                return entry
        type_name = ""  # the container held inside: its type is not known
    entry = lone_guarantee(type_name, operation_of(act.node, act.detail, type_name))
    if entry is None or entry.atomic:
        return None
    return entry


def tears(act: Act, binding: Optional[Binding]) -> bool:
    """Whether the mutation at `act` can tear an iteration of its container that runs meanwhile
    (`engine/atomicity.py`): an attribute set on an element changes no container, and an
    append to a list moves no element the iteration has yet to read."""
    type_name = binding.type_name if binding is not None and act.inner is None else ""
    return tears_iteration(type_name, operation_of(act.node, act.detail, type_name))


def _is_root(act: Act, node: ast.AST) -> bool:
    """Whether `node` denotes the shared container itself (`X`, or `self.x`)."""
    if isinstance(node, ast.Name):
        return act.key == ("g", node.id)
    return isinstance(node, ast.Attribute) and act.key[0] in ("i", "o", "c") and node.attr == act.key[-1]
