"""What every fixer shares: finding LibCST nodes for the analysis' facts, providing locks,
planning non-overlapping edits, and applying them in one LibCST transformation.

Fixers only plan edits; the analysis (read through `engine.reports`) decides what is
unsafe, exactly as `check` does.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from safestate_lint.engine.analysis import Act, FunctionInfo, ModuleAnalysis
from safestate_lint.engine.callgraph import Reach
from safestate_lint.engine.context import ExecutionContexts
from safestate_lint.engine.syntax import dotted_name, inside, terminates
from safestate_lint.finding import Finding

Block = Union[cst.Module, cst.IndentedBlock]


_ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum"})


class Unfixable(Exception):
    """This finding has no automatic fix; the message is the reason `fix` prints."""


class LockDecl:
    """A lock the fix creates; it becomes an `RLock` when any statement it guards calls code
    that could take it again (decided once every statement of the pass is planned)."""

    def __init__(self, name: str, event_loop: bool = False) -> None:
        self.name = name
        self.reentrant = False
        self.event_loop = event_loop  # an `asyncio.Lock()`, entered with `async with`

    @property
    def module(self) -> str:
        return "asyncio" if self.event_loop else "threading"

    def __str__(self) -> str:
        if self.event_loop:
            return f"{self.name} = asyncio.Lock()"
        return f"{self.name} = threading.{'RLock' if self.reentrant else 'Lock'}()"


@dataclass
class Edits:
    """Edits keyed by the identity of original LibCST nodes."""

    wrap: Dict[int, Tuple[cst.CSTNode, str]] = field(default_factory=dict)  # first stmt -> (last stmt, lock)
    double_check: Dict[int, str] = field(default_factory=dict)  # If -> lock
    # guarding If -> (lock, last statement): the guard repeated under the lock, through `last`
    early_return: Dict[int, Tuple[str, cst.CSTNode]] = field(default_factory=dict)
    recheck: Dict[int, cst.BaseExpression] = field(default_factory=dict)  # With -> test to repeat inside
    recheck_if: Dict[int, cst.If] = field(default_factory=dict)  # With -> guarding If copied in front
    to_thread_lock: Dict[int, str] = field(default_factory=dict)  # async With -> threading lock
    to_async_lock: Set[int] = field(default_factory=set)  # With on a thread lock -> `async with`
    async_locks: Set[str] = field(default_factory=set)  # locks the wraps enter with `async with`
    replace_expr: Dict[int, str] = field(default_factory=dict)
    insert_after: Dict[int, List[Union[str, LockDecl]]] = field(default_factory=dict)
    insert_before: Dict[int, List[str]] = field(default_factory=dict)
    body_start: Dict[int, List[Union[str, LockDecl]]] = field(default_factory=dict)  # ClassDef -> statements
    # statement -> (shared name as written: `X`, or (`cls`, `attr`) owners and attribute, local to use)
    rename: Dict[int, Tuple[Tuple[str, ...], str, str]] = field(default_factory=dict)
    delete: Set[int] = field(default_factory=set)  # block-level statements removed

    def empty(self) -> bool:
        return not any(vars(self).values())


class FixContext:
    """One pass over one module: the analysis, the LibCST tree, and the plan being built.

    ast statements are matched to LibCST statements by walking both statement trees in
    parallel (linear in statements; no metadata providers, which cost 20x the parse on a
    large file)."""

    def __init__(self, analysis: ModuleAnalysis, source: str, unsafe_fixes: bool) -> None:
        self.m = analysis
        self.unsafe_fixes = unsafe_fixes
        self.module = cst.parse_module(source)
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
        self.reach = Reach(analysis)
        self.reasons: Dict[Finding, str] = {}  # findings left without a fix -> why
        self._handlers: Optional[Set[str]] = None
        self.refused: Dict[Tuple[str, ...], str] = {}  # globals no fix may lock this pass (why)
        self.locked_regions: Set[int] = set()  # ast statements a fix of this pass puts under a lock
        # existing non-reentrant lock -> (function this pass makes take it, the functions reached under it)
        self._taking: Dict[str, List[Tuple[FunctionInfo, Set[int]]]] = {}
        self._event_loop_keys: Dict[Tuple[str, ...], bool] = {}

    # ---- locating ---------------------------------------------------------------------
    def statement(self, node: ast.AST) -> cst.BaseStatement:
        """The block-level LibCST statement (a line or a compound statement) of an ast statement."""
        found = self._stmts.get(id(node))
        if found is None:
            raise Unfixable(f"cannot locate the statement at line {getattr(node, 'lineno', '?')}")
        return found[0]

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
    def lock_for(self, act: Act, stmts: Sequence[ast.AST], once: bool = False) -> str:
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
        if self.event_loop_key(act.key):
            return self._event_loop_lock(act, stmts, summary)
        if summary.awaits:
            raise Unfixable("a threading lock cannot be held across an await" + self._why_not_event_loop(act.key))
        reach = self.reach.closure(summary)
        if reach.blocking and not once:  # the same list as SST404, through the calls made here too
            raise Unfixable(f"the statements make a blocking call, {reach.blocking[0]}, which would hold the lock "
                            f"for every other thread")
        lock = self.lock_for_global(act.key[1]) if act.key[0] == "g" else \
            self.lock_for_class(act.func, act.key[1], act.key[2])
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
        return lock

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
        key = ("g", name)
        lock = self._locks.get(key)
        if lock is None or lock not in self.edits.async_locks:
            lock = self._existing_event_loop_guard(key)
            if lock is None:
                lock = self.fresh_name(f"_{name.strip('_').lower() or 'state'}_lock",
                                       alternative=f"_{name.strip('_').lower() or 'state'}_task_lock")
                self._new_locks[lock] = decl = LockDecl(lock, event_loop=True)
                binding = self.m.bindings.get(name)
                anchor = self._module_anchor(binding.node if binding is not None else None)
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
                        and isinstance(region.node, ast.AsyncWith):
                    return region.name
        return None

    def _interrupting(self, key: Tuple[str, ...]) -> Optional[str]:
        """A function writing `key` that can run in the middle of other code of the same thread:
        `__del__` (garbage collection) or a handler given to `signal.signal`."""
        if self._handlers is None:
            self._handlers = set()
            for node in ast.walk(self.m.tree):
                if isinstance(node, ast.Call) and self.m.qualify(node.func) == "signal.signal" and len(node.args) > 1:
                    name = dotted_name(node.args[1])
                    if name is not None:
                        self._handlers.add(name.rsplit(".", 1)[-1])
        for act in self.m.acts:
            if act.key == key and (act.func.name == "__del__" or act.func.name in self._handlers):
                return act.func.qualname
        return None

    def _check_existing(self, func: FunctionInfo, lock: str, key: Tuple[str, ...], reach) -> None:  # type: ignore[no-untyped-def]
        """Raise Unfixable when holding the existing lock `lock` around code of `func` could deadlock."""
        if key[0] == "g":
            binding = self.m.bindings.get(lock)
            ident = lock
        else:
            binding = self.m.class_attrs.get((key[1], lock.rsplit(".", 1)[-1]))
            ident = f"{key[1]}.{lock.rsplit('.', 1)[-1]}"
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
        base = name.strip('_').lower() or 'state'
        lock = self.fresh_name(f"_{base}_lock", alternative=f"_{base}_thread_lock")  # never adopt a lock by name
        self.imports.add(("threading", None))
        statement = self._new_locks[lock] = LockDecl(lock)
        anchor = self._module_anchor(node)
        if anchor is None:
            self.edits.body_start.setdefault(id(self.module), []).append(statement)
        else:
            self.edits.insert_after.setdefault(id(anchor), []).append(statement)
        return lock

    def _module_anchor(self, node: Optional[ast.AST]) -> Optional[cst.CSTNode]:
        """The statement to insert after, when it sits in a block (else: after the imports)."""
        if node is not None and isinstance(node, ast.stmt):
            try:
                statement = self.statement(node)
                self.block_of(statement)
                return statement
            except Unfixable:
                pass
        return None

    def lock_for_class(self, func: FunctionInfo, class_name: str, attr: str) -> str:
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
            existing = [name for (owner, name), b in self.m.class_attrs.items()
                        if owner == class_name and b.kind == "lock" and not b.async_lock and
                        any(isinstance(s, (ast.Assign, ast.AnnAssign)) and name in _assigned_names(s) for s in cls.body)]
            if existing:
                self._locks[key] = existing[0]
            else:
                taken = {name for (owner, name) in self.m.class_attrs if owner == class_name}
                base = attr.strip('_') or 'state'
                lock = self.fresh_name(f"_{base}_lock", taken, scope=class_name, alternative=f"_{base}_thread_lock")
                self.imports.add(("threading", None))
                statement = self._class_new[key] = LockDecl(lock)
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
        owner = func.cls_param if func.cls_param and func.class_name == class_name else class_name
        lock = f"{owner}.{self._locks[key]}"
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
            return not isinstance(item, LockDecl) or any(u == item.name or u.endswith("." + item.name) for u in used)

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
            self.imports.add(("asyncio", None))

    def apply(self) -> str:
        self._drop_unused_locks()
        updated = cst.ensure_type(self.module.visit(_Apply(self.edits)), cst.Module)
        needed = [(module, obj) for module, obj in sorted(self.imports, key=lambda item: (item[0], item[1] or ""))
                  if not self._imported(module, obj)]
        if needed:
            # AddImportsVisitor on the import header only (it walks every node it is given), and
            # only up to the first relative import: new absolute imports go before `from . import`
            body: List[cst.BaseStatement] = list(updated.body)
            at = _after_imports(body)
            split = next((i for i in range(at) if _is_relative_import(body[i])), at)
            context = CodemodContext()
            for module, obj in needed:
                AddImportsVisitor.add_needed_import(context, module, obj)
            header = AddImportsVisitor(context).transform_module(updated.with_changes(body=body[:split]))
            rest = body[split:]
            had_imports = any(isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], (cst.Import, cst.ImportFrom))
                              for s in body[:at])
            if rest and not had_imports and not getattr(rest[0], "leading_lines", True):
                rest[0] = rest[0].with_changes(leading_lines=[cst.EmptyLine(indent=False)])  # type: ignore[attr-defined]
            updated = updated.with_changes(body=[*header.body, *rest])
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


def _statement(code: str, newline_module: cst.Module) -> cst.BaseStatement:
    return cst.parse_statement(code, config=newline_module.config_for_parsing)


class _Apply(cst.CSTTransformer):
    """Applies an `Edits` plan; block edits zip original and updated statement lists."""

    def __init__(self, edits: Edits) -> None:
        super().__init__()
        self.e = edits
        self.module: Optional[cst.Module] = None
        self._made: Set[int] = set()
        self._keep: List[cst.With] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        # statements and blocks lead to every edit; expressions only when one is replaced
        if isinstance(node, cst.Module):
            self.module = node
        if isinstance(node, cst.BaseExpression):
            return id(node) in self.e.replace_expr
        return isinstance(node, (cst.Module, cst.BaseStatement, cst.BaseSmallStatement, cst.BaseSuite, cst.Else, cst.Annotation, cst.WithItem,
                                 cst.ExceptHandler, cst.Finally, getattr(cst, "ExceptStarHandler", cst.Else),
                                 getattr(cst, "MatchCase", cst.Else)))

    def _stmt(self, code: str) -> cst.BaseStatement:
        assert self.module is not None
        return _statement(code, self.module)

    def _lock_item(self, lock: str) -> cst.WithItem:
        return cst.WithItem(item=cst.parse_expression(lock))

    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode):  # type: ignore[no-untyped-def]
        e = self.e
        key = id(original)
        if key in e.replace_expr:
            return cst.parse_expression(e.replace_expr[key])
        if isinstance(updated, cst.If) and key in e.double_check:
            inner = cst.If(test=cst.ensure_type(original, cst.If).test.deep_clone(), body=updated.body)
            guarded = cst.With(items=[self._lock_item(e.double_check[key])], body=cst.IndentedBlock(body=[inner]))
            updated = updated.with_changes(body=cst.IndentedBlock(body=[guarded]))
        if isinstance(updated, cst.With):
            if key in e.to_thread_lock:
                updated = updated.with_changes(asynchronous=None, items=[self._lock_item(e.to_thread_lock[key])])
            if key in e.to_async_lock:
                updated = updated.with_changes(asynchronous=cst.Asynchronous())
            if key in e.recheck:
                inner_if = cst.If(test=e.recheck[key].deep_clone(), body=updated.body)
                updated = updated.with_changes(body=cst.IndentedBlock(body=[inner_if]))
            if key in e.recheck_if:
                guard = e.recheck_if[key].deep_clone().with_changes(leading_lines=())
                body = cst.ensure_type(updated.body, cst.IndentedBlock)
                updated = updated.with_changes(body=body.with_changes(body=[guard, *body.body]))
        if isinstance(updated, cst.ClassDef) and key in e.body_start:
            body = cst.ensure_type(updated.body, cst.IndentedBlock)
            items = list(body.body)
            at = 1 if items and _is_docstring(items[0]) else 0
            added = [self._stmt(str(code)) for code in e.body_start[key]]
            following = at
            items[at:at] = added
            after = following + len(added)
            if after < len(items) and isinstance(items[after], cst.BaseCompoundStatement) \
                    and not items[after].leading_lines:  # type: ignore[attr-defined]
                items[after] = items[after].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
            updated = updated.with_changes(body=body.with_changes(body=items))
        if key in e.rename:
            owners, name, local = e.rename[key]
            renamed = updated.visit(_Rename(owners, name, local))
            assert isinstance(renamed, cst.CSTNode)  # a statement is never removed by renaming
            updated = renamed
        if isinstance(updated, (cst.Module, cst.IndentedBlock)):
            updated = self._edit_block(original, updated)  # type: ignore[arg-type]
        return updated

    def _edit_block(self, original: Block, updated: Block) -> Block:
        e = self.e
        old, new = list(original.body), list(updated.body)
        result: List[cst.BaseStatement] = []
        if isinstance(original, cst.Module) and id(original) in e.body_start:
            at = _after_imports(new)
            new[at:at] = [self._stmt(str(code)) for code in e.body_start[id(original)]]
            old[at:at] = [None] * len(e.body_start[id(original)])  # type: ignore[list-item]
        i = 0
        while i < len(new):
            orig, stmt = old[i], new[i]
            key = id(orig) if orig is not None else 0
            if key in e.delete:
                i += 1
                continue
            for code in e.insert_before.get(key, []):
                # a new definition takes the blank lines and comments that preceded its anchor
                result.append(self._stmt(code).with_changes(leading_lines=getattr(stmt, "leading_lines", ())))
                stmt = stmt.with_changes(leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(indent=False)])  # type: ignore[attr-defined]
            if key in e.wrap:
                last, lock = e.wrap[key]
                j = next(k for k in range(i, len(old)) if old[k] is last)
                inner = self._with_inserts(old[i:j], new[i:j]) + [new[j]]
                self._append(result, self._wrapped(inner, lock))
                for added in e.insert_after.get(id(last), []):
                    result.append(self._stmt(str(added)))
                i = j + 1
                continue
            if key in e.early_return:
                lock, last = e.early_return[key]
                guard = cst.ensure_type(stmt, cst.If)
                copy = guard.deep_clone().with_changes(leading_lines=())
                result.append(stmt)
                j = next(k for k in range(i + 1, len(old)) if old[k] is last)
                rest = self._with_inserts(old[i + 1:j + 1], new[i + 1:j + 1])
                result.append(self._wrapped([copy, *rest], lock, move_comments=False))
                i = j + 1
                continue
            result.append(stmt)
            for added in e.insert_after.get(key, []):
                result.append(self._stmt(str(added)))
            i += 1
        return updated.with_changes(body=result)

    def _with_inserts(self, old: List[cst.BaseStatement], new: List[cst.BaseStatement]) -> List[cst.BaseStatement]:
        """`new` with the statements planned after each of them (inside a range being wrapped)."""
        out: List[cst.BaseStatement] = []
        for orig, stmt in zip(old, new):
            out.append(stmt)
            out.extend(self._stmt(str(added)) for added in self.e.insert_after.get(id(orig), []))
        return out

    def _append(self, result: List[cst.BaseStatement], stmt: cst.BaseStatement) -> None:
        """Append; a `with L:` the fix made right after another `with L:` joins it (one block)."""
        previous = result[-1] if result else None
        if isinstance(stmt, cst.With) and isinstance(previous, cst.With) and id(stmt) in self._made \
                and id(previous) in self._made and len(stmt.items) == len(previous.items) == 1 \
                and previous.items[0].item.deep_equals(stmt.items[0].item) and not stmt.leading_lines:
            body = cst.ensure_type(previous.body, cst.IndentedBlock)
            extra = cst.ensure_type(stmt.body, cst.IndentedBlock).body
            merged = previous.with_changes(body=body.with_changes(body=[*body.body, *extra]))
            self._made.add(id(merged))
            self._keep.append(merged)
            result[-1] = merged
            return
        result.append(stmt)

    def _wrapped(self, stmts: List[cst.BaseStatement], lock: str, move_comments: bool = True) -> cst.With:
        first = stmts[0]
        leading = getattr(first, "leading_lines", ()) if move_comments else ()
        if leading:
            stmts = [first.with_changes(leading_lines=()), *stmts[1:]]  # type: ignore[attr-defined]
        made = cst.With(items=[self._lock_item(lock)], body=cst.IndentedBlock(body=stmts), leading_lines=leading,
                        asynchronous=cst.Asynchronous() if lock in self.e.async_locks else None)
        self._made.add(id(made))  # made by this fix: may join an adjacent one
        self._keep.append(made)  # (kept alive, so its id is never reused)
        return made


class _Rename(cst.CSTTransformer):
    """`X` (or `owner.X` for one of `owners`) -> `local`, outside nested functions and classes."""

    def __init__(self, owners: Tuple[str, ...], name: str, local: str) -> None:
        super().__init__()
        self.owners, self.name, self.local = owners, name, local

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return updated.with_changes(value=self.local) if not self.owners and updated.value == self.name else updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        if self.owners and updated.attr.value == self.name and isinstance(updated.value, cst.Name) \
                and updated.value.value in self.owners:
            return cst.Name(self.local)
        return updated.with_changes(attr=original.attr)  # `obj.X` is not the name X

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)  # `f(X=...)` neither


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _is_relative_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(s, cst.ImportFrom) and bool(s.relative) for s in stmt.body)


def _after_imports(body: List[cst.BaseStatement]) -> int:
    """Index after the module docstring and the leading imports."""
    at = 0
    if body and _is_docstring(body[0]):
        at = 1
    while at < len(body):
        stmt = body[at]
        if isinstance(stmt, cst.SimpleStatementLine) and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
            at += 1
        else:
            break
    return at

