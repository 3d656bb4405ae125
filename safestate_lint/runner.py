"""Running the engine over many files: cache lookups, a process pool, one result list."""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from safestate_lint.cache import Cache
from safestate_lint.config import Config
from safestate_lint.finding import Finding, SourceError
from safestate_lint.files import SourceFile, os_reason, read_bytes
from safestate_lint.index.view import ModuleView
from safestate_lint.testcode import is_test_module

# The engine and the process pool are imported on the first cache miss: a warm run needs neither.


class RunResult:
    def __init__(self, files: int = 0) -> None:
        self.findings: List[Finding] = []
        self.errors: List[Tuple[str, str]] = []  # (display path, reason)
        self.files = files


def analysis_config(config: Config) -> Config:
    """The config that decides what the analysis finds: selection is applied afterwards."""
    return config._replace(select=("ALL",), ignore=(), extend_select=(), extend_ignore=(), per_file_ignores=())


def analyse(data: bytes, display: str, config: Config, fixability: bool = False,
            view: Optional[ModuleView] = None) -> Tuple[List[Finding], Optional[str]]:
    """All findings of one file, or the reason it could not be checked. Never raises for bad input.
    With `fixability`, each finding's `fixable` says whether `fix` would fix it (this runs the
    fixer in memory, so it is asked for only by the formats that print it)."""
    from safestate_lint.engine import check_bytes

    try:
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


def _analyse_task(task: Tuple[bytes, str, Config, bool, Optional[ModuleView]]) -> Tuple[List[Finding], Optional[str]]:
    return analyse(*task)


def project_views(files: Sequence[SourceFile], config_for: Callable[[str], Config], jobs: int,
                  stdin: bool, use_cache: bool = True) -> Dict[str, ModuleView]:
    """Each file's view of its project (the project index), the missing summaries of every
    project computed on the pool when there are many."""
    from safestate_lint.index.project import index_for

    views: Dict[str, ModuleView] = {}
    if stdin:
        return views
    pool = None
    try:
        def mapper(function, tasks):  # type: ignore[no-untyped-def]
            nonlocal pool
            if jobs <= 1 or len(tasks) <= 4:
                return [function(task) for task in tasks]
            if pool is None:
                from concurrent.futures import ProcessPoolExecutor

                pool = ProcessPoolExecutor(max_workers=jobs)
            return list(pool.map(function, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))

        for source in files:
            views[source.path] = index_for(source.path, config_for(source.path), mapper, use_cache).view(source.path)
    finally:
        if pool is not None:
            pool.shutdown()
    return views


def run_check(files: Sequence[SourceFile], config_for: Callable[[str], Config], *, jobs: int = 1,
              use_cache: bool = True, stdin_data: Optional[bytes] = None, fixability: bool = False) -> RunResult:
    result = RunResult(files=len(files))
    views = project_views(files, config_for, jobs, stdin_data is not None, use_cache)
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
        if use_cache and stdin_data is None:
            root = config.root or os.getcwd()
            cache_id = (root, config.fingerprint())
            cache = caches.get(cache_id)
            if cache is None:
                cache = caches[cache_id] = Cache(root, config, "fixability" if fixability else "")
            # a test module's findings depend on its path (single-threaded-tests), not only its bytes
            seen_from = views.get(source.path)
            salt = b"\0view:" + seen_from.fingerprint().encode() if seen_from is not None and not seen_from.empty() else b""
            key = cache.key(data + salt + (b"\0test-module" if is_test_module(config.relative(source.path)) else b""))
            hit = cache.get(key)
            if hit is not None:
                _collect(result, source, config, *hit)
                continue
        pending.append((source, config, cache, key, data))

    tasks = [(data, source.display, analysis_config(config), fixability, views.get(source.path))
             for source, config, _, _, data in pending]
    if jobs > 1 and len(tasks) > 4:
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, len(tasks) // (jobs * 8))
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(_analyse_task, tasks, chunksize=chunk))
    else:
        outcomes = [_analyse_task(task) for task in tasks]
    for (source, config, cache, key, _), (findings, error) in zip(pending, outcomes):
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
