"""Who calls whom in one module, and what that tells about each function (the call graph's
first step, after the per-function walk):

Built from the calls each walked function makes to the module's own functions
(:class:`CallSite`):

* callers of functions with facts are walked too, so every call to them is known;
* writes through helpers: a call to a function whose summary rebinds or mutates shared
  state is a write of that state at the call site (so `if app is None: set_app(App())` is
  a lazy initialisation);
* caller context: a function that is not reachable from outside (a private or nested name,
  not in `__all__`, never used as a value) and is called only with lock L held, holds L;
  one called only at import time is not concurrent at all;
* blind rebinding: a function that rebinds a whole global that another function
  reads-modifies-writes.

:mod:`.callgraph` builds on it (:class:`Reach`, for the fixers).
"""

from __future__ import annotations

import ast
import bisect
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

from safestate_lint.engine.bindings import _CONSTRUCTORS, ModuleBindings
from safestate_lint.engine.confinement import confined_key, owner_thread_state
from safestate_lint.engine.facts import Act, CallSite, FunctionInfo, LockRegion, SharedKey
from safestate_lint.engine.phases import before_start
from safestate_lint.engine.syntax import dotted_name, is_super_call, iter_scope_nodes

__all__ = ["TOP", "Uses", "build", "consumed_in_place", "is_generator", "is_private", "per_instance_lock"]

# -- building the graph ---------------------------------------------------------------------------


def build(m: ModuleBindings, walk) -> None:  # type: ignore[no-untyped-def]
    """Walk the callers of functions with facts, add writes through helpers, apply the
    caller context and find blind rebindings.  `walk(info)` runs the per-function walk."""
    propagated: Set[Tuple[int, SharedKey]] = set()
    writes: Dict[int, Dict[SharedKey, Act]] = {}
    for act in m.acts:
        if act.kind in ("rebind", "mutate"):
            writes.setdefault(id(act.func), {}).setdefault(act.key, act)
    done_names: Set[str] = set()
    for _ in range(len(m.functions) + 1):
        with_acts = {id(act.func) for act in m.acts}
        names = {_called_as(info) for info in m.functions if id(info) in writes or id(info) in with_acts} - done_names
        if not names:
            break
        done_names |= names
        offsets = m._occurrences(names)
        for info in m.functions:
            if not info.walked and not info.import_time and m._node_contains(offsets, info.node):
                info.ensure_scope()
                walk(info)
        _propagate_writes(m, writes, propagated)
    early = before_start(m)
    _caller_context(m, early)
    if early:  # the object's own state, written before its class's thread starts: not concurrent
        m.acts[:] = [act for act in m.acts if act.key[0] not in ("i", "o") or id(act.stmt) not in early]
    confined = owner_thread_state(m)
    if confined:  # state no thread-safe method of its class touches: its owner thread's alone
        m.acts[:] = [act for act in m.acts if not confined_key(confined, act.key, m)]
    _blind_rebinds(m)


def _called_as(info: FunctionInfo) -> str:
    """The name a call to this function mentions (a constructor is called through its class)."""
    return info.class_name if info.name == "__init__" and info.class_name else info.name


def _propagate_writes(m: ModuleBindings, writes: Dict[int, Dict[SharedKey, Act]],
                      propagated: Set[Tuple[int, SharedKey]]) -> None:
    """A call to a helper that writes shared state is a write of it at the call site."""
    incoming: Dict[int, List[CallSite]] = {}
    for site in m.calls:
        if not site.dispatch:  # an override's writes are its own instance's, reported there
            incoming.setdefault(id(site.callee), []).append(site)
    queue = [info for info in m.functions if id(info) in writes]
    while queue:
        callee = queue.pop()
        for site in incoming.get(id(callee), ()):
            if site.caller is callee:
                continue
            for key, source in list(writes.get(id(callee), {}).items()):
                if (id(site.node), key) in propagated:
                    continue
                propagated.add((id(site.node), key))
                act = Act(key, source.kind, site.stmt, site.node, site.locks, site.caller,
                          f"call to '{callee.qualname}()'", resets=source.resets, via=callee)
                for check in reversed(site.checks):
                    if key in check.keys:
                        act.check = check
                        break
                m.acts.append(act)
                mine = writes.setdefault(id(site.caller), {})
                if key not in mine:
                    mine[key] = act
                    queue.append(site.caller)


def _module_level_nodes(m: ModuleBindings) -> List[ast.AST]:
    """Nodes that run at import time: module statements and class bodies, not function bodies."""
    nodes: List[ast.AST] = []
    stack: List[ast.stmt] = list(m.tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.ClassDef):
            stack.extend(stmt.body)
        nodes.extend(iter_scope_nodes([stmt]))
    return nodes


def is_private(info: FunctionInfo) -> bool:
    name = info.name
    return bool(info.parents) or (name.startswith("_") and not (name.startswith("__") and name.endswith("__")))


_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod"})


def _exported(m: ModuleBindings) -> Set[str]:
    binding = m.bindings.get("__all__")
    value = getattr(binding.node, "value", None) if binding is not None else None
    if isinstance(value, (ast.List, ast.Tuple)):
        return {e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


class Uses:
    """Where each function's name is used, to know which functions the outside cannot call."""

    def __init__(self, m: ModuleBindings) -> None:
        self.m = m
        self.exported = _exported(m)
        self.sites: Dict[int, List[CallSite]] = {}
        for site in m.calls:
            self.sites.setdefault(id(site.callee), []).append(site)
        self._module_nodes: Optional[Dict[str, List[ast.AST]]] = None
        self._module_calls: Set[int] = set()  # the callee expressions of module-level calls
        self._internal: Dict[int, Optional[bool]] = {}
        self.unresolved: Set[int] = set()  # private functions some call may reach that the graph cannot resolve
        self._line_owner: Optional[List[Optional[FunctionInfo]]] = None
        self.import_time_calls: Dict[int, int] = {}

    def internal(self, info: FunctionInfo) -> bool:
        """Private, not exported, not decorated, and every use of its name is a call the graph knows
        (or a call made at import time)."""
        key = id(info)
        if key not in self._internal:
            self._internal[key] = self._compute(info)
        return bool(self._internal[key])

    def _module_uses(self) -> Dict[str, List[ast.AST]]:
        """Module-level code (import time, class bodies, decorators, defaults): each name used,
        with the calls among those uses."""
        if self._module_nodes is None:
            self._module_nodes = {}
            for node in _module_level_nodes(self.m):
                used = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
                if used is not None:
                    self._module_nodes.setdefault(used, []).append(node)
                if isinstance(node, ast.Call):
                    self._module_calls.add(id(node.func))
        return self._module_nodes

    def _owners(self, offsets: List[int]) -> Tuple[List[FunctionInfo], bool]:
        """The functions whose own scope holds one of these text offsets (with their enclosing
        functions, whose scope holds a nested def's defaults), and whether module-level code does."""
        m = self.m
        if m._text is None:
            return list(m.functions), True
        if self._line_owner is None:
            table: List[Optional[FunctionInfo]] = [None] * (len(m._line_starts) + 1)
            for info in sorted(m.functions, key=lambda f: f.node.lineno):  # inner defs after outer ones
                first = min([info.node.lineno] + [d.lineno for d in info.node.decorator_list])
                for line in range(first, (info.node.end_lineno or info.node.lineno) + 1):
                    table[line] = info
            self._line_owner = table
        found: Dict[int, FunctionInfo] = {}
        module_level = False
        for offset in offsets:
            line = bisect.bisect_right(m._line_starts, offset)
            owner = self._line_owner[line] if line < len(self._line_owner) else None
            if owner is None:
                module_level = True
                continue
            for scope in [owner, *owner.parents]:
                found[id(scope)] = scope
            if not owner.parents and line < owner.node.body[0].lineno:
                module_level = True  # a top-level def's decorators and defaults run at import time
        return list(found.values()), module_level

    def _compute(self, info: FunctionInfo) -> bool:
        m = self.m
        # public, but no other module of the program names it (the project index): its callers are here
        if not (is_private(info) or info.name in m.module_only) or info.name in self.exported \
                or info.name in _CONSTRUCTORS:
            return False
        if any(dotted_name(d) not in _PLAIN_DECORATORS for d in info.node.decorator_list):
            return False
        name, is_method = info.name, info.class_name is not None
        known = {id(site.node.func) for site in self.sites.get(id(info), ())}
        offsets = m._occurrences([name])
        if m._text is not None and not offsets:
            return False
        import_time = 0
        scopes: List[Tuple[Optional[FunctionInfo], Iterable[ast.AST]]] = []
        owners, module_level = self._owners(offsets)
        for other in owners:
            scopes.append((other, iter_scope_nodes(other.node.body)))
        if module_level:
            scopes.append((None, self._module_uses().get(name, ())))
        for owner, nodes in scopes:
            calls: Set[int] = self._module_calls if owner is None else set()
            uses: List[ast.AST] = []
            for node in nodes:
                if isinstance(node, ast.Call) and owner is not None:
                    calls.add(id(node.func))
                if (isinstance(node, ast.Name) and node.id == name and not is_method
                        and isinstance(node.ctx, ast.Load)) or \
                        (isinstance(node, ast.Attribute) and node.attr == name and is_method):
                    uses.append(node)
            for use in uses:
                if isinstance(use, ast.Attribute) and is_super_call(use.value) and not (
                        owner is not None and owner.class_name is not None
                        and info.class_name in m.bases(owner.class_name)):
                    continue  # `super().name` runs a base's method: never this class's own, nor an unrelated one
                if id(use) not in calls:
                    return False  # used as a value: passed, stored or returned
                if owner is None or owner.import_time:
                    import_time += 1
                elif not owner.walked or id(use) not in known:
                    self.unresolved.add(id(info))
                    return False  # a call the graph could not resolve to this function (an override, say)
        self.import_time_calls[id(info)] = import_time
        return bool(known) or import_time > 0


TOP: Optional[FrozenSet[str]] = None  # "every lock": called only where nothing runs concurrently


def _caller_context(m: ModuleBindings, early: Set[int]) -> None:
    """Locks every caller holds, for functions the outside cannot call; drop the facts of
    functions called only at import time (or only from such functions). A call in `early` (a
    statement before its class's thread starts) is made as from a constructor."""
    with_acts = {id(act.func) for act in m.acts}
    if not with_acts:
        return
    uses = Uses(m)
    by_id = {id(info): info for info in m.functions}
    # the functions whose context matters: those with facts, and their callers, transitively
    relevant: Set[int] = set(with_acts)
    frontier = list(with_acts)
    while frontier:
        current = frontier.pop()
        for site in uses.sites.get(current, ()):
            if id(site.caller) not in relevant:
                relevant.add(id(site.caller))
                frontier.append(id(site.caller))
    # a function every call from another module makes under a lock (the project index) is entered
    # from there with that lock held, like a private helper called under it
    external = {id(info): frozenset(m.external_held[info.qualname]) for info in m.functions
                if info.qualname in m.external_held and info.class_name is None and not info.parents}
    internal = {key for key in relevant if uses.internal(by_id[key]) or key in external}
    if not internal:
        return
    # an internal function never entered from outside the cycle it is in (only recursive calls, or
    # called from another module that imports the private name) cannot be judged: nothing is held
    entered: Set[int] = set()
    calls_from: Dict[int, List[int]] = {}
    for site in m.calls:
        calls_from.setdefault(id(site.caller), []).append(id(site.callee))
    frontier = [key for key in internal if uses.import_time_calls.get(key) or key in external or
                any(id(site.caller) not in internal for site in uses.sites.get(key, ()))]
    while frontier:
        key = frontier.pop()
        if key in entered:
            continue
        entered.add(key)
        frontier.extend(callee for callee in calls_from.get(key, ()) if callee in internal)
    internal &= entered
    if not internal:
        return
    held: Dict[int, Optional[FrozenSet[str]]] = {key: TOP for key in internal}
    # the same, for the object's own attributes: a call from its constructor cannot race on it
    held_object: Dict[int, Optional[FrozenSet[str]]] = {key: TOP for key in internal}
    regions: Dict[str, LockRegion] = {}
    only_constructors: Dict[int, bool] = {key: True for key in internal}
    callees_of: Dict[int, List[int]] = {}
    for site in m.calls:
        callees_of.setdefault(id(site.caller), []).append(id(site.callee))
        for region in site.locks:
            regions.setdefault(region.ident or region.name, region)
    for key, idents in external.items():
        for ident in idents:
            regions.setdefault(ident, LockRegion(0, ident, False, by_id[key].node, ident))
    queue = list(internal)
    while queue:
        key = queue.pop()
        result: Optional[FrozenSet[str]] = TOP
        result_object: Optional[FrozenSet[str]] = TOP
        ctor_only = True
        if key in external:
            result = result_object = external[key]
            ctor_only = False
        for site in uses.sites.get(key, ()):
            # a generator runs where it is iterated: the call's locks count only when it is iterated there
            lazy = is_generator(by_id[key]) and not consumed_in_place(site)
            here = frozenset() if lazy else frozenset(r.ident or r.name for r in site.locks if m.thread_capable(r))
            caller = frozenset() if lazy else held.get(id(site.caller), frozenset())
            if caller is not None:
                result = here | caller if result is None else result & (here | caller)
            building = site.caller.name in _CONSTRUCTORS or only_constructors.get(id(site.caller), False) \
                or id(site.stmt) in early
            caller = frozenset() if lazy else held_object.get(id(site.caller), frozenset())
            if caller is not None and not building:
                result_object = here | caller if result_object is None else result_object & (here | caller)
            if not building:
                ctor_only = False
        if result != held[key] or result_object != held_object[key] or ctor_only != only_constructors[key]:
            held[key] = result
            held_object[key] = result_object
            only_constructors[key] = ctor_only
            queue.extend(c for c in callees_of.get(key, ()) if c in internal)
    dropped: Set[int] = set()
    object_held: Dict[int, Tuple[LockRegion, ...]] = {}
    for key in internal:
        locks = held_object[key]
        if locks:
            object_held[key] = tuple(LockRegion(hash((key, ident)), regions[ident].name, regions[ident].async_lock,
                                                by_id[key].node, ident, regions[ident].reentrant) for ident in sorted(locks))
    for key in internal:
        info = by_id[key]
        locks = held[key]
        if locks is None:
            dropped.add(key)  # reached only from import-time code: not concurrent
            continue
        info.held = tuple(LockRegion(hash((key, ident)), regions[ident].name, regions[ident].async_lock, info.node,
                                     ident, regions[ident].reentrant) for ident in sorted(locks))
    # constructors' helpers do not race on the instance being built
    ctor_helpers = {key for key in internal if only_constructors[key] and uses.sites.get(key)}
    kept: List[Act] = []
    seen_checks: Set[int] = set()
    for act in m.acts:
        key = id(act.func)
        per_object = act.key[0] in ("i", "o")  # an attribute of the object whose methods hold its lock
        if key in dropped or (key in ctor_helpers and per_object):
            continue
        held_here = object_held.get(key, act.func.held) if per_object else \
            tuple(r for r in act.func.held if not per_instance_lock(m, r))
        if held_here:
            act.locks = held_here + act.locks
            check = act.check
            if check is not None and id(check) not in seen_checks:
                seen_checks.add(id(check))
                check.locks = held_here + check.locks
        kept.append(act)
    m.acts[:] = kept


_CONSUMERS = frozenset({"list", "tuple", "set", "frozenset", "dict", "sorted", "sum", "min", "max", "any", "all",
                        "enumerate", "next", "zip", "join"})


def is_generator(info: FunctionInfo) -> bool:
    """A generator function: its body runs as it is iterated, not when it is called."""
    return any(isinstance(node, (ast.Yield, ast.YieldFrom)) for node in iter_scope_nodes(info.node.body))


def consumed_in_place(site: CallSite) -> bool:
    """The generator a call makes is iterated in the statement that calls it (`for x in self._gen():`,
    `list(self._gen())`, a comprehension over it, `yield from` it), under the locks held there."""
    call, stmt = site.node, site.stmt
    if isinstance(stmt, (ast.For, ast.AsyncFor)) and stmt.iter is call:
        return True
    for node in ast.walk(stmt):
        if isinstance(node, ast.comprehension) and node.iter is call:
            return True
        if isinstance(node, ast.YieldFrom) and node.value is call:
            return True
        if isinstance(node, ast.Call) and any(arg is call for arg in node.args):
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name in _CONSUMERS:
                return True
    return False


def per_instance_lock(m: ModuleBindings, region: LockRegion) -> bool:
    """A lock each instance creates for itself (`self._lock = Lock()` in `__init__`): it
    excludes the callers of one instance, not the module's globals or class attributes."""
    owner, _, attr = (region.ident or "").partition(".")
    cls = m.classes.get(owner)
    if cls is None or not attr or "." in attr:
        return False
    return not any(isinstance(stmt, (ast.Assign, ast.AnnAssign)) and any(
        isinstance(t, ast.Name) and t.id == attr
        for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])) for stmt in cls.body)


def _blind_rebinds(m: ModuleBindings) -> None:
    """`X = {...}` without a lock in one function while another reads and updates X (or an item
    of it): the rebinding is a write that the other function's read-modify-write can lose."""
    updaters: Dict[SharedKey, Act] = {}
    for act in m.acts:
        if act.key[0] != "g" or act.via is not None:
            continue
        tested = act.check is not None and act.key in act.check.keys and act.key not in act.check.lazy_keys
        if (act.kind == "mutate" and (act.reads_self or tested)) or (act.kind == "rebind" and act.reads_self):
            updaters.setdefault(act.key, act)
    if not updaters:
        return
    for act in m.acts:
        other = updaters.get(act.key)
        if other is None or act.kind != "rebind" or act.via is not None or act.locks or act.reads_self \
                or other.func is act.func or (act.check is not None and act.key in act.check.keys):
            continue
        act.races_with = other
