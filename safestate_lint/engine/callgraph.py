"""The call graph of one module and what it tells about each function.

Built after the per-function walk, from the calls each walked function makes to the
module's own functions (:class:`CallSite`):

* callers of functions with facts are walked too, so every call to them is known;
* writes through helpers: a call to a function whose summary rebinds or mutates shared
  state is a write of that state at the call site (so `if app is None: set_app(App())` is
  a lazy initialisation);
* caller context: a function that is not reachable from outside (a private or nested name,
  not in `__all__`, never used as a value) and is called only with lock L held, holds L;
  one called only at import time is not concurrent at all;
* blind rebinding: a function that rebinds a whole global that another function
  reads-modifies-writes.

:class:`Reach` answers the fixers' questions (which locks, unknown code and blocking calls
a statement can reach) from per-function summaries; recursion and cycles terminate
because every function is summarised once and closures are breadth-first over a set.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

from safestate_lint.engine.bindings import _CONSTRUCTORS, ModuleBindings
from safestate_lint.engine.facts import Act, Binding, CallSite, FunctionInfo, LockRegion, SharedKey
from safestate_lint.engine.syntax import COMPREHENSIONS, dotted_name, iter_scope_nodes, walk
from safestate_lint.engine.implicit import ImplicitCalls
from safestate_lint.engine.walker import FunctionWalker

# builtins that never call back into the module's code (beyond dunder methods of their arguments)
PURE_BUILTINS = frozenset({
    "len", "isinstance", "issubclass", "int", "float", "str", "bool", "bytes", "tuple", "list", "dict", "set",
    "frozenset", "sorted", "reversed", "min", "max", "sum", "abs", "range", "enumerate", "zip", "any", "all",
    "id", "round", "divmod", "hash", "type", "repr", "format", "hasattr", "getattr", "iter", "next", "ord", "chr",
    "object", "slice", "callable", "bin", "hex", "oct", "pow", "vars", "super",
})
# calls that can block the calling thread for a long or unbounded time (shared with SST404's list)
BLOCKING_CALLS = frozenset({
    "time.sleep", "input", "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
    "os.system", "os.wait", "os.waitpid", "socket.create_connection",
    "urllib.request.urlopen", "http.client.HTTPConnection", "http.client.HTTPSConnection",
    "select.select", "signal.pause",
})
BLOCKING_MODULES = ("requests", "httpx", "urllib3", "aiohttp", "smtplib", "ftplib", "paramiko")
BLOCKING_METHODS = frozenset({"join", "result", "wait", "communicate", "recv", "recvfrom", "accept", "connect",
                              "sendall", "getresponse", "urlopen"})
# `self.client.post(url)`, `session.get(url)`, `conn.request(...)`: network calls on a client object
NETWORK_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send",
                             "sendall", "recv", "connect", "execute", "fetch", "urlopen", "getresponse"})
NETWORK_RECEIVERS = ("client", "session", "http", "conn", "connection", "sock", "socket", "api", "transport")


@dataclass
class Summary:
    """What a function (or a list of statements) does, directly or through the calls it makes."""

    # lock ident -> where it is taken ("'f()'"), or held by the callers of a function (for the
    # fixers, a lock the code runs under is one it must not take again)
    locks: Dict[str, str] = field(default_factory=dict)
    callees: List[FunctionInfo] = field(default_factory=list)
    unknown: List[str] = field(default_factory=list)  # calls the analysis cannot follow
    external: List[str] = field(default_factory=list)  # calls into other modules (never back into this one)
    blocking: List[str] = field(default_factory=list)
    releases: Dict[str, str] = field(default_factory=dict)  # blocking `C.wait()` -> lock C, which it releases
    yields: bool = False
    awaits: bool = False
    taken: Set[str] = field(default_factory=set)  # the idents of `locks` acquired here, not by the callers
    callbacks: List[str] = field(default_factory=list)  # calls of callables held in attributes or parameters

    @property
    def calls_code(self) -> bool:
        """Calls anything but known-pure builtins and methods of shared containers."""
        return bool(self.callees or self.unknown or self.external)


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
    _caller_context(m)
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


def _caller_context(m: ModuleBindings) -> None:
    """Locks every caller holds, for functions the outside cannot call; drop the facts of
    functions called only at import time (or only from such functions)."""
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
            here = frozenset(r.ident or r.name for r in site.locks if m.thread_capable(r))
            caller = held.get(id(site.caller), frozenset())
            if caller is not None:
                result = here | caller if result is None else result & (here | caller)
            building = site.caller.name in _CONSTRUCTORS or only_constructors.get(id(site.caller), False)
            caller = held_object.get(id(site.caller), frozenset())
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


# -- what a statement can reach (for the fixers) ---------------------------------------------------


def blocking_call(qualified: str, patterns: Sequence[str] = ()) -> bool:
    """Whether a call of this qualified name blocks: a known blocking call, a configured
    `blocking-calls` pattern, or a function of a client library (its classes, such as
    `requests.Session()`, only build a client, which connects on first use)."""
    if qualified in BLOCKING_CALLS or any(fnmatch.fnmatchcase(qualified, p) for p in patterns):
        return True
    return qualified.startswith(tuple(f"{m}." for m in BLOCKING_MODULES)) \
        and not qualified.rsplit(".", 1)[-1][:1].isupper()


def blocking_functions(m: ModuleBindings) -> Dict[str, Tuple[str, List[str]]]:
    """For each module-level function: the first blocking call it makes itself (or "") and the
    names it calls (as written), for the project index's cross-module SST404."""
    found: Dict[str, Tuple[str, List[str]]] = {}
    for stmt in m.tree.body:
        if not isinstance(stmt, ast.FunctionDef):
            continue
        direct = ""
        called: List[str] = []
        for node in walk(stmt):
            if not isinstance(node, ast.Call) or dotted_name(node.func) is None:
                continue
            qualified = m.qualify(node.func)
            if not direct and qualified is not None and blocking_call(qualified, m.config.blocking_calls) \
                    and not _returns_at_once(qualified, node):
                direct = f"'{dotted_name(node.func)}()'"
            called.append(dotted_name(node.func) or "")
        found[stmt.name] = (direct, called)
    return found


def _returns_at_once(qualified: str, call: ast.Call) -> bool:
    """`time.sleep(0)` only yields the processor; `os.waitpid(pid, os.WNOHANG)` only polls."""
    if qualified == "time.sleep":
        return bool(call.args) and isinstance(call.args[0], ast.Constant) and call.args[0].value == 0
    if qualified in ("os.waitpid", "os.wait3", "os.wait4"):
        return any(isinstance(n, (ast.Name, ast.Attribute)) and (dotted_name(n) or "").endswith("WNOHANG")
                   for arg in call.args for n in walk(arg))
    return False


_RECEIVES = frozenset({"recv", "recv_bytes", "recv_bytes_into", "get", "get_nowait"})


def _polled_receives(nodes: Iterable[ast.AST]) -> Set[int]:
    """The receives a `while r.poll(): r.recv()` / `if r.poll(): ...` test said are ready: they
    return at once (multiprocessing's `Pool._help_stuff_finish`)."""
    found: Set[int] = set()
    for node in nodes:
        if not isinstance(node, (ast.While, ast.If)):
            continue
        ready = {dotted_name(c.func.value) for c in walk(node.test)
                 if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "poll"}
        ready.discard(None)
        if ready:
            found.update(id(c) for stmt in node.body for c in walk(stmt)
                         if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                         and c.func.attr in _RECEIVES and dotted_name(c.func.value) in ready)
    return found


def _last_name(expr: ast.expr) -> str:
    """`sock` for `self.sock`, `""` for an expression that is no dotted name."""
    return (dotted_name(expr) or "").rsplit(".", 1)[-1]


def _network_receiver(func: ast.Attribute) -> bool:
    """`self.session.get`, `conn.send`: a method of an object named like a client."""
    return _last_name(func.value).lower().lstrip("_").endswith(NETWORK_RECEIVERS)


def _waits_for_others(func: ast.Attribute, call: ast.Call) -> bool:
    """`q.get()` on a queue, `pool.map(...)`/`executor.map(...)`, `cond.wait_for(pred)`: the
    thread waits until another thread makes progress."""
    receiver = _last_name(func.value).lower().lstrip("_")
    if func.attr == "wait_for":
        return True
    if func.attr == "get" and not call.args[:1] and not any(
            k.arg == "block" and isinstance(k.value, ast.Constant) and not k.value.value for k in call.keywords):
        return receiver == "q" or receiver.endswith(("queue", "_q", "inbox"))  # a timed get waits too
    if func.attr in ("map", "starmap"):
        return receiver.endswith(("pool", "executor"))
    return False


class Reach:
    """Per-function summaries and their closures over the call graph, computed on demand."""

    def __init__(self, m: ModuleBindings, *, for_fixes: bool = False) -> None:
        """`for_fixes`: summaries also follow the calls the code never spells out
        (`engine/implicit.py`) and note the callbacks it calls: over-approximations the fixers'
        safety checks want, and findings do not."""
        self.m = m
        self._implicit = ImplicitCalls(m) if for_fixes else None
        self._loop_names: Dict[int, Set[str]] = {}  # function -> names its loops and comprehensions bind
        self._direct: Dict[int, Summary] = {}
        self._uses: Optional[Uses] = None
        self._under: Dict[str, Tuple[Set[int], List[str]]] = {}
        self._polled: Dict[int, Set[int]] = {}  # function -> its receives a `poll()` test said are ready
        self._poll_offsets: Optional[List[int]] = None
        self._nonblocking_names: Optional[Set[str]] = None  # sockets made non-blocking (their last names)

    def walker(self, info: FunctionInfo) -> FunctionWalker:
        info.ensure_scope()
        return FunctionWalker(self.m, info)

    def statements(self, info: FunctionInfo, stmts: Sequence[ast.AST]) -> Summary:
        """What these statements of `info` do themselves (not through their callees)."""
        w = self.walker(info)
        out = Summary()
        stack: List[ast.AST] = list(iter_scope_nodes(stmts))
        # `await x.wait()` suspends a task; it does not block the thread (collected before the
        # loop: it pops a call before the `await` around it)
        awaited = {id(node.value) for node in stack if isinstance(node, ast.Await)} | self._polled_in(info)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):
                stack.extend(iter_scope_nodes([node.body]))
            elif isinstance(node, COMPREHENSIONS):  # run here, at once (`sum(f(x) for x in xs)`)
                parts = [getattr(node, name) for name in ("elt", "key", "value") if hasattr(node, name)]
                parts += [cond for gen in node.generators for cond in gen.ifs] + [gen.iter for gen in node.generators[1:]]
                stack.extend(iter_scope_nodes(parts))
            elif isinstance(node, (ast.Yield, ast.YieldFrom)):
                out.yields = True
            elif isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
                out.awaits = True
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    region = w.lock_of(item.context_expr)
                    if region is not None:
                        out.locks.setdefault(region.ident or region.name, f"'{info.qualname}()'")
                        out.taken.add(region.ident or region.name)
            if isinstance(node, ast.Call):
                self._classify_call(w, node, out, id(node) in awaited)  # awaited or polled: no block
        for callee in self._implicit.callees(w, stmts) if self._implicit is not None else ():
            if all(callee is not known for known in out.callees):
                out.callees.append(callee)
        return out

    def _bound_by_loops(self, info: FunctionInfo) -> Set[str]:
        found = self._loop_names.get(id(info))
        if found is None:
            found = self._loop_names[id(info)] = {
                n.target.id for n in walk(info.node)
                if isinstance(n, (ast.For, ast.comprehension)) and isinstance(n.target, ast.Name)}
        return found

    def _released(self, w: FunctionWalker, cond: ast.expr, region: LockRegion) -> str:
        """The locks a `cond.wait()` releases, comma-separated: the condition, and the lock it was
        built on (`self.cv = threading.Condition(self.lock)`)."""
        idents = [region.ident or region.name]
        binding: Optional[Binding] = None
        if isinstance(cond, ast.Name):
            binding = self.m.bindings.get(cond.id)
        elif isinstance(cond, ast.Attribute) and w.info.class_name is not None:
            found = self.m.lock_owner(w.info.class_name, cond.attr)
            binding = found[1] if found is not None else None
        if binding is not None and binding.wraps:
            try:
                underlying = w.lock_of(ast.parse(binding.wraps, mode="eval").body)
            except SyntaxError:  # pragma: no cover - a dotted name always parses
                underlying = None
            if underlying is not None:
                idents.append(underlying.ident or underlying.name)
        return ",".join(idents)

    def _is_callback(self, w: FunctionWalker, func: ast.expr) -> bool:
        """A call of a callable the code was handed: a parameter (`callback(x)`), a name bound by
        a loop (`for listener in self._listeners: listener(e)`), or an attribute of `self` that no
        class of the module defines as a method (`self.on_close(...)`): foreign code, which can
        take any lock."""
        info = w.info
        if isinstance(func, ast.Name):
            params = {a.arg for a in [*info.node.args.posonlyargs, *info.node.args.args, *info.node.args.kwonlyargs]}
            return func.id in params - {info.self_param or "", info.cls_param or ""} or \
                (func.id not in self.m.bindings and func.id in self._bound_by_loops(info))
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and info.self_param \
                and func.value.id == info.self_param and info.class_name is not None:
            owners = [info.class_name, *self.m.bases(info.class_name)]
            return not any((owner, func.attr) in self.m.function_index for owner in owners) \
                and not any(func.attr == (getattr(s, "name", None)) for owner in owners for s in self.m.classes[owner].body) \
                and (info.class_name, func.attr) not in self.m.class_attrs
        return False

    def _polled_in(self, info: FunctionInfo) -> Set[int]:
        """The receives of `info` that a `poll()` test guards (found once per function, and only
        in functions whose text says `poll`)."""
        found = self._polled.get(id(info))
        if found is None:
            if self._poll_offsets is None:
                self._poll_offsets = self.m._occurrences(["poll"])
            found = _polled_receives(iter_scope_nodes(info.node.body)) \
                if self.m._node_contains(self._poll_offsets, info.node) else set()
            self._polled[id(info)] = found
        return found

    def _classify_call(self, w: FunctionWalker, call: ast.Call, out: Summary, awaited: bool = False) -> None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "acquire":
            region = w.lock_of(func.value)
            if region is not None:
                out.locks.setdefault(region.ident or region.name, f"'{w.info.qualname}()'")
                out.taken.add(region.ident or region.name)
                return
        callee = w.callee(call)
        if callee is not None:
            out.callees.append(callee)
            return
        written = dotted_name(func) or "<expression>"
        if self._implicit is not None and self._is_callback(w, func):
            out.callbacks.append(f"'{written}()'")
        qualified = self.m.qualify(func) if dotted_name(func) else None
        if awaited:
            pass
        elif qualified is not None and self._blocking(qualified):
            if not _returns_at_once(qualified, call):
                out.blocking.append(f"'{written}()'")
        elif isinstance(func, ast.Attribute) and func.attr in BLOCKING_METHODS and not call.args \
                and not call.keywords and func.attr != "connect":
            out.blocking.append(f"'{written}()'")
            waited = w.lock_of(func.value) if func.attr == "wait" else None
            if waited is not None:  # `cond.wait()` releases `cond` (and the lock it was built on) while it waits
                out.releases[out.blocking[-1]] = self._released(w, func.value, waited)
        elif isinstance(func, ast.Attribute) and _waits_for_others(func, call):
            out.blocking.append(f"'{written}()' (waits for another thread)")
            waited = w.lock_of(func.value) if func.attr == "wait_for" else None
            if waited is not None:  # `cond.wait_for(pred)` releases `cond` while it waits
                out.releases[out.blocking[-1]] = self._released(w, func.value, waited)
        elif isinstance(func, ast.Attribute) and func.attr in NETWORK_METHODS \
                and _network_receiver(func) and _last_name(func.value) not in self._non_blocking():
            out.blocking.append(f"'{written}()' (network or database I/O)")
        if isinstance(func, ast.Name):
            if func.id in PURE_BUILTINS and func.id not in w.info.locals and func.id not in self.m.bindings:
                return
        if isinstance(func, ast.Attribute):
            key, _depth = w.root_key(func.value, through_calls=True)
            binding = self.m.binding_of(key) if key is not None else None
            if binding is not None and binding.is_container_like:
                return  # a method of the shared container itself
            if isinstance(func.value, ast.Constant):
                return  # "".join(...), "{}".format(...)
        elsewhere = self.m.external_blocking.get(written)
        if elsewhere is not None and not awaited and written.split(".", 1)[0] not in w.info.locals:
            out.blocking.append(f"'{written}()' (it calls {elsewhere})")
        head = written.split(".", 1)[0]
        if qualified is not None and head in self.m.imports and head not in w.info.locals \
                and not self._passes_code(w, call):
            out.external.append(f"'{written}()'")
            return
        out.unknown.append(f"'{written}()'")

    def _blocking(self, qualified: str) -> bool:
        return blocking_call(qualified, self.m.config.blocking_calls)

    def _non_blocking(self) -> Set[str]:
        """The last names of sockets the module makes non-blocking (`X.setblocking(False)`,
        `X.settimeout(0)`): their `send`/`recv` return at once."""
        if self._nonblocking_names is None:
            self._nonblocking_names = set()
            if self.m._occurrences(["setblocking", "settimeout"]):
                for node in walk(self.m.tree):
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                            and node.func.attr in ("setblocking", "settimeout") and len(node.args) == 1 \
                            and isinstance(node.args[0], ast.Constant) and node.args[0].value in (False, 0) \
                            and dotted_name(node.func.value) is not None:
                        self._nonblocking_names.add(_last_name(node.func.value))
        return self._nonblocking_names

    def _passes_code(self, w: FunctionWalker, call: ast.Call) -> bool:
        """A call into another module that receives one of this module's functions (a callback)."""
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            if isinstance(arg, ast.Lambda):
                return True
            name = dotted_name(arg)
            if name is None:
                continue
            head = name.split(".", 1)[0]
            binding = self.m.bindings.get(head)
            if (binding is not None and binding.kind in ("function", "class")) or head == w.info.self_param:
                return True
        return False

    def direct(self, info: FunctionInfo) -> Summary:
        key = id(info)
        if key not in self._direct:
            summary = self.statements(info, info.node.body)
            for region in info.held:
                summary.locks.setdefault(region.ident or region.name, f"the callers of '{info.qualname}()'")
            self._direct[key] = summary
        return self._direct[key]

    def closure(self, start: Summary) -> Summary:
        """`start` with everything its callees reach, transitively (each function once)."""
        out = Summary(dict(start.locks), list(start.callees), list(start.unknown), list(start.external),
                      list(start.blocking), dict(start.releases), start.yields, start.awaits, set(start.taken),
                      list(start.callbacks))
        seen: Set[int] = set()
        queue = list(start.callees)
        while queue:
            info = queue.pop()
            if id(info) in seen:
                continue
            seen.add(id(info))
            summary = self.direct(info)
            for ident in summary.locks:
                out.locks.setdefault(ident, f"'{info.qualname}()'")
            out.taken |= summary.taken
            out.unknown.extend(f"{call} (in '{info.qualname}()')" for call in summary.unknown)
            out.callbacks.extend(f"{call} (in '{info.qualname}()')" for call in summary.callbacks)
            for call in summary.blocking:
                out.blocking.append(f"{call} (in '{info.qualname}()')")
                if call in summary.releases:
                    out.releases[out.blocking[-1]] = summary.releases[call]
            queue.extend(summary.callees)
        return out

    def reached(self, start: Summary) -> Set[int]:
        """The ids of every function `start` can call, transitively."""
        seen: Set[int] = set()
        queue = list(start.callees)
        while queue:
            info = queue.pop()
            if id(info) not in seen:
                seen.add(id(info))
                queue.extend(self.direct(info).callees)
        return seen

    def uses(self) -> Uses:
        if self._uses is None:
            self._uses = Uses(self.m)
        return self._uses

    def under(self, ident: str) -> Tuple[Set[int], List[str]]:
        """The functions that can run while lock `ident` is held, and the unknown calls made under it."""
        if ident in self._under:
            return self._under[ident]
        reached: Set[int] = set()
        unknown: List[str] = []
        starts: List[FunctionInfo] = []
        for info in self.m.functions:
            if info.import_time:
                continue
            if any((r.ident or r.name) == ident for r in info.held):
                summary = self.closure(self.direct(info))
                starts.extend(summary.callees)
                unknown.extend(summary.unknown)
                continue
            w = self.walker(info)
            for node in iter_scope_nodes(info.node.body):
                if isinstance(node, (ast.With, ast.AsyncWith)) and any(
                        (r.ident or r.name) == ident for r in filter(None, (w.lock_of(i.context_expr) for i in node.items))):
                    summary = self.closure(self.statements(info, node.body))
                    starts.extend(summary.callees)
                    unknown.extend(summary.unknown)
        queue = starts
        while queue:
            info = queue.pop()
            if id(info) in reached:
                continue
            reached.add(id(info))
            queue.extend(self.direct(info).callees)
        self._under[ident] = (reached, unknown)
        return reached, unknown

    def reachable_from_outside(self, info: FunctionInfo) -> bool:
        return not self.uses().internal(info)
