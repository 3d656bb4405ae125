"""The engine: decode, parse once, analyse once, run every enabled rule."""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import re
import tokenize
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

from safestate_lint.config import Config
from safestate_lint.engine.analysis import Act, ModuleAnalysis, char_col
from safestate_lint.engine.context import ExecutionContexts
from safestate_lint.engine.facts import SharedKey
from safestate_lint.engine.syntax import physical_lines
from safestate_lint.index.view import ModuleView
from safestate_lint.testcode import is_test_module, starts_concurrency
from safestate_lint.finding import Finding, SourceError, UserError

__all__ = [
    "Finding", "SourceError", "UserError", "ModuleAnalysis",
    "decode_source", "parse_source", "reports", "check_tree", "check_source", "check_bytes",
]

# the same inline comment flake8 honours
NOQA_RE = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


def decode_source(data: bytes) -> str:
    """Decode like the interpreter: BOM, PEP 263 cookie, else UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # undecodable bytes in the first two lines, or a bad cookie: say which
        encoding = "utf-8"
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            pass
        else:
            raise SourceError(f"cannot decode: {exc.msg}") from None
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        position = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        raise SourceError(f"cannot decode as {encoding}{position}: {reason}") from None


@contextlib.contextmanager
def no_cyclic_gc():
    """AST nodes are acyclic: pausing the cyclic collector while building and walking
    a tree saves a third of the time and frees nothing later than reference counting."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_source(source: str, path: str = "<unknown>") -> ast.Module:
    """Parse without executing anything; every failure becomes a one-line SourceError."""
    if "\0" in source:
        line = source.count("\n", 0, source.index("\0")) + 1
        raise SourceError(f"source contains a NUL byte (line {line})")
    try:
        return ast.parse(source, filename=path, type_comments=False)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}" if exc.lineno else ""
        if exc.lineno and exc.offset:
            where += f", column {exc.offset}"
        raise SourceError(f"syntax error{where}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise SourceError("too deeply nested to parse") from None
    except ValueError as exc:  # pragma: no cover - e.g. NUL bytes on some versions
        raise SourceError(str(exc)) from None


def noqa_map(lines: Sequence[str]) -> Dict[int, Optional[FrozenSet[str]]]:
    """line -> None (suppress everything) or the codes a `# noqa: ...` names."""
    result: Dict[int, Optional[FrozenSet[str]]] = {}
    for number, line in enumerate(lines, 1):
        if "noqa" not in line and "NOQA" not in line.upper():
            continue
        match = NOQA_RE.search(line)
        if match is None:
            continue
        codes = match.group("codes")
        result[number] = None if not codes else frozenset(c.upper() for c in re.split(r"[,\s]+", codes) if c)
    return result


def _suppressed(finding: Finding, noqa: Dict[int, Optional[FrozenSet[str]]]) -> bool:
    if finding.line not in noqa:
        return False
    codes = noqa[finding.line]
    return codes is None or any(finding.code.startswith(code) for code in codes)


def reports(analysis: ModuleAnalysis, path: str, *, honour_noqa: bool = True,
            codes: Optional[Iterable[str]] = None) -> List[Tuple[Finding, Optional[Act]]]:
    """Each enabled rule's findings with the fact behind them, sorted, `# noqa` applied.
    `fixable` is left False: only running the fixer tells (see `fixers.mark_fixable`).

    The one decision point: `check`, the flake8 plugin and `fix` all go through here."""
    from safestate_lint.rules import ALL_RULES

    config, lines = analysis.config, analysis.lines
    if lines is not None and single_threaded_test(config, path, lines):
        return []
    wanted = set(codes) if codes is not None else None
    seen: Dict[Finding, Optional[Act]] = {}  # the act behind a finding (None for lock-misuse findings)
    contexts = analysis.contexts() if analysis.acts else None
    declared = {_state(g.key) for g in analysis.guards()} if analysis.acts else set()
    for rule in ALL_RULES:
        if not config.code_enabled(rule.code, path) or (wanted is not None and rule.code not in wanted):
            continue
        for node, message, act in rule.check(analysis):
            if act is not None and declared and _state(act.key) in declared:
                continue  # state with a declared lock: SST303 holds every use of it to that lock
            message, context = split_message(message)
            if act is not None and contexts is not None:
                if (config.assume_single_event_loop or _shared_by_tasks(analysis, act) or _on_its_loop(contexts, act)) \
                        and contexts.loop_confined(act):
                    continue  # one event loop: no other task runs inside this window
                message += contexts.headline(act)
                context = "; ".join(part for part in (context, contexts.describe(act)) if part)
            line = getattr(node, "lineno", 1)
            col = char_col(lines, line, getattr(node, "col_offset", 0))
            end_line = getattr(node, "end_lineno", line) or line
            function, state = (act.func.qualname, state_name(act.key)) if act is not None else ("", "")
            seen.setdefault(Finding(path, line, col, rule.code, message, end_line, False, function, state, context), act)
    result = sorted(seen.items(), key=lambda item: item[0])
    if honour_noqa and result and lines is not None:
        noqa = noqa_map(lines)
        result = [(f, act) for f, act in result if not _suppressed(f, noqa)]
    return result


def _shared_by_tasks(m: ModuleAnalysis, act: Act) -> bool:
    """State of an instance that another module shares, which only coroutines touch: the evidence
    is that tasks share it, not threads."""
    return act.key[0] == "i" and act.key[1] in m.shared_why


def _on_its_loop(contexts: ExecutionContexts, act: Act) -> bool:
    """State of an object bound to one event loop (it schedules its own methods on a loop it holds),
    which only its coroutines and loop callbacks touch: it lives on that loop, whatever threads
    call the object's other methods."""
    return act.key[0] in ("i", "o") and contexts.bound_to_one_loop(act.key[1])


_VIA = re.compile(r" \((through '[^']*'(?: \(line \d+\))?)\)")


def split_message(message: str) -> Tuple[str, str]:
    """A rule's message as the finding's main line and its details: what follows a newline, and
    a write's `(through 'helper()')`, go to the context (`--show-context`, JSON, SARIF)."""
    main, _, context = message.partition("\n")
    via = _VIA.search(main)
    if via is not None:
        main = main[:via.start()] + main[via.end():]
        context = "; ".join(part for part in (f"the write is made {via.group(1)}", context) if part)
    return main, context


def single_threaded_test(config: Config, path: str, lines: Sequence[str]) -> bool:
    """A test module that starts no threads runs on one thread: none of its findings is a race
    (`single-threaded-tests`, on by default)."""
    return config.single_threaded_tests and is_test_module(config.relative(path)) and not starts_concurrency(lines)


def state_name(key: SharedKey) -> str:
    """How a finding's JSON names a piece of state: a global's name, or `Class.attribute`."""
    return key[1] if key[0] == "g" else ".".join(key[1:])


def _state(key: SharedKey) -> Tuple[str, ...]:
    """A piece of state whatever the key's kind: `("g", name)`, or `(class, attribute)`."""
    return key if key[0] == "g" else key[1:]


def check_tree(tree: ast.Module, lines: Sequence[str], path: str, config: Config,
               *, honour_noqa: bool = True, prefilter: bool = True, view: Optional[ModuleView] = None) -> List[Finding]:
    """Run every enabled rule over one parsed module and return sorted findings."""
    return analyse_tree(tree, lines, path, config, honour_noqa=honour_noqa, prefilter=prefilter, view=view)[0]


def analyse_tree(tree: ast.Module, lines: Sequence[str], path: str, config: Config, *, honour_noqa: bool = True,
                 prefilter: bool = True, view: Optional[ModuleView] = None) -> Tuple[List[Finding], Optional[ModuleAnalysis]]:
    """`check_tree`, and the analysis it built (None when nothing needed one)."""
    from safestate_lint.rules import ALL_RULES

    if not any(config.code_enabled(rule.code, path) for rule in ALL_RULES):
        return [], None
    if single_threaded_test(config, path, lines):
        return [], None  # known before the analysis is built: nothing to report
    try:
        analysis = ModuleAnalysis(tree, config, lines, prefilter=prefilter, view=view)
        return [finding for finding, _ in reports(analysis, path, honour_noqa=honour_noqa)], analysis
    except RecursionError:  # an expression nested deeper than the interpreter's stack allows
        raise SourceError("too deeply nested to analyse") from None


def check_source(source: str, path: str, config: Config, *, honour_noqa: bool = True,
                 view: Optional[ModuleView] = None) -> List[Finding]:
    with no_cyclic_gc():
        tree = parse_source(source, path)
        return check_tree(tree, physical_lines(source), path, config, honour_noqa=honour_noqa, view=view)


def check_bytes(data: bytes, path: str, config: Config, view: Optional[ModuleView] = None) -> List[Finding]:
    return check_source(decode_source(data), path, config, view=view)

