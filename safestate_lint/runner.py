"""Running the engine over many files: the project index, cache lookups, a process pool, one
result list.

A run first brings the projects of its files up to date (:mod:`safestate_lint.index`). A module
whose summary is missing has changed, so its findings are not cached either: when it is one of
the files checked, one task parses it once, summarises it and checks it with the empty view;
those findings stand when its view of the project is empty (most modules), and the module is
checked again with its view otherwise. Then every file's findings come from the cache, keyed by
its bytes and its view, or from a second pass.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from safestate_lint.cache import Cache
from safestate_lint.config import Config
from safestate_lint.finding import Finding, SourceError
from safestate_lint.files import SourceFile, os_reason, read_bytes
from safestate_lint.index.view import EMPTY_VIEW, ModuleView, Summary
from safestate_lint.testcode import is_test_module

# The engine and the process pool are imported on the first cache miss: a warm run needs neither.

Outcome = Tuple[List[Finding], Optional[str]]  # findings, or the reason the file was not checked
# (bytes, display path, config, fixability, view); the display path is "" for a summary alone
AnalyseTask = Tuple[bytes, str, Config, bool, Optional[ModuleView]]
# a module whose summary is missing: (absolute path, module name, is a package, the project's config)
SummaryRequest = Optional[Tuple[str, str, bool, Config]]


class RunResult:
    def __init__(self, files: int = 0) -> None:
        self.findings: List[Finding] = []
        self.errors: List[Tuple[str, str]] = []  # (display path, reason)
        self.files = files


def analysis_config(config: Config) -> Config:
    """The config that decides what the analysis finds: selection is applied afterwards."""
    return config._replace(select=("ALL",), ignore=(), extend_select=(), extend_ignore=(), per_file_ignores=())


def analyse(data: bytes, display: str, config: Config, fixability: bool = False,
            view: Optional[ModuleView] = None, parsed: Any = None, keep: Optional[List[Any]] = None) -> Outcome:
    """All findings of one file, or the reason it could not be checked. Never raises for bad input.
    With `fixability`, each finding's `fixable` says whether `fix` would fix it (this runs the
    fixer in memory, so it is asked for only by the formats that print it). `parsed` is the
    file's (tree, lines) when the caller parsed it already; `keep` receives the analysis built."""
    from safestate_lint.engine import analyse_tree, check_bytes, no_cyclic_gc

    try:
        if parsed is not None:
            with no_cyclic_gc():
                findings, analysis = analyse_tree(parsed[0], parsed[1], display, config, view=view)
            if keep is not None:
                keep.append(analysis)
        else:
            findings = check_bytes(data, display, config, view)
    except SourceError as exc:
        return [], str(exc)
    except Exception as exc:  # a bug of ours: this file is reported as not checked, the others still are
        return [], f"internal error, please report it: {type(exc).__name__}: {exc}"
    if fixability and findings:
        from safestate_lint.fixers import mark_fixable
        from safestate_lint.rules import RULES_BY_CODE

        if any(RULES_BY_CODE[f.code].fixable for f in findings):
            findings = mark_fixable(data, display, config, findings, view)
    return findings, None


def _analyse_task(task: Tuple[AnalyseTask, SummaryRequest]) -> Tuple[Outcome, Optional[Summary]]:
    """A file's findings and, when asked, its summary for the project index, from one parse."""
    analysis, request = task
    if request is None:
        return analyse(*analysis), None
    from safestate_lint.index.project import summary_of, summary_of_tree

    if not analysis[1]:  # a module of the project that was not named: its summary alone
        return ([], None), summary_of(analysis[0], *request)
    from safestate_lint.engine import decode_source, no_cyclic_gc, parse_source
    from safestate_lint.engine.syntax import physical_lines

    data, display, config, fixability, view = analysis
    try:
        with no_cyclic_gc():
            source = decode_source(data)
            tree = parse_source(source, display)
            lines = physical_lines(source)
    except SourceError as exc:
        return ([], str(exc)), None
    built: List[Any] = []
    outcome = analyse(data, display, config, fixability, view, parsed=(tree, lines), keep=built)
    # the module-level pass of the analysis (with the empty view) is the summary's, when both read the
    # same configuration; else the summary makes its own
    reuse = built[0] if built and built[0] is not None and config.fingerprint() == request[3].fingerprint() else None
    with no_cyclic_gc():
        summary = summary_of_tree(tree, lines, *request, built=reuse)
    return outcome, summary


def _pool_map(function: Callable[[Any], Any], tasks: List[Any], jobs: int) -> List[Any]:
    if jobs <= 1 or len(tasks) <= 4:
        return [function(task) for task in tasks]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(function, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))


def project_views(files: Sequence[SourceFile], config_for: Callable[[str], Config], *, jobs: int = 1,
                  use_cache: bool = True, fixability: bool = False) -> Tuple[Dict[str, ModuleView], Dict[str, Outcome]]:
    """Each file's view of its project, after its projects' missing summaries are made (on the
    pool); and the findings under the empty view of the files among them that were checked
    while being summarised."""
    from safestate_lint.index.project import ProjectIndex, index_for

    indexes = {source.path: index_for(source.path, config_for(source.path), use_cache=use_cache, complete=False)
               for source in files}
    distinct: Dict[int, ProjectIndex] = {id(index): index for index in indexes.values()}
    missing: Dict[str, Tuple[ProjectIndex, str, bool, bytes]] = {}
    for index in distinct.values():
        for path, module, package, data in index.take_missing():
            missing[path] = (index, module, package, data)
    displays = {os.path.abspath(source.path): (source, config_for(source.path)) for source in files}
    tasks: List[Tuple[AnalyseTask, SummaryRequest]] = []
    for path, (index, module, package, data) in missing.items():
        named = displays.get(path)
        analysis: AnalyseTask = (data, "", index.config, False, EMPTY_VIEW) if named is None else \
            (data, named[0].display, analysis_config(named[1]), fixability, EMPTY_VIEW)
        tasks.append((analysis, (path, module, package, index.config)))
    first: Dict[str, Outcome] = {}
    for (analysis, request), (outcome, summary) in zip(tasks, _pool_map(_analyse_task, tasks, jobs)):
        assert request is not None
        missing[request[0]][0].add(request[0], analysis[0], summary)
        if analysis[1]:
            first[request[0]] = outcome
    for index in distinct.values():
        index.save()
    return {path: index.view(path) for path, index in indexes.items()}, first


def run_check(files: Sequence[SourceFile], config_for: Callable[[str], Config], *, jobs: int = 1,
              use_cache: bool = True, stdin_data: Optional[bytes] = None, fixability: bool = False) -> RunResult:
    result = RunResult(files=len(files))
    views: Dict[str, ModuleView] = {}
    first: Dict[str, Outcome] = {}
    if stdin_data is None:  # standard input has no project
        views, first = project_views(files, config_for, jobs=jobs, use_cache=use_cache, fixability=fixability)
    caches: Dict[Tuple[str, str], Cache] = {}
    pending: List[Tuple[SourceFile, Config, Optional[Cache], str, bytes]] = []
    for source in files:
        config = config_for(source.path)
        try:
            data = stdin_data if stdin_data is not None else read_bytes(source.path)
        except OSError as exc:
            result.errors.append((source.display, os_reason(exc)))
            continue
        cache = None
        key = ""
        seen_from = views.get(source.path)
        if use_cache and stdin_data is None:
            root = config.root or os.getcwd()
            cache_id = (root, config.fingerprint())
            cache = caches.get(cache_id)
            if cache is None:
                cache = caches[cache_id] = Cache(root, config, "fixability" if fixability else "")
            # a test module's findings depend on its path (single-threaded-tests), not only its bytes
            salt = b"\0view:" + seen_from.fingerprint().encode() if seen_from is not None and not seen_from.empty() else b""
            key = cache.key(data + salt + (b"\0test-module" if is_test_module(config.relative(source.path)) else b""))
            hit = cache.get(key)
            if hit is not None:
                _collect(result, source, config, *hit)
                continue
        done = first.get(os.path.abspath(source.path))
        if done is not None and (seen_from is None or seen_from.empty()):
            if cache is not None:
                cache.put(key, *done)
            _collect(result, source, config, *done)
            continue
        pending.append((source, config, cache, key, data))

    tasks: List[Tuple[AnalyseTask, SummaryRequest]] = [
        ((data, source.display, analysis_config(config), fixability, views.get(source.path)), None)
        for source, config, _, _, data in pending]
    for (source, config, cache, key, _), ((findings, error), _) in zip(pending, _pool_map(_analyse_task, tasks, jobs)):
        if cache is not None:
            cache.put(key, findings, error)
        _collect(result, source, config, findings, error)
    result.findings.sort()
    result.errors.sort()
    return result


def _collect(result: RunResult, source: SourceFile, config: Config,
             findings: List[Finding], error: Optional[str]) -> None:
    if error is not None:
        result.errors.append((source.display, error))
        return
    for finding in findings:
        if config.code_enabled(finding.code, source.path):
            result.findings.append(finding._replace(path=source.display))
