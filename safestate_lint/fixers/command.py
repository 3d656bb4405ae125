"""`safestate-lint fix`: rewrite files in place (or print a diff, or fix stdin to stdout),
then report what is left."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, FrozenSet, List, Optional, Sequence, Tuple

from safestate_lint.settings import Settings, collect
from safestate_lint.config import Config
from safestate_lint.finding import Finding, SourceError
from safestate_lint.files import atomic_write, is_read_only, os_reason, read_bytes
from safestate_lint.fixers import FixError, FixResult, fix_bytes, unified_diff

# new bytes, the result (None when the file could not be fixed), error
Outcome = Tuple[Optional[bytes], Optional[FixResult], Optional[str]]


def _fix_data(data: bytes, display: str, config: Config, unsafe: bool,
              baselined: FrozenSet[Tuple[str, str, str, str]] = frozenset(), relative: str = "") -> Outcome:
    def is_baselined(finding: Finding, lines: Sequence[str]) -> bool:
        from safestate_lint.baseline import identity

        return identity(finding, relative, lines) in baselined

    try:
        new, result = fix_bytes(data, display, config, unsafe_fixes=unsafe, keep=is_baselined if baselined else None)
    except (SourceError, FixError) as exc:
        return None, None, str(exc)
    return new, result, None


Task = Tuple[str, str, Config, bool, bool, FrozenSet[Tuple[str, str, str, str]]]


def _fix_one(task: Task) -> Outcome:
    path, display, config, unsafe, writing, baselined = task
    try:
        data = read_bytes(path)
    except OSError as exc:
        return None, None, os_reason(exc)
    new, result, error = _fix_data(data, display, config, unsafe, baselined, config.relative(path))
    if new is not None and result is not None and writing:
        unchanged = FixResult(result.original, False, result.before, result.before, {}, result.original)
        if is_read_only(path):
            return None, unchanged, "file is read-only; not fixed"
        try:
            atomic_write(path, new)
        except OSError as exc:
            return None, unchanged, f"cannot write: {os_reason(exc)}; file left unchanged"
    return new, result, error


def runtime_note(results: List[Tuple[str, FixResult]], config_for: Any) -> Optional[str]:
    """The dependency the fixed files now have, when they import the runtime."""
    users = [display for display, result in results
             if result.changed and _imports_runtime(result, config_for(display).runtime_module)]
    if not users:
        return None
    module = config_for(users[0]).runtime_module
    dist = "safestate-lint" if module.startswith("safestate_lint") else module.split(".")[0]
    return (f"{len(users)} fixed file{'s' if len(users) != 1 else ''} now import{'s' if len(users) == 1 else ''} "
            f"'{module}': add '{dist}' to your project's runtime dependencies "
            f"(or fix with --runtime none for the standard library only).")


def _imports_runtime(result: FixResult, module: str) -> bool:
    return f"from {module} import" in result.source and f"from {module} import" not in result.original


def cmd_fix(args: argparse.Namespace) -> int:
    settings = Settings(args)
    settings.validate()
    if args.paths == ["-"]:
        return _fix_stdin(args, settings)
    files, errors = collect(args, settings)
    recorded = _baselined(args, settings)
    tasks: List[Task] = []
    for f in files:
        config = settings.for_path(f.path)
        relative = config.relative(f.path)
        tasks.append((f.path, f.display, config, args.unsafe_fixes, not args.diff,
                      frozenset(key for key in recorded if key[0] == relative)))
    jobs = args.jobs or os.cpu_count() or 1
    if jobs > 1 and len(tasks) > 4:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(_fix_one, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))
    else:
        outcomes = [_fix_one(task) for task in tasks]
    done: List[Tuple[str, FixResult]] = []
    for source, (new, result, error) in zip(files, outcomes):
        if error is not None:
            errors.append((source.display, error))
        if result is not None:
            done.append((source.display, result))
        if new is not None and result is not None and args.diff:
            sys.stdout.writelines(unified_diff(result.original, result.source, source.display))
    for display, reason in sorted(errors):
        sys.stderr.write(f"{display}: error: {reason}\n")
    remaining = _summarise(args, done, settings.for_path)
    if errors:
        return 2
    if args.diff:
        return 1 if any(result.changed for _, result in done) else 0
    return 1 if remaining else 0


def _baselined(args: argparse.Namespace, settings: Any) -> FrozenSet[Tuple[str, str, str, str]]:
    """The baseline's findings, which `fix` leaves alone unless --include-baselined."""
    from safestate_lint.baseline import baseline_path, load

    if args.include_baselined:
        return frozenset()
    path = baseline_path(args.baseline, settings.for_path("."))
    return frozenset(load(path)) if path else frozenset()


def _fix_stdin(args: argparse.Namespace, settings: Any) -> int:
    """`fix -`: the fixed source (or with --diff, the diff) on stdout, as black and ruff do."""
    display = args.stdin_filename or "stdin.py"
    config = settings.for_path(display)
    data = sys.stdin.buffer.read()
    if args.stdin_filename and config.is_excluded(display):
        sys.stdout.buffer.write(b"" if args.diff else data)
        return 0
    relative = config.relative(display)
    baselined = frozenset(key for key in _baselined(args, settings) if key[0] == relative)
    new, result, error = _fix_data(data, display, config, args.unsafe_fixes, baselined, relative)
    if error is not None or result is None:
        sys.stdout.buffer.write(b"" if args.diff else data)  # stdin is never lost
        sys.stderr.write(f"{display}: error: {error}\n")
        return 2
    if args.diff:
        if new is not None:
            sys.stdout.writelines(unified_diff(result.original, result.source, display))
        sys.stdout.flush()
    else:
        sys.stdout.buffer.write(new if new is not None else data)
    remaining = _summarise(args, [(display, result)], settings.for_path)
    if args.diff:
        return 1 if result.changed else 0
    return 1 if remaining else 0


def _summarise(args: argparse.Namespace, done: List[Tuple[str, FixResult]], config_for: Any) -> List[Finding]:
    """Print what is left, with the line numbers of the source the user now has (the original
    one under --diff), and the summary."""
    written = not args.diff
    remaining: List[Tuple[Finding, Optional[str]]] = []
    fixed = changed = 0
    for display, result in done:
        left = result.remaining if written else result.remaining_in_original()
        remaining.extend((f._replace(path=display), result.why(f)) for f in left)
        if result.changed:
            changed += 1
            fixed += result.fixed
    remaining.sort()
    if not args.quiet or remaining:
        for finding, why in remaining:
            sys.stderr.write(finding.text() + (f" (no automatic fix: {why})" if why else "") + "\n")
        verb = "would fix" if args.diff else "fixed"
        sys.stderr.write(f"{verb} {fixed} finding{'s' if fixed != 1 else ''} in {changed} "
                         f"file{'s' if changed != 1 else ''}, {len(remaining)} left without an automatic fix.\n")
        note = runtime_note(done, config_for)
        if note:
            sys.stderr.write(note + "\n")
    return [f for f, _ in remaining]
