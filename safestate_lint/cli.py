"""`safestate-lint check | fix | rule | rules` (and `python -m safestate_lint`)."""

from __future__ import annotations

import argparse
import io
import os
import sys
from typing import Callable, Dict, List, NoReturn, Optional, Sequence

from safestate_lint import __version__
from safestate_lint import report
from safestate_lint.finding import UserError
from safestate_lint.files import SourceFile, read_bytes, write_whole
from safestate_lint.settings import Settings, collect


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UserError(f"{self.prog}: error: {message}")


def _codes(value: str) -> List[str]:
    return [code.strip().upper() for code in value.split(",") if code.strip()]


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of jobs: '{value}'") from None
    if jobs < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (one per CPU) or a positive number, got {jobs}")
    return jobs


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or directories (default: .); - reads stdin")
    parser.add_argument("--select", type=_codes, help="comma-separated codes or prefixes to enable (replaces config)")
    parser.add_argument("--ignore", type=_codes, help="comma-separated codes or prefixes to disable (replaces config)")
    parser.add_argument("--extend-select", type=_codes, metavar="CODES",
                        help="codes or prefixes to enable on top of the selection (e.g. the policy rule SST105)")
    parser.add_argument("--extend-ignore", type=_codes, metavar="CODES", help="codes or prefixes to disable on top of ignore")
    parser.add_argument("--config", metavar="FILE", help="use this pyproject.toml / TOML file instead of discovery")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="also exclude paths matching GLOB (repeatable)")
    parser.add_argument("--jobs", "-j", type=_jobs, default=0, metavar="N", help="worker processes (default: 0, one per CPU)")
    parser.add_argument("--stdin-filename", metavar="NAME", help="the name of the file read from stdin (with PATH -)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    parser.add_argument("--quiet", "-q", action="store_true", help="print findings only, no summary")
    parser.add_argument("--assume-single-event-loop", action="store_true",
                        help="coroutines run on one event loop: state only coroutines touch races only across an await")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="safestate-lint", description="Find and fix unsafe shared state in Python code.")
    parser.add_argument("--version", action="version", version=f"safestate-lint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="report unsafe shared state")
    _add_common(check)
    check.add_argument("--format", choices=report.FORMATS, default="text")
    check.add_argument("--statistics", action="store_true", help="print counts per rule instead of findings")
    check.add_argument("--show-fixes", action="store_true",
                       help="mark the findings `fix` would remove with [*] and count them (runs the fixer in memory)")
    check.add_argument("--show-context", action="store_true",
                       help="print each finding's details under it: the call chain, the other site, who runs it")
    check.add_argument("--exit-zero", action="store_true",
                       help="exit 0 even when there are findings (2 still means files could not be checked)")
    check.add_argument("--output-file", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    check.add_argument("--baseline", metavar="FILE", help="report only findings not recorded in FILE (replaces config)")
    check.add_argument("--write-baseline", metavar="FILE", help="record every current finding in FILE and exit 0")
    rule = sub.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("code", metavar="CODE", help="a rule code (SST101) or name")
    sub.add_parser("rules", help="list every rule")
    fix = sub.add_parser("fix", help="rewrite unsafe shared state into correct code")
    _add_common(fix)
    fix.add_argument("--diff", action="store_true",
                     help="print a unified diff and write nothing (exit 1 if anything would change)")
    fix.add_argument("--unsafe-fixes", action="store_true", help="also apply fixes that can change behaviour")
    fix.add_argument("--baseline", metavar="FILE", help="leave the findings recorded in FILE alone (replaces config)")
    fix.add_argument("--include-baselined", action="store_true", help="fix baselined findings too")
    fix.add_argument("--runtime", metavar="MODULE", help="the runtime fixed code imports (replaces config "
                     "runtime-module); none: standard-library locks only, no locked containers")
    return parser


def cmd_check(args: argparse.Namespace) -> int:
    from safestate_lint.runner import run_check

    settings = Settings(args)
    settings.validate()
    jobs = args.jobs or os.cpu_count() or 1
    stdin_data = None
    if args.paths == ["-"]:
        name = args.stdin_filename or "-"
        files = [SourceFile(args.stdin_filename or "stdin.py", name)]
        path_errors: List = []
        stdin_data = sys.stdin.buffer.read()
        if args.stdin_filename and settings.for_path(args.stdin_filename).is_excluded(args.stdin_filename):
            files = []
    else:
        files, path_errors = collect(args, settings)
    result = run_check(files, settings.for_path, jobs=jobs, use_cache=not args.no_cache, stdin_data=stdin_data,
                       fixability=args.format in report.FIXABILITY_FORMATS or (args.show_fixes and args.format == "text"))
    errors = sorted(path_errors + result.errors)
    for display, reason in errors:
        sys.stderr.write(f"{display}: error: {reason}\n")
    stale = 0
    fingerprints = None
    from safestate_lint.baseline import baseline_path

    baseline_file = baseline_path(args.baseline, settings.for_path("."))
    if args.write_baseline or baseline_file or args.format == "sarif":
        from safestate_lint import baseline

        real = {source.display: source.path for source in files}
        ids = baseline.identities(result.findings, lambda display: settings.for_path(real.get(display, display))
                                  .relative(real.get(display, display)),
                                  lambda display: _source_lines(real.get(display, display), stdin_data))
        if args.write_baseline:
            baseline.write(args.write_baseline, list(ids.values()))
            n = len(ids)
            sys.stderr.write(f"Wrote {n} finding{'s' if n != 1 else ''} to {args.write_baseline}.\n")
            return 2 if errors else 0
        if baseline_file:
            result.findings, stale = baseline.split(result.findings, ids.__getitem__, baseline.load(baseline_file))
        fingerprints = {finding: baseline.fingerprint(key) for finding, key in ids.items()}
    buffer = io.StringIO()
    out = buffer if args.output_file else sys.stdout
    if args.statistics:
        report.statistics(result.findings, args.format, out, marks=args.show_fixes)
    else:
        report.write(result.findings, args.format, out, fingerprints, marks=args.show_fixes, context=args.show_context)
    if args.output_file:
        write_whole(args.output_file, buffer.getvalue(), "report")
    if not args.quiet and args.format == "text":
        n = len(result.findings)
        fixable = sum(f.fixable for f in result.findings)
        sys.stderr.write(f"Found {n} finding{'s' if n != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}"
                         f"{f' ({len(errors)} could not be checked)' if errors else ''}.\n")
        if args.show_fixes and n:
            by_hand = n - fixable
            rest = f"; {by_hand} need{'s' if by_hand == 1 else ''} a change by hand" if by_hand else ""
            sys.stderr.write(f"[*] {fixable} fixable with `safestate-lint fix`{rest}.\n")
    if stale and not args.quiet:
        sys.stderr.write(f"{stale} baselined finding{'s' if stale != 1 else ''} no longer occur"
                         f"{'s' if stale == 1 else ''}; rewrite the baseline with --write-baseline\n")
    if errors:
        return 2
    return 1 if result.findings and not args.exit_zero else 0


def _source_lines(path: str, stdin_data: Optional[bytes]) -> List[str]:
    """A file's physical lines, as the analysis saw them (empty when it cannot be read now)."""
    from safestate_lint.engine import decode_source
    from safestate_lint.engine.syntax import physical_lines
    from safestate_lint.finding import SourceError

    try:
        data = stdin_data if stdin_data is not None else read_bytes(path)
        return list(physical_lines(decode_source(data)))
    except (OSError, SourceError):
        return []


def cmd_rule(args: argparse.Namespace) -> int:
    from safestate_lint.rules import RULES_BY_CODE, RULES_BY_NAME

    rule = RULES_BY_CODE.get(args.code.upper()) or RULES_BY_NAME.get(args.code)
    if rule is None:
        raise UserError(f"safestate-lint: error: unknown rule '{args.code}' (see `safestate-lint rules`)")
    sys.stdout.write(rule.documentation())
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from safestate_lint.rules import ALL_RULES

    for rule in ALL_RULES:
        fix = "fix" if rule.fixable else "   "
        sys.stdout.write(f"{rule.code}  {rule.name:<36} {fix}  {rule.summary}\n")
    return 0


COMMANDS: Dict[str, Callable[[argparse.Namespace], int]] = {"check": cmd_check, "rule": cmd_rule, "rules": cmd_rules}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        if args.command == "fix":
            from safestate_lint.fixers.command import cmd_fix  # libcst is imported only to fix

            return cmd_fix(args)
        return COMMANDS[args.command](args)
    except UserError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.stderr.write("safestate-lint: interrupted\n")
        return 130
    except BrokenPipeError:  # pragma: no cover - `| head`
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
