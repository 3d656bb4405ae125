"""The fixers (LibCST codemods), one per rule family, and `fix_source` that drives them.

`fix_source` re-runs the analysis after every pass, as ruff does, until nothing is left to
fix: a fix can make another one possible (a container replaced by a `LockedDict` is then
locked with its own `lock`), and edits that would overlap in one pass wait for the next.
Every pass must produce code that parses, or the file is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set

from safestate_lint.config import Config
from safestate_lint.engine import decode_source, parse_source, reports
from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.finding import Finding, SourceError
from safestate_lint.fixers import lazy_init, shared_state
from safestate_lint.fixers.base import FixContext

FAMILIES = (lazy_init, shared_state)  # structural rewrites of lazy init first
MAX_PASSES = 8


@dataclass
class FixResult:
    source: str
    changed: bool
    before: List[Finding] = field(default_factory=list)
    remaining: List[Finding] = field(default_factory=list)
    reasons: Dict[Finding, str] = field(default_factory=dict)  # remaining findings -> why no fix

    @property
    def fixed(self) -> int:
        return max(0, len(self.before) - len(self.remaining))


class FixError(Exception):
    """A fix produced code that does not parse: the file is left alone."""


def fix_source(source: str, path: str, config: Config, *, unsafe_fixes: bool = False) -> FixResult:
    original = source
    tree = parse_source(source, path)
    before: Optional[List[Finding]] = None
    remaining: List[Finding] = []
    reasons: Dict[Finding, str] = {}
    for attempt in range(MAX_PASSES + 1):
        analysis = ModuleAnalysis(tree, config, source.splitlines(True))
        items = reports(analysis, path)
        remaining = [finding for finding, _ in items]
        if before is None:
            before = remaining
        if not items or attempt == MAX_PASSES:
            break
        ctx = FixContext(analysis, source, unsafe_fixes)
        fixed: Set[Finding] = set()
        for family in FAMILIES:
            fixed |= family.plan(ctx, [(f, a) for f, a in items if f.code in family.CODES])
        reasons = ctx.reasons
        if not fixed or ctx.edits.empty():
            break
        new_source = ctx.apply()
        if new_source == source:
            break
        try:  # the next pass's tree, and the guarantee that a fix never writes invalid code
            tree = parse_source(new_source, path)
        except SourceError as exc:  # pragma: no cover - a bug in a fixer; never write it
            raise FixError(f"internal error: the fix produced invalid code ({exc}); file left unchanged") from None
        source = new_source
    return FixResult(source, source != original, before or [], remaining,
                     {f: reasons[f] for f in remaining if f in reasons})


def fix_bytes(data: bytes, path: str, config: Config, *, unsafe_fixes: bool = False) -> "tuple[Optional[bytes], FixResult]":
    """Fix a file's bytes; the result keeps the encoding, BOM and line endings."""
    source = decode_source(data)
    result = fix_source(source, path, config, unsafe_fixes=unsafe_fixes)
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


__all__ = ["FixResult", "FixError", "fix_source", "fix_bytes"]
