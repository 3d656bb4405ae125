"""One analysis of a module that every rule (and every fixer) reads, built by passes:

1. module bindings (:mod:`.bindings`): what each module-level name, class attribute and
   shared-instance attribute is bound to, and the module's functions;
2. the per-function walk (:mod:`.walker`): facts with the locks held and their checks, and
   the calls each function makes;
3. the call graph and per-function summaries (:mod:`.callgraph`): the locks callers hold,
   writes made through helpers, and what a call can reach (for the fixers' safety rules);
4. the facts model (:mod:`.facts`): :class:`Act`, :class:`Check`, :class:`LockRegion`.

Rules only decide which facts are findings; fixers read the same facts to know what to
rewrite.
"""

from __future__ import annotations

import ast
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

from safestate_lint.config import Config
from safestate_lint.engine.callgraph import build as build_call_graph
from safestate_lint.engine.context import ExecutionContexts
from safestate_lint.engine.bindings import ModuleBindings
from safestate_lint.engine.facts import Act, Binding, Check, FunctionInfo, FunctionNode, LockRegion, SharedKey
from safestate_lint.engine.guarded import Guard, declarations
from safestate_lint.engine.syntax import char_col, child_nodes, dotted_name, iter_scope_nodes, parent_map, walk
from safestate_lint.engine.locking import LockUsage, lock_usage
from safestate_lint.engine.shapes import StaleRead, stale_reads
from safestate_lint.engine.walker import FunctionWalker
from safestate_lint.index.view import ModuleView

__all__ = ["Act", "Binding", "Check", "FunctionInfo", "FunctionNode", "LockRegion", "ModuleAnalysis", "SharedKey",
           "char_col", "dotted_name", "iter_scope_nodes"]


class ModuleAnalysis(ModuleBindings):
    """Facts about one module, computed once."""

    def __init__(self, tree: ast.Module, config: Config, lines: Optional[Sequence[str]] = None,
                 *, prefilter: bool = True, view: Optional[ModuleView] = None) -> None:
        super().__init__(tree, config, lines, prefilter=prefilter, view=view)
        candidates = self._candidate_offsets()
        for info in self.functions:
            if info.import_time or not self._may_touch_shared_state(info, candidates):
                continue
            info.ensure_scope()
            FunctionWalker(self, info).run()
        build_call_graph(self, lambda info: FunctionWalker(self, info).run())
        self._stale_reads: Optional[List[StaleRead]] = None
        self._lock_usage: Optional[LockUsage] = None
        self._parents: Optional[Dict[int, ast.AST]] = None
        self._global_uses: Optional[Dict[str, List[Tuple[ast.Name, ast.AST]]]] = None
        self._by_node: Dict[int, FunctionInfo] = {}
        self._contexts: Optional[ExecutionContexts] = None
        self._guards: Optional[List[Guard]] = None

    def guards(self) -> List[Guard]:
        """The module's guarded-by declarations (read once: the rules, `reports` and the fixers
        all ask)."""
        if self._guards is None:
            self._guards = declarations(self)
        return self._guards

    def contexts(self) -> Optional[ExecutionContexts]:
        """Who runs each function and touches each piece of state (event loop, threads), or
        None when the module defines no coroutine: then everything runs in threads."""
        if self._contexts is None and any(info.is_async for info in self.functions):
            self._contexts = ExecutionContexts(self)
        return self._contexts

    # ---- where module names are used (for fixers that must know who can notice a change) ----
    def parent_of(self, node: ast.AST) -> Optional[ast.AST]:
        if self._parents is None:
            self._parents = parent_map(self.tree)
        return self._parents.get(id(node))

    def uses_of_global(self, name: str) -> List[Tuple[ast.Name, ast.AST]]:
        """Every `name` that denotes the module global (not a local of the same name), with its
        parent node, in the module body and every function."""
        if self._global_uses is None:
            self._global_uses = {}
            self._by_node = {id(info.node): info for info in self.functions}
            self._index_uses(self.tree.body, frozenset())
        return self._global_uses.get(name, [])

    def _index_uses(self, body: Sequence[ast.AST], local: FrozenSet[str]) -> None:
        assert self._global_uses is not None
        stack: List[Tuple[ast.AST, FrozenSet[str]]] = [(node, local) for node in body]
        while stack:
            node, names = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                info = self._by_node.get(id(node))
                inner = names
                if info is not None:
                    info.ensure_scope()
                    inner = frozenset((names | info.locals) - info.globals_declared)
                elif isinstance(node, ast.Lambda):
                    inner = names | {a.arg for a in walk(node.args) if isinstance(a, ast.arg)}
                own: object = node.body  # a list of statements, or a lambda's one expression
                inside = {id(part) for part in own} if isinstance(own, list) else {id(own)}
                for child in child_nodes(node):
                    stack.append((child, inner if id(child) in inside else names))
                continue
            if isinstance(node, ast.Name) and node.id not in names:
                self._global_uses.setdefault(node.id, []).append((node, self.parent_of(node) or self.tree))
            stack.extend((child, names) for child in child_nodes(node))

    def lock_usage(self) -> LockUsage:
        """Where locks are taken, and what runs under them (computed once, for SST4)."""
        if self._lock_usage is None:
            self._lock_usage = lock_usage(self)
        return self._lock_usage

    def stale_reads(self) -> List[StaleRead]:
        """Globals read again after the lock that updated them was released (computed once)."""
        if self._stale_reads is None:
            self._stale_reads = stale_reads(self)
        return self._stale_reads

    def lazy_init_status(self, act: Act) -> Optional[str]:
        """How a check-then-act on a global or class attribute (lazy init) is protected.

        None: not a check-then-act of that kind, or correctly protected (checked and set
        under one acquisition of a lock that excludes threads).  "unlocked": no lock at all.
        "no-recheck": the act is under a lock but the check before it is not repeated inside.
        "async-lock": the only lock is an asyncio-style lock, but threads reach the state.
        """
        check = act.check
        if act.key[0] == "o" or check is None or act.key not in check.keys or act.reads_self or act.idempotent \
                or act.resets:
            return None  # an object built for threads: SST304 reports its stale tests
        if act.key[0] in ("g", "n", "i") and (act.kind != "rebind" or act.key not in check.lazy_keys):
            return None
        if check.shares_lock_with(act.locks, self.thread_capable):
            return None
        if any(self.thread_capable(region) for region in act.locks):
            return "no-recheck"
        if act.locks or check.locks:
            return "async-lock"
        return "unlocked"

    @staticmethod
    def is_locked(act: Act) -> bool:
        return bool(act.locks)
