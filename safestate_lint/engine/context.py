"""Execution context: which code runs on an event loop, which in threads, and which windows of
a coroutine span an `await`.

Tasks of one event loop switch only where a coroutine awaits: a read-modify-write or a
check-then-act with no `await` between its steps cannot interleave with another task of the
same loop.  Threads (and other loops) can interleave anywhere.  So each function gets a
context, from the module's call graph:

* an `async def` runs on an event loop; so does a sync helper that only coroutines call (a
  private function, every use of it a call the graph knows);
* a function the module hands to a thread (`loop.run_in_executor(ex, f)`,
  `asyncio.to_thread(f)`, `Thread(target=f)`, `executor.submit(f)` / `.map(f, ...)`,
  `Timer(t, f)`, through `functools.partial` and lambdas), a sync route handler (run in a
  thread pool), and any sync function callable from outside the module runs in threads, and
  so does a coroutine a thread runs with `asyncio.run(...)` / `run_until_complete(...)`;
* a helper inherits its callers' contexts.  Where the context cannot be decided (a function
  used as a value, a callee the graph cannot follow) the code counts as running in threads,
  so nothing real is hidden.

The context of a piece of shared state is the join of the contexts of the functions that
write, mutate or iterate it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Set, Tuple

from safestate_lint.engine.bindings import _CONSTRUCTORS, ModuleBindings
from safestate_lint.engine.callgraph import Uses, is_private
from safestate_lint.engine.facts import Act, FunctionInfo, SharedKey
from safestate_lint.engine.syntax import child_nodes, dotted_name, walk
from safestate_lint.engine.walker import FunctionWalker

# call -> index of the argument that is the function run in another thread
_THREAD_FUNCTIONS: Dict[str, int] = {
    "asyncio.to_thread": 0, "threading.Thread": 1, "threading.Timer": 1, "_thread.start_new_thread": 0,
    "anyio.to_thread.run_sync": 0, "starlette.concurrency.run_in_threadpool": 0,
    "fastapi.concurrency.run_in_threadpool": 0, "asyncer.asyncify": 0,
}
_THREAD_METHODS: Dict[str, int] = {  # `<anything>.name(...)`
    "run_in_executor": 1, "to_thread": 0, "submit": 0, "map": 0, "apply_async": 0, "imap": 0,
    "imap_unordered": 0, "starmap": 0, "run_sync": 0, "run_in_threadpool": 0, "start_new_thread": 0,
}
# `<loop>.name(...)`: schedules a callback on an event loop, which runs it on the loop's thread;
# the index of the argument that is the callback
LOOP_CALLBACKS: Dict[str, int] = {
    "call_soon": 0, "call_soon_threadsafe": 0, "call_later": 1, "call_at": 1, "add_callback": 0,
    "add_callback_threadsafe": 0,
}
_LOOP_RUNNERS = frozenset({"asyncio.run", "anyio.run", "trio.run"})
_LOOP_RUN_METHODS = frozenset({"run_until_complete"})
_ROUTE_DECORATORS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "route", "api_route",
                               "websocket", "websocket_route", "trace"})
_WORDS = tuple(sorted({*(name.rsplit(".", 1)[-1] for name in _THREAD_FUNCTIONS), *_THREAD_METHODS, "run",
                       *_LOOP_RUN_METHODS, *LOOP_CALLBACKS}))
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_PAUSES = (ast.Await, ast.AsyncFor, ast.AsyncWith)

ON_ONE_LOOP = "safe on one event loop; a race once threads or several loops call it"


@dataclass(frozen=True)
class ExecContext:
    """Who runs a function (or touches a piece of state)."""

    loop: bool = False  # coroutines of an event loop
    threads: str = ""  # how threads reach it ("" = they do not): "'_work()' (run via run_in_executor in 'submit()')"
    started: bool = False  # a thread (or loop) the module starts itself, not just a caller from outside

    def join(self, other: "ExecContext") -> "ExecContext":
        if other == self or other == NOBODY:
            return self
        return ExecContext(self.loop or other.loop, self.threads or other.threads, self.started or other.started)

    @property
    def coroutines_only(self) -> bool:
        return self.loop and not self.threads


NOBODY = ExecContext()
LOOP = ExecContext(loop=True)


def _position(node: ast.AST) -> Tuple[int, int]:
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def _end(node: ast.AST) -> Tuple[int, int]:
    return (getattr(node, "end_lineno", None) or node.lineno,  # type: ignore[attr-defined]
            getattr(node, "end_col_offset", None) or 0)


def _own_nodes(body: List[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of a function body, comprehensions included, nested scopes excluded."""
    stack: List[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            if not isinstance(node, ast.Lambda):
                stack.extend(node.decorator_list)
            continue
        stack.extend(child_nodes(node))


class ExecutionContexts:
    """The context of each function and each piece of shared state of one module."""

    def __init__(self, m: ModuleBindings) -> None:
        self.m = m
        self.uses = Uses(m)
        self._functions: Dict[int, ExecContext] = {}
        self._state: Dict[SharedKey, ExecContext] = {}
        self._pauses: Dict[int, List[ast.AST]] = {}
        self._walkers: Dict[int, FunctionWalker] = {}
        self._loop_callbacks: Dict[int, List[ast.expr]] = {}  # function -> the expressions handing it to a loop
        self._loop_bound: Set[str] = set()  # classes that schedule their own methods on a loop they hold
        self._solve()

    # ---- functions ----------------------------------------------------------------------
    def of_function(self, info: FunctionInfo) -> ExecContext:
        return self._functions.get(id(info), NOBODY)

    def _solve(self) -> None:
        m = self.m
        started = self._started_elsewhere()
        for info in m.functions:
            self._functions[id(info)] = started.get(id(info), NOBODY).join(self._own(info))
        # helpers inherit their callers' contexts (a monotone join: stops after each value settles)
        sites = [s for s in m.calls if not s.caller.import_time]
        changed = True
        while changed:
            changed = False
            for site in sites:
                callee, caller = site.callee, self._functions[id(site.caller)]
                if callee.is_async and not (site.caller.is_async and caller.started):
                    continue  # a coroutine runs on the loop that awaits it, not in the caller's thread
                before = self._functions[id(callee)]
                after = before.join(caller)
                if after != before:
                    self._functions[id(callee)] = after
                    changed = True
        for info in m.functions:
            if self._functions[id(info)] == NOBODY and not info.import_time:
                # an internal helper the graph never saw called from anywhere it can follow
                self._functions[id(info)] = ExecContext(threads=f"'{info.qualname}()' (its callers cannot be followed)")

    def _own(self, info: FunctionInfo) -> ExecContext:
        """The context a function has before its callers are considered."""
        if info.is_async:
            return LOOP
        route = next((d for d in info.node.decorator_list
                      if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                      and d.func.attr in _ROUTE_DECORATORS), None)
        if route is not None:
            return ExecContext(threads=f"'{info.qualname}()' (a sync route handler, run in a thread pool)",
                               started=True)
        if info.name in _CONSTRUCTORS and info.class_name:
            return ExecContext(threads=f"'{info.qualname}()' (whoever creates a {info.class_name})")
        if self.uses.internal(info):
            return NOBODY  # only its callers' contexts
        if id(info) in self._loop_callbacks and self._only_scheduled(info):
            return NOBODY  # only handed to an event loop: it runs where the loop runs (`_started_elsewhere`)
        if is_private(info) and info.name not in self.uses.exported and not info.node.decorator_list:
            if id(info) in self.uses.unresolved:
                return ExecContext(threads=f"'{info.qualname}()' (a call to '{info.name}()' the call graph cannot "
                                           "resolve may reach it)")
            return ExecContext(threads=f"'{info.qualname}()' (used as a value: where it runs cannot be followed)")
        return ExecContext(threads=f"'{info.qualname}()' (callable from outside the module)")

    def _started_elsewhere(self) -> Dict[int, ExecContext]:
        """Functions the module runs in threads itself, and coroutines a thread runs on its own loop."""
        m = self.m
        found: Dict[int, ExecContext] = {}
        offsets = m._occurrences(_WORDS)
        if m._text is not None and not offsets:
            return found
        owners: List[Tuple[Optional[FunctionInfo], List[ast.stmt]]] = [(None, m.tree.body)]
        owners += [(info, info.node.body) for info in m.functions if m._node_contains(offsets, info.node)]
        runners: List[Tuple[Optional[FunctionInfo], ast.Call]] = []
        for owner, body in owners:
            for node in _own_nodes(body):
                if not isinstance(node, ast.Call):
                    continue
                scheduled = self._loop_callback(node)
                if scheduled is not None:
                    if owner is not None and owner.class_name and isinstance(scheduled, ast.Attribute) \
                            and isinstance(scheduled.value, ast.Name) and scheduled.value.id == owner.self_param:
                        self._loop_bound.add(owner.class_name)
                    for info in self._resolve(owner, scheduled):
                        self._loop_callbacks.setdefault(id(info), []).append(scheduled)
                        found[id(info)] = found.get(id(info), NOBODY).join(LOOP)
                    continue
                how, target = self._thread_target(node)
                if target is None:
                    if how == "loop":
                        runners.append((owner, node))
                    continue
                for info in self._resolve(owner, target):
                    if not info.is_async:
                        where = f" in '{owner.qualname}()'" if owner is not None else " at import time"
                        context = ExecContext(threads=f"'{info.qualname}()' (run via {how}{where})", started=True)
                        found[id(info)] = found.get(id(info), NOBODY).join(context)
        for owner, call in runners:  # `asyncio.run(main())` inside code a started thread runs
            if owner is None or id(owner) not in found:
                continue
            argument = call.args[0] if call.args else None
            if isinstance(argument, ast.Call):
                argument = argument.func
            for info in self._resolve(owner, argument):
                if info.is_async:
                    context = ExecContext(loop=True, threads=f"'{info.qualname}()' (run on its own event loop in a "
                                          f"thread, by '{owner.qualname}()')", started=True)
                    found[id(info)] = found.get(id(info), NOBODY).join(context)
        return found

    @staticmethod
    def _loop_callback(call: ast.Call) -> Optional[ast.expr]:
        """The function a `loop.call_soon(f)` / `call_later(t, f)` / `add_callback(f)` schedules
        on an event loop (None for any other call)."""
        func = call.func
        if not isinstance(func, ast.Attribute) or func.attr not in LOOP_CALLBACKS:
            return None
        index = LOOP_CALLBACKS[func.attr]
        if len(call.args) <= index or not isinstance(call.args[index], (ast.Name, ast.Attribute)):
            return None
        return call.args[index]

    def _only_scheduled(self, info: FunctionInfo) -> bool:
        """Every use of the function's name that is not a call the graph knows hands it to a loop."""
        handed = {id(expr) for expr in self._loop_callbacks.get(id(info), ())}
        known = {id(site.node.func) for site in self.uses.sites.get(id(info), ())}
        is_method = info.class_name is not None
        for node in walk(self.m.tree):
            named = (isinstance(node, ast.Attribute) and is_method and node.attr == info.name) or \
                (isinstance(node, ast.Name) and not is_method and node.id == info.name)
            if named and id(node) not in handed and id(node) not in known:
                return False
        return True

    def bound_to_one_loop(self, class_name: str) -> bool:
        """The class schedules its own methods on an event loop it holds (`self._net.call_soon(
        self._wakeup)`): its callbacks and its coroutines run on that one loop."""
        return class_name in self._loop_bound

    def _thread_target(self, call: ast.Call) -> Tuple[str, Optional[ast.expr]]:
        """("run_in_executor", the function) for a call that runs a function in another thread;
        ("loop", None) for `asyncio.run(...)` / `loop.run_until_complete(...)`; ("", None) else."""
        func = call.func
        qualified = self.m.qualify(func) or ""
        index: Optional[int] = None
        if qualified in _THREAD_FUNCTIONS:
            index = _THREAD_FUNCTIONS[qualified]
            target = next((k.value for k in call.keywords if k.arg in ("target", "function", "func")), None)
            if target is not None:
                return qualified.rsplit(".", 1)[-1], _unwrap(target)
        elif isinstance(func, ast.Attribute) and func.attr in _THREAD_METHODS:
            index = _THREAD_METHODS[func.attr]
        elif qualified in _LOOP_RUNNERS or (isinstance(func, ast.Attribute) and func.attr in _LOOP_RUN_METHODS):
            return "loop", None
        if index is None or len(call.args) <= index:
            return "", None
        name = qualified.rsplit(".", 1)[-1] if qualified else getattr(func, "attr", "")
        return name, _unwrap(call.args[index])

    def _resolve(self, owner: Optional[FunctionInfo], expr: Optional[ast.expr]) -> List[FunctionInfo]:
        """The module functions a function-valued expression denotes (none when unknown)."""
        if expr is None or not isinstance(expr, (ast.Name, ast.Attribute)):
            return []
        if owner is None:
            name = dotted_name(expr) or ""
            head, _, attr = name.partition(".")
            found = self.m.function_index.get((None, head)) if not attr else (
                self.m.method(head, attr) if head in self.m.classes else None)
            return [found] if found is not None else []
        walker = self._walkers.get(id(owner))
        if walker is None:
            owner.ensure_scope()
            walker = self._walkers[id(owner)] = FunctionWalker(self.m, owner)  # type: ignore[arg-type]
        found = walker.callee(ast.Call(func=expr, args=[], keywords=[]))  # type: ignore[attr-defined]
        return [found] if found is not None else []

    # ---- state ----------------------------------------------------------------------------
    def of_state(self, key: SharedKey) -> ExecContext:
        """The join of the contexts of every function that writes, mutates or iterates `key`."""
        if not self._state:
            for act in self.m.acts:
                self._state[act.key] = self._state.get(act.key, NOBODY).join(self.of_function(act.func))
        return self._state.get(key, NOBODY)

    # ---- windows --------------------------------------------------------------------------
    @staticmethod
    def window(act: Act) -> Optional[Tuple[Tuple[int, int], Tuple[int, int]]]:
        """Where the act's read (or test) starts and its write ends: no other task of the loop
        may run in between.  None for a plain write."""
        if act.read_at is not None:
            start: ast.AST = act.read_at
        elif act.check is not None and act.key in act.check.keys:
            start = act.check.origin
        elif act.reads_self or act.kind == "iterate":
            start = act.stmt
        else:
            return None
        return _position(start), _end(act.stmt)

    def pause_in_window(self, act: Act) -> Optional[ast.AST]:
        """The first `await` / `async for` / `async with` between the act's read (or test) and its
        write, in a coroutine: there other tasks run, even on one event loop."""
        window = self.window(act) if act.func.is_async else None
        if window is None:
            return None
        low, high = window
        pauses = self._pauses.get(id(act.func))
        if pauses is None:
            pauses = sorted((n for n in _own_nodes(act.func.node.body) if isinstance(n, _PAUSES)), key=_position)
            self._pauses[id(act.func)] = pauses
        return next((p for p in pauses if low <= _position(p) <= high), None)

    def headline(self, act: Act) -> str:
        """What the main line says about the context: `; across an await (line N)` when an await
        splits the act's window, else nothing."""
        pause = self.pause_in_window(act)
        if pause is None:
            return ""
        what = "an await" if isinstance(pause, ast.Await) else \
            ("an 'async for'" if isinstance(pause, ast.AsyncFor) else "an 'async with'")
        return f"; across {what} (line {_position(pause)[0]})"

    def describe(self, act: Act) -> str:
        """The details of the context (`--show-context`): what a pause lets in, who touches the state."""
        state = self.of_state(act.key)
        pause = self.pause_in_window(act)
        parts: List[str] = []
        if pause is not None:
            parts.append("other tasks run in between, even on one event loop")
        if state.threads:
            parts.append(f"reachable from threads via {state.threads}")
        elif pause is None:
            parts.append(f"only from coroutines ({ON_ONE_LOOP})")
        return "; ".join(parts)

    def loop_confined(self, act: Act) -> bool:
        """Only coroutines touch the state and no await splits this act's window: with one event
        loop, no other task can run in between."""
        return self.of_state(act.key).coroutines_only and self.pause_in_window(act) is None


def _unwrap(expr: ast.expr) -> Optional[ast.expr]:
    """The function a `functools.partial(f, ...)` or a `lambda: f(...)` runs."""
    while True:
        if isinstance(expr, ast.Call) and (dotted_name(expr.func) or "").rsplit(".", 1)[-1] == "partial" and expr.args:
            expr = expr.args[0]
        elif isinstance(expr, ast.Lambda) and isinstance(expr.body, ast.Call):
            expr = expr.body.func
        else:
            return expr
