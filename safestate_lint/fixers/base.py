"""What every fixer shares: finding LibCST nodes for the analysis' facts, providing locks,
planning non-overlapping edits, and applying them in one LibCST transformation.

Fixers only plan edits; the analysis (read through `engine.reports`) decides what is
unsafe, exactly as `check` does.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from safestate_lint.engine.analysis import Act, FunctionInfo, ModuleAnalysis
from safestate_lint.engine.callgraph import Reach
from safestate_lint.engine.context import ExecutionContexts
from safestate_lint.engine.syntax import dotted_name, inside, terminates
from safestate_lint.finding import Finding
from safestate_lint.fixers.awaits import slow_await
from safestate_lint.fixers.edits import Apply, Block, Edits, LockDecl
from safestate_lint.fixers.forks import ForkHook, ForkSite, fork_site, renewed_in_child
from safestate_lint.fixers.imports import add_imports, style_for



_ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum"})


class Unfixable(Exception):
    """This finding has no automatic fix; the message is the reason `fix` prints."""


class FixContext:
    """One pass over one module: the analysis, the LibCST tree, and the plan being built.

    ast statements are matched to LibCST statements by walking both statement trees in
    parallel (linear in statements; no metadata providers, which cost 20x the parse on a
    large file)."""

    def __init__(self, analysis: ModuleAnalysis, source: str, unsafe_fixes: bool, path: str = "") -> None:
        self.m = analysis
        self.path = path  # where the module is (its project's import-sorting settings)
        self.unsafe_fixes = unsafe_fixes
        self.module = cst.parse_module(source)
        self.source = source
        # id(ast stmt) -> (block-level LibCST statement, its small statement or None)
        self._stmts: Dict[int, Tuple[cst.BaseStatement, Optional[cst.BaseSmallStatement]]] = {}
        # id(block-level LibCST statement) -> (its block, the ast statement)
        self._blocks: Dict[int, Tuple[Optional[Block], ast.stmt]] = {}
        _align(self, analysis.tree.body, self.module.body, self.module)
        self.edits = Edits()
        self.imports: Set[Tuple[str, Optional[str]]] = set()
        self._claimed: List[Tuple[Tuple[int, int], Tuple[int, int]]] = []
        self._locks: Dict[Tuple[str, ...], str] = {}
        self._new_locks: Dict[str, LockDecl] = {}  # the lock expression used in `with` -> its declaration
        self._class_new: Dict[Tuple[str, ...], LockDecl] = {}
        self._new_names: Dict[str, Set[str]] = {}  # scope ("" = module, else class name) -> names
        self.reach = Reach(analysis, for_fixes=True)  # no deadlock through a property, a dunder or a callback
        self.reasons: Dict[Finding, str] = {}  # findings left without a fix -> why
        self._handlers: Optional[Set[str]] = None
        self._fork: object = False  # not looked up yet
        self.refused: Dict[Tuple[str, ...], str] = {}  # globals no fix may lock this pass (why)
        self.locked_regions: Set[int] = set()  # ast statements a fix of this pass puts under a lock
        # existing non-reentrant lock -> (function this pass makes take it, the functions reached under it)
        self._taking: Dict[str, List[Tuple[FunctionInfo, Set[int]]]] = {}
        self._event_loop_keys: Dict[Tuple[str, ...], bool] = {}
        self.flight_locks: Dict[str, str] = {}  # global -> the LoopLock of its per-key single flights

    # ---- locating ---------------------------------------------------------------------
    def statement(self, node: ast.AST) -> cst.BaseStatement:
        """The block-level LibCST statement (a line or a compound statement) of an ast statement."""
        found = self._stmts.get(id(node))
        if found is None:
            raise Unfixable(f"cannot locate the statement at line {getattr(node, 'lineno', '?')}")
        return found[0]

    def replace_iterable(self, stmt: ast.stmt, iterable: ast.expr, code: str) -> None:
        """Replace the iterable of a `for` or a comprehension in `stmt` (found by its source
        text among the statement's iterables; identical ones are the same value) with `code`."""
        wanted = "".join((ast.get_source_segment(self.source, iterable) or "").split())
        found = _Iterables(self.module, wanted)
        self.statement(stmt).visit(found)
        if not found.matches:
            raise Unfixable("cannot locate the iteration to rewrite")
        for node, path in found.matches:
            self.edits.replace_expr[id(node)] = code
            self.edits.descend.update(path)

    def small_statement(self, node: ast.AST) -> cst.BaseSmallStatement:
        found = self._stmts.get(id(node))
        if found is None or found[1] is None:
            raise Unfixable("cannot locate the statement")
        return found[1]

    def block_of(self, stmt: cst.CSTNode) -> Tuple[Block, int]:
        block, _ = self._blocks.get(id(stmt), (None, None))  # type: ignore[assignment]
        if block is None:
            raise Unfixable("statement is not in an indented block")
        return block, list(block.body).index(stmt)  # type: ignore[arg-type]

    def same_block_range(self, first: cst.CSTNode, last: cst.CSTNode) -> List[cst.CSTNode]:
        block, i = self.block_of(first)
        other, j = self.block_of(last)
        if other is not block or j < i:
            raise Unfixable("the check and the act are in different blocks")
        return list(block.body[i:j + 1])

    # ---- overlap -------------------------------------------------------------------------
    def claim(self, nodes: Iterable[cst.CSTNode]) -> None:
        """Reserve the text these statements cover; overlapping edits wait for the next pass."""
        spans = []
        for node in nodes:
            origin = self._blocks.get(id(node), (None, None))[1]
            if origin is None:
                raise Unfixable("cannot locate the statement")
            span = ((origin.lineno, origin.col_offset), (origin.end_lineno or origin.lineno, origin.end_col_offset or 0))
            for start, end in self._claimed:
                if span[0] < end and start < span[1]:
                    raise Unfixable("overlaps another fix in this pass")
            spans.append(span)
        self._claimed.extend(spans)

    # ---- locks ---------------------------------------------------------------------------
    def fresh_name(self, wanted: str, taken: Iterable[str] = (), scope: str = "", alternative: str = "") -> str:
        """`wanted`, else `alternative`, else `wanted_2`, ... : a name not used in the scope."""
        new = self._new_names.setdefault(scope, set())
        names = new | set(taken)
        if not scope:
            names |= set(self.m.bindings) | set(self.m.imports)
        for name in filter(None, (wanted, alternative)):
            if name not in names:
                new.add(name)
                return name
        n = 2
        while f"{wanted}_{n}" in names:
            n += 1
        new.add(f"{wanted}_{n}")
        return f"{wanted}_{n}"

    def existing_guard(self, key: Tuple[str, ...]) -> Optional[str]:
        """The module-level threading lock that already guards `key` somewhere in the module."""
        for act in self.m.acts:
            if act.key != key:
                continue
            for region in act.locks:
                binding = self.m.bindings.get(region.name)
                if binding is not None and binding.kind == "lock" and not binding.async_lock and binding.is_mutex:
                    return region.name
        return None

    # ---- fix safety ----------------------------------------------------------------------
    def lock_for(self, act: Act, stmts: Sequence[ast.AST], once: bool = False, existing: Optional[str] = None) -> str:
        """The lock to hold around `stmts` (statements of `act.func`), or Unfixable with the reason.

        Never across a `yield`/`await`, nor across a blocking call the statements make
        themselves when the lock is taken on every call (`once`: a double-checked creation
        takes it only until the object exists, and waiting for it is the point); a new lock is an `RLock` when the
        statements call anything that could re-enter it; an existing non-reentrant lock is
        never held around code that can reach a function taking it, nor in a function that
        can run while it is held."""
        summary = self.reach.statements(act.func, stmts)
        if summary.yields:
            raise Unfixable("a lock cannot be held across a yield: a paused generator would keep it")
        if existing is None and self.event_loop_key(act.key):
            return self._event_loop_lock(act, stmts, summary)
        if summary.awaits:
            raise Unfixable("a threading lock cannot be held across an await" + self._why_not_event_loop(act.key))
        reach = self.reach.closure(summary)
        if reach.blocking and not once:  # the same list as SST404, through the calls made here too
            raise Unfixable(f"the statements make a blocking call, {reach.blocking[0]}, which would hold the lock "
                            f"for every other thread")
        if reach.callbacks:  # foreign code: it can take a lock of its own, in any order
            raise Unfixable(f"the statements call {reach.callbacks[0]}, code the caller supplied, which can take "
                            f"another lock: holding a lock across it can deadlock (change the state under the "
                            f"lock, call it after)")
        if existing is not None:  # the lock the class already guards this attribute with (`self._lock`)
            lock = existing
        elif act.key[0] == "g":
            lock = self.lock_for_global(act.key[1])
        else:  # a class attribute's own lock, or one class-level lock for the shared instance
            lock = self.lock_for_class(act.func, act.key[1], "" if act.key[0] == "i" else act.key[2])
        self._check_interruptible(lock)
        fork = self.fork_site()
        if fork is not None and lock not in self._new_locks and not _runtime_lock(self.m, lock) \
                and lock not in renewed_in_child(self.m):  # the fix makes its own locks anew in the child
            raise Unfixable(f"the module forks ({fork.what}): '{lock}' is an existing lock, and one another thread "
                            f"holds at the fork stays held in the child, which hangs on it; re-create it in "
                            f"os.register_at_fork(after_in_child=...)")
        declared = self._new_locks.get(lock)
        interrupts = self._interrupting(act.key)
        if declared is not None:
            # a signal handler or `__del__` can run inside any code of the same thread, also while it
            # holds this lock: only a reentrant lock lets it through
            declared.reentrant |= summary.calls_code or interrupts is not None
            return lock
        if interrupts is not None:
            binding = self.m.bindings.get(lock) if act.key[0] == "g" else None
            if binding is not None and binding.kind == "lock" and not binding.reentrant:
                raise Unfixable(f"'{interrupts}()' can interrupt code holding the non-reentrant '{lock}' "
                                f"(a signal handler or __del__ runs in the same thread) and would deadlock")
        self._check_existing(act.func, lock, act.key, reach)
        return self._held_as(act, lock)

    def _held_as(self, act: Act, lock: str) -> str:
        """How `with` holds an existing lock: the runtime's `RWLock` is no context manager
        itself, its writer side is (`with lock.write():`)."""
        head, _, attr = lock.partition(".")
        if attr and "." not in attr:
            cls = act.func.class_name or act.key[1] if head in (act.func.self_param, "cls") else head
            owner = self.m.lock_owner(cls, attr)
            binding = owner[1] if owner is not None else None
        else:
            binding = self.m.bindings.get(lock)
        if binding is not None and binding.kind == "lock" and binding.lock_type == "RWLock":
            return f"{lock}.write()"
        return lock

    def fork_site(self) -> Optional[ForkSite]:
        """How the module forks (`os.fork()`, multiprocessing's fork start, a prefork hook), or None."""
        if self._fork is False:
            self._fork = fork_site(self.m)
        return self._fork  # type: ignore[return-value]

    def _check_interruptible(self, lock: str) -> None:
        """A signal handler or a finalizer runs in the middle of other code of the thread: if it (or what it calls)
        takes `lock`, holding `lock` anywhere else deadlocks when the signal arrives there."""
        handlers = [(name, self.m.function_index.get((None, name))) for name in sorted(self._handler_names())]
        handlers += [(info.qualname, info) for info in self.m.functions if info.name == "__del__"]
        for name, handler in handlers:
            if handler is None:
                continue
            taken = self.reach.closure(self.reach.direct(handler)).locks
            if lock in taken or any(ident.endswith(f".{lock}") for ident in taken):
                raise Unfixable(f"the signal handler '{name}()' takes '{lock}': a thread interrupted while it "
                                f"holds the lock would deadlock (hand the update to the main loop instead)")

    # ---- event-loop locks (state only coroutines touch, updated across an await) ---------------
    def event_loop_key(self, key: Tuple[str, ...]) -> bool:
        """A global only coroutines of the one event loop touch (`assume-single-event-loop`),
        which some task reads and writes across an await: every fix of it takes one
        `asyncio.Lock` with `async with` (a threading lock cannot be held across an await, and a
        lock that only some writers take excludes nothing)."""
        if key not in self._event_loop_keys:
            self._event_loop_keys[key] = self.m.config.assume_single_event_loop and self._coroutines_only(key) \
                and any(act.key == key and self.m.contexts().pause_in_window(act) is not None  # type: ignore[union-attr]
                        for act in self.m.acts)
        return self._event_loop_keys[key]

    def _coroutines_only(self, key: Tuple[str, ...]) -> bool:
        contexts = self.m.contexts()
        return key[0] == "g" and contexts is not None and contexts.of_state(key).coroutines_only

    def _why_not_event_loop(self, key: Tuple[str, ...]) -> str:
        contexts = self.m.contexts()
        threads = contexts.of_state(key).threads if contexts is not None else ""
        if threads:
            return f", and an asyncio.Lock does not exclude the threads that reach it via {threads}"
        if self._coroutines_only(key):
            return (f"; only coroutines touch '{key[1]}': on one event loop an asyncio.Lock fixes it (fix "
                    f"--assume-single-event-loop), but one shared by several loops or threads can hang them")
        return ""

    def _event_loop_lock(self, act: Act, stmts: Sequence[ast.AST], summary) -> str:  # type: ignore[no-untyped-def]
        func, name = act.func, act.key[1]
        if not func.is_async:
            raise Unfixable(f"'{func.qualname}()' is a sync function: it cannot wait for the asyncio.Lock that the "
                            f"other tasks updating '{name}' across an await need")
        # `async with` pauses where it waits: never inside another test-then-act of this coroutine,
        # which one event loop kept atomic only because nothing there paused
        start = (stmts[0].lineno, stmts[0].col_offset)  # type: ignore[attr-defined]
        end = (stmts[-1].end_lineno, stmts[-1].end_col_offset)  # type: ignore[attr-defined]
        for neighbour in self.m.acts:
            window = ExecutionContexts.window(neighbour) if neighbour.func is func else None
            if window is not None and window[0] < start <= window[1] and not (start <= window[0] and window[1] <= end):
                raise Unfixable(f"the 'async with' would pause inside the test-then-act of '{neighbour.key[-1]}' at line "
                                f"{window[0][0]}, which no other task can enter today")
        slow = slow_await(self.m, self.reach, act, stmts)
        if slow is not None:
            raise Unfixable(slow)
        key = ("g", name)
        lock = self._locks.get(key)
        if lock is None or lock not in self.edits.async_locks:
            lock = self._existing_event_loop_guard(key)
            if lock is None:
                if self.m.config.runtime_module == "none":
                    raise Unfixable("runtime-module is 'none': an asyncio.Lock() made at import time belongs to the "
                                    "first event loop that waits on it, and the runtime's LoopLock is not available")
                lock = self.fresh_name(f"_{name.strip('_').lower() or 'state'}_lock",
                                       alternative=f"_{name.strip('_').lower() or 'state'}_task_lock")
                self._new_locks[lock] = decl = LockDecl(lock, event_loop=True)
                binding = self.m.bindings.get(name)
                anchor = self.module_anchor(binding.node if binding is not None else None)
                target = self.edits.insert_after.setdefault(id(anchor), []) if anchor is not None else \
                    self.edits.body_start.setdefault(id(self.module), [])
                target.append(decl)
            self._locks[key] = lock
            self.edits.async_locks.add(lock)
        # an asyncio.Lock is not reentrant: a task awaiting code that takes it again waits for itself
        reached = self.reach.reached(summary)
        for other, under_other in [(func, reached)] + self._taking.get(lock, []):
            if id(other) in reached:
                raise Unfixable(f"the statements call '{other.qualname}()', which the fix makes take '{lock}' too: "
                                f"an asyncio.Lock is not reentrant and the task would wait for itself")
            if id(func) in under_other:
                raise Unfixable(f"'{other.qualname}()' calls '{func.qualname}()' under '{lock}' once fixed: an "
                                f"asyncio.Lock is not reentrant and the task would wait for itself")
        self._taking.setdefault(lock, []).append((func, reached))
        return lock

    def _existing_event_loop_guard(self, key: Tuple[str, ...]) -> Optional[str]:
        """A module-level asyncio lock (taken with `async with`) that already guards `key`."""
        for act in self.m.acts:
            for region in act.locks if act.key == key else ():
                binding = self.m.bindings.get(region.name)
                if binding is not None and binding.kind == "lock" and binding.async_lock and binding.is_mutex \
                        and isinstance(region.node, ast.AsyncWith) \
                        and any(isinstance(item.context_expr, ast.Name) for item in region.node.items):
                    return region.name  # (`async with L[key]:` holds one key's lock, not the whole lock)
        return None

    def _handler_names(self) -> Set[str]:
        """The names of the functions given to `signal.signal` or `weakref.finalize`/`ref`
        (collected once): they run in the middle of other code of the same thread."""
        if self._handlers is None:
            self._handlers = set()
            for node in ast.walk(self.m.tree):
                if isinstance(node, ast.Call) and self.m.qualify(node.func) in _INTERRUPTING_REGISTRARS \
                        and len(node.args) > 1:
                    name = dotted_name(node.args[1])
                    if name is not None:
                        self._handlers.add(name.rsplit(".", 1)[-1])
        return self._handlers

    def _interrupting(self, key: Tuple[str, ...]) -> Optional[str]:
        """A function writing `key` that can run in the middle of other code of the same thread:
        `__del__` (garbage collection), a signal handler or a finalizer callback."""
        handlers = self._handler_names()
        for act in self.m.acts:
            if act.key == key and (act.func.name == "__del__" or act.func.name in handlers):
                return act.func.qualname
        return None

    def _check_existing(self, func: FunctionInfo, lock: str, key: Tuple[str, ...], reach) -> None:  # type: ignore[no-untyped-def]
        """Raise Unfixable when holding the existing lock `lock` around code of `func` could deadlock."""
        if key[0] == "g" or "." not in lock:  # a module-level lock
            binding = self.m.bindings.get(lock)
            ident = lock
        else:
            attr = lock.rsplit(".", 1)[-1]
            found = self.m.lock_owner(key[1], attr)  # the class's lock, or the base's that binds it
            binding = found[1] if found is not None else self.m.class_attrs.get((key[1], attr))
            ident = f"{found[0] if found is not None else key[1]}.{attr}"
        if binding is None or binding.kind != "lock" or binding.reentrant:
            return  # a runtime container's own RLock, or a reentrant lock
        if ident in reach.locks:
            raise Unfixable(f"the statements call {reach.locks[ident]}, which takes '{lock}' again: "
                            f"'{lock}' is not reentrant and would deadlock")
        # the functions this pass makes take the lock take it too, once fixed: recursion into
        # `func` itself, or a call into (or from) another function locked with it in this pass
        reached = self.reach.reached(reach)
        for other, under_other in [(func, reached)] + self._taking.get(ident, []):
            if id(other) in reached:
                raise Unfixable(f"the statements call '{other.qualname}()', which the fix makes take '{lock}' "
                                f"too: '{lock}' is not reentrant and would deadlock")
            if id(func) in under_other:
                raise Unfixable(f"'{other.qualname}()' calls '{func.qualname}()' under '{lock}' once fixed: "
                                f"'{lock}' is not reentrant and would deadlock")
        if reach.unknown:
            raise Unfixable(f"the statements call {reach.unknown[0]}, which the analysis cannot follow and "
                            f"which may take the non-reentrant '{lock}' again")
        under, unknown_under = self.reach.under(ident)
        if id(func) in under:
            raise Unfixable(f"'{func.qualname}()' is called while '{lock}' is held: taking the non-reentrant "
                            f"lock again would deadlock")
        if unknown_under and self.reach.reachable_from_outside(func):
            raise Unfixable(f"code that runs while '{lock}' is held calls {unknown_under[0]}, which may call "
                            f"'{func.qualname}()': taking the non-reentrant lock again would deadlock")
        self._taking.setdefault(ident, []).append((func, reached))

    # ---- restructuring ----------------------------------------------------------------------
    def local_name(self, func: FunctionInfo, wanted: str) -> str:
        """A new local for `func`: no name the function or the module already uses."""
        taken = {n.id for n in ast.walk(func.node) if isinstance(n, ast.Name)} | \
            {a.arg for a in ast.walk(func.node) if isinstance(a, ast.arg)}
        return self.fresh_name(wanted.strip("_").lower() or "value", taken | set(self.m.bindings),
                               scope=f"def {func.qualname}", alternative=f"{wanted.strip('_').lower()}_value")

    def rename(self, act: Act, stmts: Sequence[ast.stmt], local: str) -> None:
        """In these statements, the act's shared name (`X`, or `cls.X`) becomes `local`."""
        key, func = act.key, act.func
        if key[0] == "g":
            spec: Tuple[Tuple[str, ...], str, str] = ((), key[1], local)
        else:
            owners = tuple(o for o in (key[1], func.cls_param, func.self_param) if o)
            spec = (owners, key[2], local)
        for stmt in stmts:
            self.edits.rename[id(self.statement(stmt))] = spec

    def locks_used(self) -> Dict[Tuple[str, ...], str]:
        """The lock each shared key is guarded with in this pass."""
        return dict(self._locks)

    def use_lock(self, key: Tuple[str, ...], lock: str) -> None:
        """Guard `key` with `lock` in this pass (e.g. the `lock` of a container being replaced)."""
        self._locks[key] = lock

    def lock_for_global(self, name: str) -> str:
        """`X.lock` for a runtime container, the lock already guarding X, or a new module lock."""
        key = ("g", name)
        if key in self._locks:
            return self._locks[key]
        binding = self.m.bindings.get(name)
        if binding is not None and binding.kind == "locked":
            lock = f"{name}.lock"
        else:
            lock = self.existing_guard(key) or self._new_module_lock(name, binding.node if binding else None)
        self._locks[key] = lock
        return lock

    def new_module_lock(self, name: str, func: FunctionInfo, stmts: Sequence[ast.AST]) -> str:
        """A new module-level lock to hold around `stmts` of `func` (not guarding one global):
        an RLock when they call code; never around a yield, await or blocking call."""
        summary = self.reach.statements(func, stmts)
        if summary.yields or summary.awaits:
            raise Unfixable("a lock cannot be held across a yield or an await")
        closure = self.reach.closure(summary)
        if closure.blocking:
            raise Unfixable(f"the statements make a blocking call, {closure.blocking[0]}, which would hold the lock "
                            f"for every other thread")
        lock = self._new_module_lock(name, None)
        self._new_locks[lock].reentrant |= summary.calls_code
        return lock

    def _new_module_lock(self, name: str, node: Optional[ast.AST]) -> str:
        base = re.sub(r"\W+", "_", name).strip('_').lower() or 'state'  # `sys.modules` -> `_sys_modules_lock`
        lock = self.fresh_name(f"_{base}_lock", alternative=f"_{base}_thread_lock")  # never adopt a lock by name
        self.imports.add(("threading", None))
        statement = self._new_locks[lock] = LockDecl(lock)
        anchor = self.module_anchor(node)
        if anchor is None:
            self.edits.body_start.setdefault(id(self.module), []).append(statement)
        else:
            self.edits.insert_after.setdefault(id(anchor), []).append(statement)
        return lock

    def module_anchor(self, node: Optional[ast.AST]) -> Optional[cst.CSTNode]:
        """The top-level statement holding `node` (a global's binding), to declare a lock after:
        never inside one branch of an `if`/`try`, which the other branch would miss (None:
        after the imports)."""
        if node is not None and isinstance(node, ast.stmt):
            line = getattr(node, "lineno", 0)
            top = next((s for s in self.m.tree.body if s.lineno <= line <= (s.end_lineno or s.lineno)), None)
            try:
                return self.statement(top) if top is not None else None
            except Unfixable:
                pass
        return None

    def lock_for_class(self, func: FunctionInfo, class_name: str, attr: str) -> str:
        """A class-level lock for `ClassName.attr` (named after it), or with `attr` "" one lock
        for every shared attribute of the class (`_lock`); an existing class-level lock is reused."""
        key = ("c", class_name, attr)
        if key not in self._locks:
            cls = self.m.classes.get(class_name)
            if cls is None:
                raise Unfixable(f"class {class_name} is not defined in this module")
            if sum(1 for n in ast.walk(self.m.tree) if isinstance(n, ast.ClassDef) and n.name == class_name) > 1:
                raise Unfixable(f"class {class_name} is defined more than once (one per branch?): a lock added "
                                f"to one definition would be missing from the other")
            if any((dotted_name(b) or "").rsplit(".", 1)[-1] in _ENUM_BASES for b in cls.bases):
                raise Unfixable(f"{class_name} is an Enum: an attribute added to its body becomes a member")
            if any((dotted_name(b) or "").rsplit(".", 1)[-1] in _MODEL_BASES for b in cls.bases):
                raise Unfixable(f"{class_name} is a pydantic model: a lock added to its body becomes a private "
                                f"attribute of every instance (use a module-level lock)")
            existing = [name for (owner, name), b in self.m.class_attrs.items()
                        if owner == class_name and b.kind == "lock" and not b.async_lock and
                        any(isinstance(s, (ast.Assign, ast.AnnAssign)) and name in _assigned_names(s) for s in cls.body)]
            if existing:
                self._locks[key] = existing[0]
            else:
                # names the class's module bases and subclasses use too (attributes and __slots__): a
                # new `_lock` must not shadow theirs, nor be shadowed by them, through the MRO
                family = {class_name, *self.m.bases(class_name)} | {c for c in self.m.classes if class_name in self.m.bases(c)}
                # and its metaclass's: `cls._lock` in `Meta.__call__` finds the class's attribute first
                family |= {meta for owner in list(family) for k in self.m.classes[owner].keywords
                           if k.arg == "metaclass" for meta in [dotted_name(k.value) or ""] if meta in self.m.classes}
                taken = {name for (owner, name) in self.m.class_attrs if owner in family} | \
                    {name for owner in family for name in _slots(self.m.classes[owner])}
                if attr:
                    base = attr.strip('_') or 'state'
                    lock = self.fresh_name(f"_{base}_lock", taken, scope=class_name, alternative=f"_{base}_thread_lock")
                else:  # one lock for the class's shared attributes
                    lock = self.fresh_name("_lock", taken, scope=class_name, alternative="_class_lock")
                self.imports.add(("threading", None))
                statement = self._class_new[key] = LockDecl(lock, owner=class_name)
                anchor = next((s for s in cls.body if isinstance(s, (ast.Assign, ast.AnnAssign)) and attr in _assigned_names(s)), None)
                if anchor is not None:
                    anchor_statement = self.statement(anchor)
                    self.block_of(anchor_statement)  # Unfixable for a one-line class body
                    self.edits.insert_after.setdefault(id(anchor_statement), []).append(statement)
                else:
                    class_statement = self.statement(cls)
                    if not isinstance(cst.ensure_type(class_statement, cst.ClassDef).body, cst.IndentedBlock):
                        raise Unfixable("one-line class body")
                    self.edits.body_start.setdefault(id(class_statement), []).append(statement)
                self._locks[key] = lock
        lock = f"{class_name}.{self._locks[key]}"  # by name: `cls._lock` could find a subclass's lock
        if key in self._class_new:
            self._new_locks[lock] = self._class_new[key]
        return lock

    # ---- applying --------------------------------------------------------------------------
    def _drop_unused_locks(self) -> None:
        """A lock declared for a fix that was then refused is not written (nor its import)."""
        e = self.edits
        used = [str(v[1]) for v in e.wrap.values()] + [v[0] for v in e.early_return.values()] + \
            list(e.replace_expr.values()) + [*e.double_check.values(),
                                                         *e.to_thread_lock.values()]

        def wanted(item: Union[str, LockDecl]) -> bool:
            return not isinstance(item, LockDecl) or any(u == item.name or u.endswith("." + item.name)
                                                         or u.startswith(item.name + "[") for u in used)

        for table in (e.insert_after, e.body_start):
            for key in list(table):
                table[key] = [item for item in table[key] if wanted(item)]
                if not table[key]:
                    del table[key]
        declared = [item for table in (e.insert_after, e.body_start) for items in table.values() for item in items
                    if isinstance(item, LockDecl)]
        if not any(not item.event_loop for item in declared):
            self.imports.discard(("threading", None))
        if any(item.event_loop for item in declared):
            self.imports.add((self.m.config.runtime_module, "LoopLock"))

    def _plan_fork_hook(self) -> None:
        """In a module that forks, the locks this pass declares are made anew in the child."""
        fork = self.fork_site()
        declared = [item for table in (self.edits.insert_after, self.edits.body_start) for items in table.values()
                    for item in items if isinstance(item, LockDecl) and not item.event_loop]
        if fork is None or not declared:
            return
        hook = ForkHook(self.fresh_name("_reinit_locks_after_fork"), declared, guarded=not fork.posix_only)
        self.edits.body_start.setdefault(id(self.module), []).extend(hook.statements())
        self.imports.add(("os", None))

    def apply(self) -> str:
        self._drop_unused_locks()
        self._plan_fork_hook()
        updated = cst.ensure_type(self.module.visit(Apply(self.edits)), cst.Module)
        needed = [(module, obj) for module, obj in sorted(self.imports, key=lambda item: (item[0], item[1] or ""))
                  if not self._imported(module, obj)]
        if needed:  # into the top-level import block, sorted as the project's isort/ruff settings say
            updated = add_imports(updated, needed, style_for(self.path))
        return updated.code

    def _imported(self, module: str, obj: Optional[str]) -> bool:
        """Already imported when the module runs: a top-level import (or one in a top-level
        `try:`), not one under `if TYPE_CHECKING:` or in a function."""
        statements: List[ast.stmt] = []
        for stmt in self.m.tree.body:
            statements.extend(stmt.body if isinstance(stmt, ast.Try) else [stmt])
        for stmt in statements:
            if obj is None and isinstance(stmt, ast.Import):
                if any(alias.name == module and alias.asname in (None, module) for alias in stmt.names):
                    return True
            elif obj is not None and isinstance(stmt, ast.ImportFrom) and stmt.module == module and not stmt.level:
                if any(alias.name == obj and alias.asname in (None, obj) for alias in stmt.names):
                    return True
        return False


# what runs a function in the middle of other code of the same thread: a signal, or the garbage
# collector finalizing an object the code just dropped
_INTERRUPTING_REGISTRARS = frozenset({"signal.signal", "weakref.finalize", "weakref.ref"})
_MODEL_BASES = frozenset({"BaseModel", "RootModel", "BaseSettings"})


def _runtime_lock(m: ModuleAnalysis, lock: str) -> bool:
    """`X.lock` of a runtime container (one already, or replaced by this fix): the runtime makes
    it anew in a forked child itself."""
    owner, _, attr = lock.rpartition(".")
    binding = m.bindings.get(owner) if attr == "lock" else None
    return binding is not None and binding.kind in ("locked", "container")


def _slots(cls: ast.ClassDef) -> Set[str]:
    """The names a class body lists in `__slots__`."""
    found: Set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and "__slots__" in _assigned_names(stmt) and stmt.value is not None:
            found.update(n.value for n in ast.walk(stmt.value) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return found


def _align(ctx: FixContext, body: Sequence[ast.stmt], statements: Sequence[cst.CSTNode],
           block: Optional[Block]) -> None:
    """Pair each ast statement with its LibCST statement, block by block."""
    index = 0
    for statement in statements:
        if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in statement.body:
                if index >= len(body):
                    return
                ctx._stmts[id(body[index])] = (statement, small)  # type: ignore[assignment]
                ctx._blocks.setdefault(id(statement), (block, body[index]))
                index += 1
            continue
        if index >= len(body):
            return
        node = body[index]
        index += 1
        ctx._stmts[id(node)] = (statement, None)  # type: ignore[assignment]
        ctx._blocks[id(statement)] = (block, node)
        _align_compound(ctx, node, statement)


def _suite(ctx: FixContext, body: Sequence[ast.stmt], suite: cst.BaseSuite) -> None:
    if isinstance(suite, cst.IndentedBlock):
        _align(ctx, body, suite.body, suite)
    else:
        _align(ctx, body, [suite], None)


def _align_compound(ctx: FixContext, node: ast.stmt, statement: cst.CSTNode) -> None:
    if isinstance(statement, cst.If) and isinstance(node, ast.If):
        _suite(ctx, node.body, statement.body)
        if isinstance(statement.orelse, cst.If) and node.orelse:
            ctx._stmts[id(node.orelse[0])] = (statement.orelse, None)  # type: ignore[assignment]
            ctx._blocks[id(statement.orelse)] = (None, node.orelse[0])
            _align_compound(ctx, node.orelse[0], statement.orelse)
        elif isinstance(statement.orelse, cst.Else):
            _suite(ctx, node.orelse, statement.orelse.body)
    elif isinstance(statement, (cst.For, cst.While)):
        _suite(ctx, node.body, statement.body)  # type: ignore[attr-defined]
        if statement.orelse is not None:
            _suite(ctx, node.orelse, statement.orelse.body)  # type: ignore[attr-defined]
    elif isinstance(statement, (cst.With, cst.FunctionDef, cst.ClassDef)):
        _suite(ctx, node.body, statement.body)  # type: ignore[attr-defined]
    elif isinstance(statement, (cst.Try, cst.TryStar)):
        _suite(ctx, node.body, statement.body)  # type: ignore[attr-defined]
        handlers: Sequence[Union[cst.ExceptHandler, cst.ExceptStarHandler]] = statement.handlers
        for handler, ast_handler in zip(handlers, node.handlers):  # type: ignore[attr-defined]
            _suite(ctx, ast_handler.body, handler.body)
        if statement.orelse is not None:
            _suite(ctx, node.orelse, statement.orelse.body)  # type: ignore[attr-defined]
        if statement.finalbody is not None:
            _suite(ctx, node.finalbody, statement.finalbody.body)  # type: ignore[attr-defined]
    elif isinstance(statement, getattr(cst, "Match", ())) and hasattr(node, "cases"):
        for case, ast_case in zip(statement.cases, node.cases):  # type: ignore[attr-defined]
            _suite(ctx, ast_case.body, case.body)


def plan_recheck(ctx: FixContext, act: Act) -> None:
    """The act already holds a lock, taken after the test: repeat the test inside that lock
    (`if TEST: with L: if TEST: act`), or copy an early-exit guard to the top of it
    (`if TEST: return` ... `with L: if TEST: return` ...). Wrapping would take L twice."""
    check = act.check
    if check is None or check.origin is not check.site or not isinstance(check.site, ast.If):
        raise Unfixable("the test reads the shared state through a local")
    # the locks taken after the test (not the ones the test itself is made under)
    regions = [r for r in act.locks if isinstance(r.node, (ast.With, ast.AsyncWith)) and ctx.m.thread_capable(r)
               and not inside(check.site, r.node)]
    if not regions:
        raise Unfixable("the lock is not a `with` statement after the test")
    with_ast = regions[-1].node
    assert with_ast is not None
    with_node = ctx.statement(with_ast)
    site_node = ctx.statement(check.site)
    ctx.claim([with_node])
    if inside(with_ast, check.site):
        _recheck_keeps_meaning(act, with_ast, check.site)
        ctx.edits.recheck[id(with_node)] = site_node.test  # type: ignore[attr-defined]
    elif terminates(check.site.body) and not check.site.orelse:
        ctx.edits.recheck_if[id(with_node)] = site_node  # type: ignore[assignment]
    else:
        raise Unfixable("the test does not decide the statements under the lock")


def _recheck_keeps_meaning(act: Act, with_ast: ast.AST, site: ast.If) -> None:
    """`if T: with L: A` -> `if T: with L: if T: A` skips A when T no longer holds; that is only
    the same program when nothing after the lock in the test's body runs anyway and no name A
    binds is read later (it would be unbound)."""
    if with_ast not in site.body or site.body[-1] is not with_ast:
        raise Unfixable("statements after the lock would run even when the repeated test fails")
    act.func.ensure_scope()
    bound = {n.id for n in ast.walk(with_ast) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
             and n.id in act.func.locals and n.id not in act.func.globals_declared}
    end = getattr(with_ast, "end_lineno", 0) or 0
    later = {n.id for n in ast.walk(act.func.node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
             and n.lineno > end}
    if bound & later:
        raise Unfixable(f"'{sorted(bound & later)[0]}' is set under the lock and used after it: it would be "
                        f"unbound when the repeated test fails")


def plan_each(ctx: "FixContext", items: Iterable[Tuple[Finding, Any]],
              fix_one: Callable[[Finding, Any], bool]) -> Set[Finding]:
    """The findings `fix_one` planned a fix for (it returns False, or raises Unfixable with the
    reason, which `ctx.reasons` keeps for the summary)."""
    fixed: Set[Finding] = set()
    for finding, act in items:
        try:
            if fix_one(finding, act):
                fixed.add(finding)
        except Unfixable as exc:
            ctx.reasons.setdefault(finding, str(exc))
    return fixed


def _assigned_names(stmt: ast.stmt) -> Set[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]  # type: ignore[attr-defined]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def contains_await(nodes: Sequence[ast.AST]) -> bool:
    """An `await` (or async for/with) that would run while a lock is held."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


class _Iterables(cst.CSTVisitor):
    """The iterables of `for` statements and comprehensions whose code is `wanted` (blanks
    ignored), each with the ids of the nodes on the way to it."""

    def __init__(self, module: cst.Module, wanted: str) -> None:
        super().__init__()
        self.module, self.wanted = module, wanted
        self.path: List[int] = []
        self.matches: List[Tuple[cst.CSTNode, List[int]]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.path.append(id(node))
        if isinstance(node, (cst.For, cst.CompFor)) and \
                "".join(self.module.code_for_node(node.iter).split()) == self.wanted:
            self.matches.append((node.iter, list(self.path)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.path.pop()
