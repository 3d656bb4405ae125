"""`safestate-lint fix`: rewrite files in place (or print a diff), then report what is left."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from safestate_lint.config import Config
from safestate_lint.finding import Finding, SourceError
from safestate_lint.files import atomic_write, is_read_only, os_reason, read_bytes
from safestate_lint.fixers import FixError, fix_bytes

# new bytes, findings before, remaining, why each remaining one has no fix, error
Outcome = Tuple[Optional[bytes], List[Finding], List[Finding], Dict[Finding, str], Optional[str]]


def _fix_one(task: Tuple[str, str, Config, bool, bool]) -> Outcome:
    path, display, config, unsafe, writing = task
    try:
        data = read_bytes(path)
    except OSError as exc:
        return None, [], [], {}, os_reason(exc)
    try:
        new, result = fix_bytes(data, display, config, unsafe_fixes=unsafe)
    except (SourceError, FixError) as exc:
        return None, [], [], {}, str(exc)
    if new is not None and writing:
        if is_read_only(path):
            return None, result.before, result.before, {}, "file is read-only; not fixed"
        try:
            atomic_write(path, new)
        except OSError as exc:
            return None, result.before, result.before, {}, f"cannot write: {os_reason(exc)}; file left unchanged"
    return new, result.before, result.remaining, result.reasons, None


def cmd_fix(args: argparse.Namespace, settings_class: Any) -> int:
    from safestate_lint.cli import collect

    settings = settings_class(args)
    settings.validate_codes()
    files, errors = collect(args, settings)
    tasks = [(f.path, f.display, settings.for_path(f.path), args.unsafe_fixes, not args.diff) for f in files]
    jobs = args.jobs or os.cpu_count() or 1
    if jobs > 1 and len(tasks) > 4:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(_fix_one, tasks, chunksize=max(1, len(tasks) // (jobs * 8))))
    else:
        outcomes = [_fix_one(task) for task in tasks]
    fixed = changed_files = 0
    remaining: List[Finding] = []
    no_fix: Dict[Finding, str] = {}
    for source, (new, before, left, why, error) in zip(files, outcomes):
        if error is not None:
            errors.append((source.display, error))
        remaining.extend(left)
        no_fix.update(why)
        if new is None:
            continue
        changed_files += 1
        fixed += max(0, len(before) - len(left))
        if args.diff:
            old_text = read_bytes(source.path).decode("utf-8", "surrogateescape")
            new_text = new.decode("utf-8", "surrogateescape")
            sys.stdout.writelines(difflib.unified_diff(
                old_text.splitlines(True), new_text.splitlines(True), f"a/{source.display}", f"b/{source.display}"))
    for display, reason in sorted(errors):
        sys.stderr.write(f"{display}: error: {reason}\n")
    remaining.sort()
    verb = "would fix" if args.diff else "fixed"
    if not args.quiet or remaining:
        for finding in remaining:
            because = f" (no automatic fix: {no_fix[finding]})" if finding in no_fix else ""
            sys.stderr.write(finding.text() + because + "\n")
        sys.stderr.write(f"{verb} {fixed} finding{'s' if fixed != 1 else ''} in {changed_files} "
                         f"file{'s' if changed_files != 1 else ''}, {len(remaining)} left without an automatic fix.\n")
    if errors:
        return 2
    if args.diff:
        return 1 if changed_files else 0
    return 1 if remaining else 0
