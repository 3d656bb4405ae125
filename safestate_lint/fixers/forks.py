"""Locks a fix adds to a module that forks are made anew in the child.

`os.fork()` starts only the thread that called it: a lock another thread held at that
moment stays held in the child, by a thread that does not exist, and the child hangs on
it.  In a module that forks (`os.fork()`, `pty.fork()`, `os.register_at_fork`), starts
processes with the fork start method (`multiprocessing`, `ProcessPoolExecutor`: the default
on Linux before Python 3.14), or is a prefork server's hooks (gunicorn's `post_fork(server,
worker)`, uWSGI's `@postfork`), every lock the fix adds is made again in the child:

    def _reinit_locks_after_fork():
        global _served_lock
        _served_lock = threading.Lock()
        Jobs._done_lock = threading.RLock()


    os.register_at_fork(after_in_child=_reinit_locks_after_fork)

placed right after the imports, so it is registered before any hook of the module's own
that could take those locks in the child.  Where the platform may not fork (a module that
only uses `multiprocessing`), the registration is guarded by `hasattr(os,
"register_at_fork")`.  A lock the module already had is not made anew by the fix: a fix
that would put more code under it is left, with the reason.

Pure analysis and text; `FixContext` places the statements.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import List, Optional, Sequence, Set

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.facts import FORK_CALLS
from safestate_lint.engine.syntax import dotted_name
from safestate_lint.fixers.edits import LockDecl

_START_METHOD_CALLS = frozenset({"multiprocessing.get_context", "multiprocessing.set_start_method",
                                 "multiprocessing.context.get_context"})
# starting a process with the default start method: fork on Linux before Python 3.14
_PROCESS_STARTERS = frozenset({"multiprocessing.Process", "multiprocessing.Pool", "multiprocessing.pool.Pool",
                               "concurrent.futures.ProcessPoolExecutor", "multiprocessing.context.Process"})
# gunicorn's server hooks (a config module): the master runs them, and forks its workers
_PREFORK_HOOKS = frozenset({"on_starting", "when_ready", "pre_fork", "post_fork", "post_worker_init", "pre_exec",
                            "child_exit", "worker_exit", "worker_int", "worker_abort", "nworkers_changed"})
_PREFORK_DECORATORS = frozenset({"postfork", "uwsgidecorators.postfork"})


@dataclass(frozen=True)
class ForkSite:
    """How a module forks: what to name in a reason, and whether the platform surely can."""

    what: str
    posix_only: bool  # `os.fork()` itself: os.register_at_fork exists wherever this runs


def fork_site(m: ModuleAnalysis) -> Optional[ForkSite]:
    """How the module forks, or None."""
    methods = _start_methods(m)
    default_forks = not methods or "fork" in methods
    found: Optional[ForkSite] = None
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Call):
            name = m.qualify(node.func) or ""
            if name in FORK_CALLS or name == "os.register_at_fork":
                return ForkSite(f"{name}()", True)
            if found is None and name in _START_METHOD_CALLS and "fork" in _literal_args(node):
                found = ForkSite(f"{name}('fork')", False)
            elif found is None and name in _PROCESS_STARTERS and default_forks and not _has_context(node):
                found = ForkSite(f"{name}() (fork is the default start method on Linux before Python 3.14)", False)
        elif isinstance(node, ast.ClassDef) and found is None and default_forks and \
                any((m.qualify(base) or "") in _PROCESS_STARTERS for base in node.bases):
            found = ForkSite(f"class {node.name}, a multiprocessing.Process", False)
    if found is not None:
        return found
    for stmt in m.tree.body:
        if isinstance(stmt, ast.FunctionDef):
            params = [a.arg for a in stmt.args.args]
            if stmt.name in _PREFORK_HOOKS and params[:1] in (["server"], ["arbiter"]):
                return ForkSite(f"the prefork server hook '{stmt.name}()'", False)
            if any(dotted_name(d.func if isinstance(d, ast.Call) else d) in _PREFORK_DECORATORS
                   for d in stmt.decorator_list):
                return ForkSite(f"the post-fork hook '{stmt.name}()'", False)
    return None


def _literal_args(call: ast.Call) -> Set[str]:
    return {a.value for a in [*call.args, *(k.value for k in call.keywords)]
            if isinstance(a, ast.Constant) and isinstance(a.value, str)}


def _start_methods(m: ModuleAnalysis) -> Set[str]:
    """The start methods the module names (`get_context("spawn")`, `set_start_method(...)`)."""
    found: Set[str] = set()
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Call) and (m.qualify(node.func) or "") in _START_METHOD_CALLS:
            found |= _literal_args(node)
    return found


def _has_context(call: ast.Call) -> bool:
    return any(k.arg in ("mp_context", "context") for k in call.keywords)


def renewed_in_child(m: ModuleAnalysis) -> Set[str]:
    """The locks (`_lock`, `Cls._lock`) the module's own after-fork hooks already make anew."""
    hooks: Set[str] = set()
    for node in ast.walk(m.tree):
        if isinstance(node, ast.Call) and m.qualify(node.func) == "os.register_at_fork":
            hooks.update(dotted_name(k.value) or "" for k in node.keywords if k.arg == "after_in_child")
    renewed: Set[str] = set()
    for stmt in m.tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name in hooks:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Assign):
                    renewed.update(dotted_name(t) or "" for t in node.targets)
    return renewed - {""}


@dataclass
class ForkHook:
    """The after-fork hook of one pass: its statements render the locks' final kinds (a lock
    becomes an RLock late in planning)."""

    name: str
    locks: Sequence[LockDecl]
    guarded: bool

    def statements(self) -> List[str]:
        module = sorted(d.name for d in self.locks if not d.owner)
        lines = [f"def {self.name}():",
                 "    # the child of a fork runs only the thread that forked: a lock another thread held then "
                 "stays held"]
        if module:
            lines.append(f"    global {', '.join(module)}")
        for decl in sorted(self.locks, key=lambda d: (d.owner, d.name)):
            target = f"{decl.owner}.{decl.name}" if decl.owner else decl.name
            lines.append(f"    {target} = threading.{'RLock' if decl.reentrant else 'Lock'}()")
        register = f"os.register_at_fork(after_in_child={self.name})"
        if self.guarded:
            register = f'if hasattr(os, "register_at_fork"):  # not on Windows\n    {register}'
        return ["\n\n" + "\n".join(lines) + "\n", "\n\n" + register + "\n"]
