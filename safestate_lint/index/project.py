"""The project index: every module's summary, and what each module learns from the others.

A module's findings depend on the whole project, never on which files a run was given: the
index always covers every Python file under the project root (:mod:`.roots`) that the
root's config does not exclude. Summaries are cached per file by content hash in one file
under `.safestate_cache/` (a file whose size and mtime did not change is not even read), so
a warm run reads one JSON file and stats the tree.

:meth:`ProjectIndex.view` gives one module its :class:`ModuleView`: the facts the module-level
analysis cannot see from inside the module. The engine folds them into its own model; the
view's fingerprint joins the findings cache key, so a change elsewhere that changes what a
module sees re-checks it, and nothing else does.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Tuple

from safestate_lint import __version__
from safestate_lint.config import Config
from safestate_lint.index.roots import module_name, project_root, source_roots
from safestate_lint.index.view import EMPTY_VIEW, SUMMARY_VERSION, ModuleView, Summary

CACHE_DIR_NAME = ".safestate_cache"




def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# folders whose modules run beside the program, not in it: what they do is no evidence of sharing
_NOT_THE_PROGRAM = frozenset({"examples", "example", "docs", "doc", "doctests", "benchmarks", "benchmark", "bench",
                              "scripts", "tools", "demo", "demos", "samples", "tests", "test", "testing"})


class ProjectIndex:
    """The modules of one project root and their summaries."""

    def __init__(self, root: str, marked: bool, config: Config, use_cache: bool = True) -> None:
        self.root = root
        self.use_cache = use_cache
        self._missing: List[Tuple[str, str, bool]] = []
        self._rel: Dict[str, str] = {}
        self.config = config
        self.roots = source_roots(root, config.src, config.root)
        self.marked = marked
        self.modules: Dict[str, str] = {}  # module -> path
        self.paths: Dict[str, Tuple[str, bool]] = {}  # abs path -> (module, is package)
        self.summaries: Dict[str, Summary] = {}  # module -> summary
        self._entries: Dict[str, List[Any]] = {}  # rel path -> [mtime_ns, size, digest, summary]
        self._dirty = False
        self._tables: Optional[_Tables] = None
        self._views: Dict[str, ModuleView] = {}
        # a project keeps its index in its root; a directory that is no project, where the config
        # (or the current directory) keeps its findings
        base = root if marked else (config.root or os.getcwd())
        tag = "" if marked else "-" + _digest(root.encode())[:12]
        self._cache_base = os.path.join(base, CACHE_DIR_NAME)
        self._cache_file = os.path.join(self._cache_base, __version__,
                                        f"index-{SUMMARY_VERSION}-{config.fingerprint()}{tag}.json")

    # -- files --------------------------------------------------------------------------------
    def _files(self) -> Iterator[str]:
        from safestate_lint.files import discover_files

        if not self.marked:  # no project marker: the directory's own modules, not the tree below
            names = sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []
            yield from (os.path.join(self.root, n) for n in names if n.endswith(".py"))
            return
        files, _ = discover_files([self.root], lambda _path: self.config)
        yield from (f.path for f in files)

    def scan(self) -> List[Tuple[str, str, bool]]:
        """Stat every module; return (path, module, is package) for those whose summary is missing."""
        self._load()
        missing = []
        fresh: Dict[str, List[Any]] = {}
        for path in self._files():
            absolute = os.path.abspath(path)
            named = module_name(absolute, self.roots)
            if named is None:
                continue
            module, package = named
            if module in self.modules:
                continue  # `a.py` beside a package `a/`: the first one wins, as for the interpreter
            self.modules[module] = absolute
            self.paths[absolute] = named
            rel = os.path.relpath(absolute, self.root)
            entry = self._entries.get(rel)
            try:
                stat = os.stat(absolute)
            except OSError:
                continue
            if entry is not None and entry[0] == stat.st_mtime_ns and entry[1] == stat.st_size \
                    and entry[3].get("module") == module:
                fresh[rel] = entry
                self.summaries[module] = entry[3]
                continue
            missing.append((absolute, module, package))
            if entry is not None:
                fresh[rel] = entry  # kept until its digest says whether it changed
        self._entries = fresh
        self._tables = None
        self._views.clear()
        self._missing = missing
        return missing

    def take_missing(self) -> List[Tuple[str, str, bool, bytes]]:
        """The modules whose summary must be made, with their bytes (a file whose stat changed
        but whose bytes did not keeps its summary; one that cannot be read shares nothing)."""
        from safestate_lint.files import read_bytes

        found = []
        for path, module, package in self._missing:
            try:
                data = read_bytes(path)
            except OSError:
                self.add(path, b"", None)
                continue
            if not self.digest_matches(path, data):
                found.append((path, module, package, data))
        self._missing = []
        return found

    def digest_matches(self, path: str, data: bytes) -> bool:
        """A file whose stat changed but whose bytes did not keeps its summary."""
        rel = os.path.relpath(path, self.root)
        entry = self._entries.get(rel)
        module = self.paths[path][0]
        if entry is None or entry[2] != _digest(data) or entry[3].get("module") != module:
            return False
        self.add(path, data, entry[3])
        return True

    def add(self, path: str, data: bytes, summary: Optional[Summary]) -> None:
        """A freshly computed summary (None: the file could not be parsed; it shares nothing)."""
        module = self.paths[path][0]
        if summary is None:
            summary = {"module": module}
        self.summaries[module] = summary
        try:
            stat = os.stat(path)
            self._entries[os.path.relpath(path, self.root)] = [stat.st_mtime_ns, stat.st_size, _digest(data), summary]
        except OSError:
            pass
        self._dirty = True
        self._tables = None
        self._views.clear()

    # -- the cache file -----------------------------------------------------------------------
    def _load(self) -> None:
        if not self.use_cache:
            return
        try:
            with open(self._cache_file, "rb") as handle:
                raw = json.loads(handle.read())
            if isinstance(raw, dict):
                self._entries = raw
        except (OSError, ValueError):
            self._entries = {}

    def save(self) -> None:
        if not self._dirty or not self.use_cache:
            return
        from safestate_lint.runtime._atomic import atomic_write

        try:
            os.makedirs(os.path.dirname(self._cache_file), exist_ok=True)
            gitignore = os.path.join(self._cache_base, ".gitignore")
            if not os.path.exists(gitignore):
                with open(gitignore, "w") as handle:
                    handle.write("# created by safestate-lint\n*\n")
            atomic_write(self._cache_file, json.dumps(self._entries).encode(), durable=False)
            self._dirty = False
        except OSError:
            pass  # a read-only tree is still checked, without an index cache

    # -- views --------------------------------------------------------------------------------
    def view(self, path: str) -> ModuleView:
        named = self.paths.get(os.path.abspath(path))
        if named is None:
            return EMPTY_VIEW
        module = named[0]
        found = self._views.get(module)
        if found is None:
            if self._tables is None:
                self._tables = _Tables(self)
            found = self._views[module] = self._tables.view(module)
        return found

    def evidence(self, module: str) -> bool:
        """Whether what a module does says how the project runs: not a single-threaded test, and
        not an example, a benchmark, documentation or a script beside the code."""
        summary = self.summaries.get(module, {})
        if summary.get("test"):
            return False
        return not any(part in _NOT_THE_PROGRAM for part in self._relative(module).split("/")[:-1])

    def where(self, module: str, line: int) -> str:
        return f"{self._relative(module)}:{line}"

    def _relative(self, module: str) -> str:
        """A module's path relative to the root, with `/` (computed once)."""
        found = self._rel.get(module)
        if found is None:
            path = self.modules.get(module, module)
            found = self._rel[module] = os.path.relpath(path, self.root).replace(os.sep, "/")
        return found


class _Tables:
    """Project-wide tables built once from the summaries; `view` reads them for one module."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        self.summaries = index.summaries
        self.classes: Dict[str, Tuple[str, str, Dict[str, Any]]] = {}  # absolute -> (module, name, facts)
        for module, summary in self.summaries.items():
            for name, facts in summary.get("classes", {}).items():
                self.classes[f"{module}.{name}"] = (module, name, facts)
        self.shared: Dict[str, str] = {}
        self._share()
        self.locked = self._caller_locked()
        self.blocks = self._blocking()
        self.mentioned: Dict[str, int] = {}  # name -> how many modules (tests that start no thread aside) use it
        for summary in self.summaries.values():
            if summary.get("test"):
                continue
            used = set(summary.get("mentions", ())) | {full.rpartition(".")[2] for full in summary.get("imports", {}).values()}
            for name in used:
                self.mentioned[name] = self.mentioned.get(name, 0) + 1

    def resolve(self, name: str, depth: int = 0) -> str:
        """Follow re-exports (`from .client import Client` in `app/__init__.py`) to the definition."""
        if name in self.classes or name in self.summaries or depth > 8 or "." not in name:
            return name
        module, _, attr = name.rpartition(".")
        module = self.resolve(module, depth + 1)
        summary = self.summaries.get(module)
        if summary is None:
            return f"{module}.{attr}"
        target = summary.get("imports", {}).get(attr)
        if target is not None and target != name:
            return self.resolve(target, depth + 1)
        return f"{module}.{attr}"

    def bases(self, cls: str) -> List[str]:
        """The project classes `cls` inherits from, nearest first."""
        found: List[str] = []
        stack = [cls]
        while stack and len(found) < 50:
            entry = self.classes.get(stack.pop())
            for base in entry[2].get("bases", ()) if entry is not None else ():
                resolved = self.resolve(base) if base else ""
                if resolved in self.classes and resolved not in found and resolved != cls:
                    found.append(resolved)
                    stack.append(resolved)
        return found

    def _share(self) -> None:
        """Classes whose instances threads share, and why: seeded by what each module makes and
        hands on, then through the objects a shared object owns, and up to the bases whose
        methods run on it."""
        owns: Dict[str, List[Tuple[str, str, str]]] = {}
        queue: List[str] = []
        for module, summary in self.summaries.items():
            if not self.index.evidence(module):
                continue
            for created, why, line in summary.get("shares", ()):
                cls = self.resolve(created)
                if cls in self.classes and cls not in self.shared:
                    self.shared[cls] = f"{why} ({self.index.where(module, line)})"
                    queue.append(cls)
            for owner, created, attr, line in summary.get("owns", ()):
                cls = self.resolve(created)
                if cls in self.classes:
                    owns.setdefault(f"{module}.{owner}", []).append((cls, attr, self.index.where(module, line)))
        while queue:
            cls = queue.pop()
            short = cls.rsplit(".", 1)[-1]
            for held, attr, where in owns.get(cls, ()):
                if held not in self.shared:
                    self.shared[held] = f"the shared '{short}' holds one in '{attr}' ({where})"
                    queue.append(held)
            for base in self.bases(cls):
                if base not in self.shared:
                    self.shared[base] = f"its subclass '{short}' is shared: {self.shared[cls]}"
                    queue.append(base)

    def _caller_locked(self) -> Dict[str, Tuple[str, ...]]:
        """Module functions every call from another module makes with one lock held."""
        sites: Dict[str, List[Optional[FrozenSet[str]]]] = {}
        for module, summary in self.summaries.items():
            if summary.get("test"):
                continue  # a test that starts no thread calls from one thread: its calls hold nothing
            for callee, uses in summary.get("calls", {}).items():
                target = self.resolve(callee)
                owner, _, name = target.rpartition(".")
                if owner not in self.summaries or owner == module:
                    continue
                for held, _line in uses:
                    sites.setdefault(target, []).append(
                        None if held is None else frozenset(f"{module}.{ident}" for ident in held))
        result: Dict[str, Tuple[str, ...]] = {}
        for target, held_sets in sites.items():
            common: Optional[FrozenSet[str]] = None
            for held in held_sets:
                if held is None:
                    common = frozenset()
                    break
                common = held if common is None else common & held
            if common:
                result[target] = tuple(sorted(common))
        return result

    def _holds_thread_part(self, module: str, facts: Dict[str, Any]) -> Optional[Tuple[str, str, str]]:
        """Why a class that keeps an instance of another module's class documented thread-safe
        is itself meant for threads (the engine's `_collect_holders`, across modules)."""
        for attr, made, line in facts.get("holds", ()):
            target = self.resolve(made)
            if target not in self.classes or target.rpartition(".")[0] == module:
                continue  # the module's own classes are its own analysis'
            _, held_name, held = self.classes[target]
            if held.get("doc"):
                return f"it keeps a '{held_name}', documented thread-safe (self.{attr}, line {line})", "", attr
        return None

    def _blocking(self) -> Dict[str, str]:
        """Module-level functions that block, themselves or through the project functions they
        call (in any module), as `{absolute name: "'time.sleep()' in app/net.py"}`."""
        direct: Dict[str, str] = {}
        callers: Dict[str, List[str]] = {}  # callee -> the functions that call it
        for module, summary in self.summaries.items():
            if summary.get("test"):
                continue
            for name, (own, callees) in summary.get("blocks", {}).items():
                full = f"{module}.{name}"
                if own:
                    direct[full] = f"{own} in '{module}.{name}()'"
                for callee in callees:
                    callers.setdefault(self.resolve(callee), []).append(full)
        found = dict(direct)
        queue = list(direct)
        while queue:
            callee = queue.pop()
            for caller in callers.get(callee, ()):
                if caller not in found:
                    found[caller] = found[callee]
                    queue.append(caller)
        return found

    def view(self, module: str) -> ModuleView:
        summary = self.summaries.get(module, {})
        shared: Dict[str, str] = {}
        thread_bases: Dict[str, Tuple[str, str, str]] = {}
        lock_bases: Dict[str, Dict[str, Tuple[str, bool]]] = {}
        base_attrs: Dict[str, Dict[str, Tuple[str, str]]] = {}
        configured = self.index.config.shared_classes
        for name, facts in summary.get("classes", {}).items():
            cls = f"{module}.{name}"
            why = self.shared.get(cls) or (_configured(cls, facts, configured) if configured else None)
            if why is not None:
                shared[name] = why
            for base in self.bases(cls):
                base_module, base_name, base_facts = self.classes[base]
                if base_module == module:
                    continue  # the module's own analysis follows its own bases
                for attr, (lock_type, is_async) in base_facts.get("locks", {}).items():
                    lock_bases.setdefault(name, {}).setdefault(attr, (lock_type, is_async))
                for attr, (kind, type_name) in base_facts.get("attrs", {}).items():
                    base_attrs.setdefault(name, {}).setdefault(attr, (kind, type_name))
                thread = base_facts.get("thread")
                if thread and name not in thread_bases:
                    entry = thread[1].rsplit(".", 1)[-1] if thread[1] else ""
                    thread_bases[name] = (f"its base '{base_name}' is built for threads: {thread[0]}",
                                          f"{name}.{entry}" if entry else "", thread[2] if len(thread) > 2 else "")
            if name not in thread_bases and facts.get("doc") is None and not facts.get("thread") \
                    and not any(not is_async for _, is_async in facts.get("locks", {}).values()):
                held = self._holds_thread_part(module, facts)
                if held is not None:
                    thread_bases[name] = held
        containers: Dict[str, Tuple[str, str]] = {}
        for local, full in summary.get("imports", {}).items():
            target = self.resolve(full)
            owner, _, name = target.rpartition(".")
            other = self.summaries.get(owner)
            if other is None or owner == module:
                continue
            facts = other.get("globals", {}).get(name)
            if facts is not None and facts[0] == "container":
                containers[local] = (target, facts[1])
            # a class-level container of another module's class (`IOLoop._registry`): the same state
            for attr, type_name in other.get("classes", {}).get(name, {}).get("containers", {}).items():
                containers[f"{local}.{attr}"] = (f"{target}.{attr}", type_name)
        locked = {target.rpartition(".")[2]: held for target, held in self.locked.items()
                  if target.rpartition(".")[0] == module}
        module_only: Tuple[str, ...] = ()
        if self.index.marked:  # a directory that is no project may have callers anywhere
            own = set(summary.get("mentions", ())) if not summary.get("test") else set()
            module_only = tuple(name for name in summary.get("defs", ()) if self.mentioned.get(name, 0) <= (name in own))
        blocking: Dict[str, str] = {}
        if self.blocks:
            for local, full in summary.get("imports", {}).items():
                target = self.resolve(full)
                if target.rpartition(".")[0] == module:
                    continue
                if target in self.blocks:  # `from .net import fetch`
                    blocking[local] = self.blocks[target]
                elif target in self.summaries:  # `from . import net`: `net.fetch()`
                    for name in self.summaries[target].get("blocks", {}):
                        why = self.blocks.get(f"{target}.{name}")
                        if why is not None:
                            blocking[f"{local}.{name}"] = why
        return ModuleView(shared, thread_bases, lock_bases, containers, locked, base_attrs, module_only, blocking)


def _configured(cls: str, facts: Dict[str, Any], patterns: Tuple[str, ...]) -> Optional[str]:
    """Why `shared-classes` makes the class shared: it, or one of its bases, matches a pattern."""
    for name in (cls, *facts.get("bases", ())):
        for pattern in patterns:
            if name and (fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.rsplit(".", 1)[-1], pattern)):
                return f"'{name}' matches shared-classes '{pattern}'"
    return None


# -- one index per project root and config, per process ------------------------------------------

_INDEXES: Dict[Tuple[str, str, bool], ProjectIndex] = {}


def index_for(path: str, config: Config, use_cache: bool = True, complete: bool = True) -> ProjectIndex:
    """The project index of the project that holds `path` (built or refreshed on first use in
    this process; its missing summaries are made here, one file at a time, or by the caller,
    with `take_missing`, when not `complete`; without `use_cache` the index cache file is
    neither read nor written)."""
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    root, marked = project_root(directory)
    key = (root, config.fingerprint(), use_cache)
    index = _INDEXES.get(key)
    if index is None:
        index = _INDEXES[key] = ProjectIndex(root, marked, _index_config(config, root), use_cache)
        index.scan()
        if complete:
            fill(index)
    return index


def _index_config(config: Config, root: str) -> Config:
    """The config that walks the project: the one of the root itself (its excludes), else the
    file's own when it lives above the root."""
    from safestate_lint.config import discover

    own = discover(root)
    return own if own.fingerprint() == config.fingerprint() else config


def fill(index: ProjectIndex) -> None:
    """Make the index's missing summaries, here, one file at a time."""
    for path, module, package, data in index.take_missing():
        index.add(path, data, summary_of(data, path, module, package, index.config))
    index.save()


def summary_of(data: bytes, path: str, module: str, package: bool, config: Config) -> Optional[Summary]:
    """Parse and summarise one module; None when it cannot be read as Python."""
    from safestate_lint.engine import decode_source, no_cyclic_gc, parse_source
    from safestate_lint.engine.syntax import physical_lines
    from safestate_lint.finding import SourceError

    try:
        with no_cyclic_gc():
            source = decode_source(data)
            return summary_of_tree(parse_source(source, path), physical_lines(source), path, module, package, config)
    except SourceError:
        return None


def summary_of_tree(tree: Any, lines: List[str], path: str, module: str, package: bool,
                    config: Config, built: Any = None) -> Optional[Summary]:
    """Summarise one parsed module (the runner parses a module it also checks once; `built` is
    the module-level pass its analysis made with the empty view and this config, if any)."""
    from safestate_lint.engine import single_threaded_test
    from safestate_lint.engine.bindings import ModuleBindings
    from safestate_lint.index.summary import summarise

    try:
        m = built if built is not None else ModuleBindings(tree, config, lines)
        return summarise(m, module, package, single_threaded_test(config, path, lines))
    except RecursionError:
        return None

