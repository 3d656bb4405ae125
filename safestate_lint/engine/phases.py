"""Before the object is shared: what a start or set-up method does first runs on one thread.

A class that starts a thread or timer on one of its own methods
(`Thread(target=self._run).start()`, `Timer(0, self._resolve).start()`), a `Thread` subclass
whose `start()` calls `super().start()`, or a method named for starting (`start()`,
`start_refresh_loop()`) that hands one of the class's methods to an executor or an event loop
(`loop.call_soon(self._loop)`), does so in a *start method*. What that method does before the
start (and the store of the handle the start returns) runs before the class's thread exists,
as what `__init__` does. A method whose docstring makes it the object's one-time set-up
("Needs to be called before any other methods") runs so as a whole.

Such a method cannot race with the class's thread, and, as long as only constructors, a
context manager's `__enter__` and other such methods of the module call it (the object is not
yet handed to other threads), not with another caller either: the precision issue's "writes
in methods that run before the class starts its thread (`__init__`, `start()` before
`Thread.start`)" and "one-time start-up calls".

The call graph (:mod:`.callers`) reads :func:`before_start`: the object's own state written in
those statements is not concurrent, and a helper called there is called as from a constructor.
"""

from __future__ import annotations

import ast
import re
from typing import Dict, Iterator, List, Optional, Set, Tuple

from safestate_lint.engine.bindings import ModuleBindings
from safestate_lint.engine.facts import BEFORE_SHARING, Check, FunctionInfo
from safestate_lint.engine.syntax import dotted_name, walk

__all__ = ["before_start", "documented_setup", "is_precondition", "start_call"]

_THREAD_CTORS = {"Thread": ("target", 1), "Timer": ("function", 1)}  # keyword, position of the function
# methods that run a function on another thread or on an event loop: the argument that is the function
_HANDOFFS = {"submit": 0, "to_thread": 0, "start_new_thread": 0, "run_in_executor": 1, "call_soon": 0,
             "call_soon_threadsafe": 0, "call_later": 1, "call_at": 1, "add_callback": 0,
             "add_callback_threadsafe": 0}
# methods that set an object up before anything else has it: construction, and entering the `with`
# block that will use it (`with Observer() as o:` starts it)
_SETUP = BEFORE_SHARING | {"__enter__", "__aenter__"}
# a docstring that makes a method the object's one-time set-up, before anything else uses it
_SETUP_DOC = re.compile(r"\b(?:must|needs? to|has to|should) be (?:called|invoked|run) (?:exactly )?(?:once )?"
                        r"(?:,? ?(?:first|before (?:any|all) other (?:methods?|calls?|operations?)|before (?:using|use)\b))")
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_WORDS = ("start", *_HANDOFFS)


def _own_nodes(node: ast.AST, in_loop: bool = False) -> Iterator[Tuple[ast.AST, bool]]:
    """Every node of a function body (nested scopes excluded), in source order, with whether a
    loop of the function encloses it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _SCOPES):
            continue
        yield child, in_loop
        yield from _own_nodes(child, in_loop or isinstance(child, _LOOPS))


def _position(node: ast.AST) -> Tuple[int, int]:
    return getattr(node, "lineno", 0), getattr(node, "col_offset", 0)


def _end(node: ast.AST) -> Tuple[int, int]:
    return getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0


class _StartFinder:
    """The first call in one method that starts the class's own thread (or job, or callback)."""

    def __init__(self, m: ModuleBindings, info: FunctionInfo) -> None:
        self.m = m
        self.info = info
        self.threads: Dict[str, bool] = {}  # local names and `self.x` bound to a thread on an own method

    def own_method(self, expr: Optional[ast.expr]) -> bool:
        """`self.m` for a method `m` of the class (or of a module base)."""
        info = self.info
        return isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) \
            and expr.value.id == info.self_param and info.class_name is not None \
            and self.m.method(info.class_name, expr.attr) is not None

    def makes_thread(self, expr: Optional[ast.expr]) -> bool:
        """`threading.Thread(target=self._run)`, `Timer(0, self._resolve)`."""
        if not isinstance(expr, ast.Call):
            return False
        last = (dotted_name(expr.func) or "").rsplit(".", 1)[-1]
        if last not in _THREAD_CTORS:
            return False
        keyword, position = _THREAD_CTORS[last]
        target = next((k.value for k in expr.keywords if k.arg == keyword), None)
        if target is None and len(expr.args) > position:
            target = expr.args[position]
        return self.own_method(target)

    def is_thread_class(self) -> bool:
        name = self.info.class_name or ""
        shared = getattr(self.m, "thread_classes", {}).get(name)
        if shared is not None and shared.entry.endswith(".run"):
            return True
        return any((dotted_name(base) or "").rsplit(".", 1)[-1] == "Thread"
                   for cls in [name, *self.m.bases(name)] for base in getattr(self.m.classes.get(cls), "bases", ()))

    def starts(self, call: ast.Call) -> bool:
        func = call.func
        if not isinstance(func, ast.Attribute):
            return False
        if func.attr == "start" and not call.args:
            receiver = func.value
            if self.makes_thread(receiver) or self.threads.get(dotted_name(receiver) or "", False):
                return True
            # a Thread subclass's `start()` that calls `super().start()` (or `Base.start(self)`)
            return self.info.name == "start" and self.is_thread_class() and (
                (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super")
                or (isinstance(receiver, ast.Name) and receiver.id in self.m.bases(self.info.class_name or "")))
        if func.attr in _HANDOFFS and "start" in self.info.name.lower():
            # a job or loop callback: a start only in a method named for it (`start()`,
            # `start_refresh_loop()`): elsewhere it is the method's work, not the object's start
            index = _HANDOFFS[func.attr]
            return len(call.args) > index and self.own_method(call.args[index])
        return False

    def first_start(self) -> Optional[ast.Call]:
        """The method's first start call, when no loop of the method encloses it."""
        for node, in_loop in _own_nodes(self.info.node):
            if isinstance(node, ast.Assign) and self.makes_thread(node.value):
                for target in node.targets:
                    name = dotted_name(target)
                    if name is not None:
                        self.threads[name] = True
            elif isinstance(node, ast.Assign) and isinstance(node.value, (ast.Name, ast.Attribute)) \
                    and self.threads.get(dotted_name(node.value) or "", False):
                for target in node.targets:  # `self._t = t`
                    name = dotted_name(target)
                    if name is not None:
                        self.threads[name] = True
            if isinstance(node, ast.Call) and self.starts(node):
                return None if in_loop else node
        return None


def start_call(m: ModuleBindings, info: FunctionInfo) -> Optional[ast.Call]:
    """The call by which a method starts its class's own thread, job or loop callback, if any."""
    if info.class_name is None or info.self_param is None or info.name in BEFORE_SHARING:
        return None
    return _StartFinder(m, info).first_start()


def _statements_before(info: FunctionInfo, call: ast.Call) -> Set[int]:
    """The statements of `info` that run before `call` starts the thread: those that end before it,
    and the assignment that stores what it returns (the thread's or the job's handle)."""
    start = _position(call)
    found: Set[int] = set()
    for node, _ in _own_nodes(info.node):
        if not isinstance(node, ast.stmt):
            continue
        if _end(node) <= start:
            found.add(id(node))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is call:
            found.add(id(node))
    return found


def documented_setup(info: FunctionInfo) -> bool:
    """A method whose docstring makes it the object's set-up, called once before it is used
    ("Needs to be called before any other methods", "must be called once, before ..."): like
    `__init__`, it runs before other threads use the object."""
    doc = " ".join((ast.get_docstring(info.node) or "").lower().split())
    return bool(doc) and bool(_SETUP_DOC.search(doc))


def _used_as_values(m: ModuleBindings) -> Set[str]:
    """Names of methods the module uses as values (`Thread(target=self.start)`, a callback): such a
    method runs wherever it is handed, not only where its class is being set up."""
    called = {id(node.func) for node in ast.walk(m.tree) if isinstance(node, ast.Call)}
    return {node.attr for node in ast.walk(m.tree)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and id(node) not in called}


def before_start(m: ModuleBindings) -> Set[int]:
    """The ids of the statements that run before their object is shared: in start methods before
    they start the class's thread, and in methods documented as the object's set-up, when only
    constructors, `__enter__` and other such methods of the module call them."""
    offsets = m._occurrences(_WORDS)
    statements: Dict[int, Set[int]] = {}  # method -> its statements that run before sharing
    for info in m.functions:
        if info.class_name is None or info.self_param is None or info.import_time:
            continue
        if documented_setup(info):
            statements[id(info)] = {id(node) for node, _ in _own_nodes(info.node) if isinstance(node, ast.stmt)}
        elif m._node_contains(offsets, info.node):
            call = start_call(m, info)
            if call is not None:
                statements[id(info)] = _statements_before(info, call)
    if not statements:
        return set()
    values = _used_as_values(m)
    early = {id(info) for info in m.functions if id(info) in statements and info.name not in values}
    callers: Dict[int, List[Tuple[FunctionInfo, int]]] = {}
    for site in m.calls:
        callers.setdefault(id(site.callee), []).append((site.caller, id(site.stmt)))
    # a start method another method calls once the object may be shared runs after sharing too
    changed = True
    while changed:
        changed = False
        for key in list(early):
            for caller, stmt in callers.get(key, ()):
                if caller.name in _SETUP or (id(caller) in early and stmt in statements[id(caller)]):
                    continue
                early.discard(key)
                changed = True
                break
    return set().union(*(statements[key] for key in early)) if early else set()


def is_precondition(check: Check, stmt: ast.stmt) -> bool:
    """A test whose branch raises (`if self._running: raise RuntimeError("already running")`),
    guarding a store of the state it tested after it: the method's precondition. It rejects a
    caller that breaks the method's contract (a second `start()`, a second configuration);
    racing past it takes two callers that both break it, which is the callers' misuse the raise
    reports, not a check-then-act the method relies on (the precision issue's "one-time start-up
    calls")."""
    site = check.site
    return isinstance(site, ast.If) and bool(site.body) and isinstance(site.body[-1], ast.Raise) \
        and not site.orelse and not any(node is stmt for node in walk(site))
