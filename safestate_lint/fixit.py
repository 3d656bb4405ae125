"""The Fixit 2 face: one `LintRule` per safestate-lint code, for `fixit lint`, `fixit fix` and
`fixit lsp` (editor integration).

    fixit --rules safestate_lint.fixit lint src/
    fixit --rules safestate_lint.fixit fix src/

Every rule reads one shared analysis per module (keyed by the module's code), so the rules
cost one analysis together, and they report at the positions `safestate-lint check` prints.
The first finding `fix` can remove carries the fix for the whole module (what
`safestate-lint fix` writes); the others point at it.
"""

from __future__ import annotations

import functools
import os
from typing import List, Optional, Tuple, Type

try:
    from fixit import LintRule
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("safestate_lint.fixit needs Fixit 2: python -m pip install 'safestate-lint[fixit]'") from None

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, FilePathProvider

from safestate_lint.config import Config, discover
from safestate_lint.finding import Finding, SourceError
from safestate_lint.rules import ALL_RULES

_Analysed = Tuple[List[Finding], Optional[str]]


def _config() -> Config:
    return discover(os.getcwd())


@functools.lru_cache(maxsize=64)
def analysed(code: str, path: str = "<fixit>.py") -> _Analysed:
    """The findings (`fixable` set as `check --format json` sets it) and the fixed code (None when
    `fix` changes nothing), once per module; `path` places it in its project (the project index)."""
    from safestate_lint.fixers import FixError, fix_source

    try:
        result = fix_source(code, path, discover(os.path.dirname(os.path.abspath(path))) if os.path.isfile(path)
                            else _config())
    except (SourceError, FixError):
        return [], None
    return result.marked(), result.source if result.changed else None


class SafeStateRule(LintRule):
    """Reports one safestate-lint code (see `safestate-lint rule CODE`)."""

    CODE = ""
    METADATA_DEPENDENCIES = (FilePathProvider,)  # the file's project: what its other modules share

    def visit_Module(self, node: cst.Module) -> None:
        path = self.get_metadata(FilePathProvider, node, None)
        findings, fixed = analysed(node.code, str(path) if path is not None else "<fixit>.py")
        carrier = next((f for f in findings if f.fixable), None)
        for finding in findings:
            if finding.code != self.CODE:
                continue
            position = CodeRange(CodePosition(finding.line, finding.col - 1),
                                 CodePosition(finding.end_line or finding.line, finding.col))
            replacement = None
            message = finding.message
            if finding is carrier and fixed is not None:
                replacement = cst.parse_module(fixed)
            elif finding.fixable and fixed is not None:
                message += f" (fixed with {carrier.code} at line {carrier.line})" if carrier else ""
            self.report(node, message, position=position, replacement=replacement)


def _rule(code: str, name: str, summary: str) -> Type[SafeStateRule]:
    doc = f"{name}: {summary} (`safestate-lint rule {code}` has the full documentation)"
    return type(code, (SafeStateRule,), {"CODE": code, "__doc__": doc, "__module__": __name__})


for _r in ALL_RULES:
    globals()[_r.code] = _rule(_r.code, _r.name, _r.summary)
del _r
