"""The call graph of one module and what it tells about each function.

:mod:`.callers` builds the graph after the per-function walk (callers walked, writes through
helpers, caller context, blind rebindings; `build`, `Uses` and `is_private` are re-exported
here).

:class:`Reach` answers the fixers' questions (which locks, unknown code and blocking calls
a statement can reach) from per-function summaries; recursion and cycles terminate
because every function is summarised once and closures are breadth-first over a set.
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from safestate_lint.engine.bindings import ModuleBindings
from safestate_lint.engine.callers import TOP, Uses, build, is_private, per_instance_lock
from safestate_lint.engine.facts import Binding, FunctionInfo, LockRegion
from safestate_lint.engine.syntax import COMPREHENSIONS, dotted_name, iter_scope_nodes, walk
from safestate_lint.engine.implicit import ImplicitCalls
from safestate_lint.engine.walker import FunctionWalker

__all__ = ["BLOCKING_CALLS", "BLOCKING_METHODS", "BLOCKING_MODULES", "NETWORK_METHODS", "NETWORK_RECEIVERS",
           "PURE_BUILTINS", "Reach", "Summary", "TOP", "Uses", "build", "is_private", "per_instance_lock"]

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
