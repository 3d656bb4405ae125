"""The fixers (LibCST codemods), one per rule family, and `fix_source` that drives them.

`fix_source` re-runs the analysis after every pass, as ruff does, until nothing is left to
fix: a fix can make another one possible (a container replaced by a `LockedDict` is then
locked with its own `lock`), and edits that would overlap in one pass wait for the next.
Every pass must produce code that parses, or the file is left alone.
"""

from __future__ import annotations

import ast
import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from safestate_lint.config import Config
from safestate_lint.engine import decode_source, parse_source, reports
from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.syntax import physical_lines
from safestate_lint.finding import Finding, SourceError
from safestate_lint.index import ModuleView, view_for
from safestate_lint.fixers import lazy_init, lock_misuse, objects, shared_state
from safestate_lint.fixers.base import FixContext
from safestate_lint.fixers.writers import cover_writers

FAMILIES = (lock_misuse, lazy_init, shared_state, objects)  # real locks first, then structural rewrites of lazy init
MAX_PASSES = 8
LOCATED = (*lock_misuse.CODES, *objects.LOCATED)  # fixers that find their statement from the finding itself


@dataclass
class FixResult:
    source: str
    changed: bool
    before: List[Finding] = field(default_factory=list)
    remaining: List[Finding] = field(default_factory=list)
    reasons: Dict[Finding, str] = field(default_factory=dict)  # remaining findings -> why no fix
    original: str = ""
    _fixed_form: Dict[Finding, Finding] = field(default_factory=dict, repr=False, compare=False)
    _line_map: Optional[Callable[[int], int]] = field(default=None, repr=False, compare=False)

    @property
    def fixed(self) -> int:
        """The findings of the file before the fix that the fix removed (the same identity
        `marked` and `--show-fixes` use, so the summary and the marks agree)."""
        left = {(f.code, f.line) for f in self.remaining_in_original()}
        return sum((f.code, f.line) not in left for f in self.before)

    def remaining_in_original(self) -> List[Finding]:
        """The remaining findings with the line numbers of the file before the fix (what
        `fix --diff` prints, since it leaves the file on disk as it was), in their messages too."""
        if not self.changed:
            return list(self.remaining)
        to_old = self._to_old()
        found = []
        for f in self.remaining:
            old = f._replace(line=to_old(f.line), end_line=to_old(f.end_line or f.line),
                             message=_in_original(f.message, to_old))
            self._fixed_form[old] = f
            found.append(old)
        return sorted(found)

    def _to_old(self) -> Callable[[int], int]:
        if self._line_map is None:
            self._line_map = line_map(physical_lines(self.source), physical_lines(self.original))
        return self._line_map

    def marked(self, findings: Optional[Sequence[Finding]] = None) -> List[Finding]:
        """The findings of the file before the fix (`before` by default) with `fixable` set
        exactly when this fix removed them."""
        left = {(f.code, f.line) for f in self.remaining_in_original()}
        return [f._replace(fixable=(f.code, f.line) not in left) for f in (self.before if findings is None else findings)]

    def why(self, finding: Finding) -> Optional[str]:
        """Why a remaining finding (from `remaining` or `remaining_in_original`) has no fix."""
        mapped = finding in self._fixed_form
        finding = self._fixed_form.get(finding, finding)
        reason = self.reasons.get(finding)
        if reason is None:
            reason = next((why for left, why in self.reasons.items()
                           if (left.code, left.message) == (finding.code, finding.message)), None)
        return _in_original(reason, self._to_old()) if reason is not None and mapped else reason


_LINE_REF = re.compile(r"\b(line )(\d+)\b")


def _in_original(text: str, to_old: Callable[[int], int]) -> str:
    """`... (line 34)` in the fixed file -> the same line's number in the original."""
    return _LINE_REF.sub(lambda match: f"{match.group(1)}{to_old(int(match.group(2)))}", text)


def line_map(new: Sequence[str], old: Sequence[str]) -> Callable[[int], int]:
    """Map 1-based line numbers of `new` to the corresponding lines of `old`: unchanged lines
    exactly, lines inside a rewritten region to the region's line at the same offset."""
    starts: List[tuple] = []  # (new start, new end, old start, old end), 0-based, half-open
    for _, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        starts.append((j1, j2, i1, i2))

    def to_old(line: int) -> int:
        j = line - 1
        for j1, j2, i1, i2 in starts:
            if j1 <= j < j2:
                return max(1, min(i1 + (j - j1), max(i1, i2 - 1)) + 1)
        return max(1, min(line, len(old)))

    return to_old


def unified_diff(old: str, new: str, display: str) -> Iterable[str]:
    """A unified diff `git apply` accepts, with the `\\ No newline at end of file` marker."""
    for line in difflib.unified_diff(physical_lines(old), physical_lines(new), f"a/{display}", f"b/{display}"):
        if line.endswith(("\n", "\r")):
            yield line
        else:
            yield line + "\n"
            yield "\\ No newline at end of file\n"


def mark_fixable(data: bytes, path: str, config: Config, findings: List[Finding],
                 view: Optional[ModuleView] = None) -> List[Finding]:
    """Findings with `fixable` set exactly when `fix` (without --unsafe-fixes) removes them."""
    try:
        _, result = fix_bytes(data, path, config, view=view)
    except (SourceError, FixError):
        return [f._replace(fixable=False) for f in findings]
    return result.marked(findings)


class FixError(Exception):
    """A fix produced code that does not parse: the file is left alone."""


# a finding `fix` must leave alone (a baselined one), given the lines of the source it is in
Keep = Callable[[Finding, Sequence[str]], bool]
BASELINED = "baselined (fix it with --include-baselined)"


def fix_source(source: str, path: str, config: Config, *, unsafe_fixes: bool = False,
               keep: Optional[Keep] = None, view: Optional[ModuleView] = None) -> FixResult:
    """Fix one module; `view` is what its project says about it (looked up when not given)."""
    if view is None:
        view = view_for(path, config)
    try:
        return _fix_source(source, path, config, unsafe_fixes, keep, view)
    except RecursionError:  # deeper than the interpreter's stack: reported and left unchanged
        raise SourceError("too deeply nested to fix") from None


def _fix_source(source: str, path: str, config: Config, unsafe_fixes: bool, keep: Optional[Keep],
                view: ModuleView) -> FixResult:
    original = source
    tree = parse_source(source, path)
    before: Optional[List[Finding]] = None
    remaining: List[Finding] = []
    reasons: Dict[Finding, str] = {}
    previous: Optional[Tuple[str, ast.Module, List[Finding], Dict[Finding, str], List[Tuple[Finding, Any]]]] = None
    for attempt in range(MAX_PASSES + 1):
        lines = physical_lines(source)
        analysis = ModuleAnalysis(tree, config, lines, view=view)
        found = reports(analysis, path)
        remaining = [finding for finding, _ in found]
        if before is None:
            before = remaining
        elif previous is not None:
            added = introduced(before, remaining)
            if added:  # verified before it is written: a fix that adds a hazard is dropped whole
                source, tree, remaining, reasons, planned_items = previous
                dropped = f"the fix would add {added[0].code} ({added[0].message})"
                for finding, _ in planned_items:
                    if finding in remaining:
                        reasons.setdefault(finding, dropped)
                break
        items = [(finding, act) for finding, act in found if (act is not None or finding.code in LOCATED)
                 and not (keep is not None and keep(finding, lines))]
        if not items or attempt == MAX_PASSES:
            break
        refused: Dict[tuple, str] = {}  # globals whose writers cannot all take one lock
        earlier: Dict[Finding, str] = {}  # reasons found while planning with them
        while True:
            ctx = FixContext(analysis, source, unsafe_fixes, path)
            ctx.refused = refused
            planned = [(f, a) for f, a in items if a is None or a.key not in refused]
            fixed: Set[Finding] = set()
            for family in FAMILIES:
                fixed |= family.plan(ctx, [(f, a) for f, a in planned if f.code in family.CODES])
            newly = {key: why for key, why in cover_writers(ctx, planned, fixed).items() if key not in refused}
            if not newly:
                break
            earlier.update(ctx.reasons)
            refused.update(newly)  # plan the pass again without them
        for finding, act in items:
            if act is not None and act.key in refused:
                ctx.reasons.setdefault(finding, earlier.get(finding, refused[act.key]))
        reasons = ctx.reasons
        if not fixed or ctx.edits.empty():
            break
        new_source = ctx.apply()
        if new_source == source:
            break
        previous = (source, tree, remaining, dict(reasons), items)
        try:  # the next pass's tree, and the guarantee that a fix never writes invalid code
            tree = parse_source(new_source, path)
        except SourceError as exc:  # pragma: no cover - a bug in a fixer; never write it
            raise FixError(f"internal error: the fix produced invalid code ({exc}); file left unchanged") from None
        source = new_source
    fixer_codes = {code for family in FAMILIES for code in family.CODES}
    why = {f: reasons[f] if f in reasons else "this rule has no automatic fix"
           for f in remaining if f in reasons or f.code not in fixer_codes}
    if keep is not None:
        final = physical_lines(source)
        why.update({f: BASELINED for f in remaining if keep(f, final)})
    return FixResult(source, source != original, before or [], remaining, why, original)


# findings a fix must never bring into a file: a lock it adds must not deadlock, block or leak
HAZARDS = frozenset({"SST401", "SST402", "SST403", "SST404", "SST405"})


def introduced(before: Sequence[Finding], after: Sequence[Finding]) -> List[Finding]:
    """The lock-misuse findings of `after` that `before` did not have (line numbers aside)."""
    def identity(f: Finding) -> Tuple[str, str]:
        return f.code, re.sub(r"\d+", "#", f.message)

    known = {identity(f) for f in before}
    return [f for f in after if f.code in HAZARDS and identity(f) not in known]


def fix_bytes(data: bytes, path: str, config: Config, *, unsafe_fixes: bool = False,
              keep: Optional[Keep] = None, view: Optional[ModuleView] = None) -> "tuple[Optional[bytes], FixResult]":
    """Fix a file's bytes; the result keeps the encoding, BOM and line endings."""
    source = decode_source(data)
    result = fix_source(source, path, config, unsafe_fixes=unsafe_fixes, keep=keep, view=view)
    if not result.changed:
        return None, result
    encoding = _encoding_of(data)
    try:
        return result.source.encode(encoding), result
    except UnicodeEncodeError:  # pragma: no cover - fixes only add ASCII
        raise SourceError(f"the fixed file cannot be encoded as {encoding}") from None


def _encoding_of(data: bytes) -> str:
    import io
    import tokenize

    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:  # pragma: no cover - decode_source already succeeded
        return "utf-8"


__all__ = ["FixResult", "FixError", "fix_source", "fix_bytes", "line_map", "unified_diff", "mark_fixable"]
