"""The flake8 adapter: flake8's own tree and lines go straight into the engine.

No second implementation and no second parse: flake8 has already read and parsed the
file; the plugin runs the same `check_tree` as `safestate-lint check`, with the same
`[tool.safestate-lint]` configuration, and leaves `# noqa` to flake8 (which honours it
the same way).
"""

from __future__ import annotations

import ast
import os
from typing import Any, Iterator, Sequence, Tuple, Type

from safestate_lint import __version__
from safestate_lint import config as config_mod
from safestate_lint.engine import check_tree, no_cyclic_gc
from safestate_lint.finding import UserError


class SafeStatePlugin:
    name = "safestate-lint"
    version = __version__

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str) -> None:
        self.tree = tree
        self.lines = lines
        self.filename = filename

    def run(self) -> Iterator[Tuple[int, int, str, Type[Any]]]:
        if not isinstance(self.tree, ast.Module):
            return
        start = self.filename if self.filename not in ("stdin", "-") else os.getcwd()
        try:
            config = config_mod.discover(os.path.dirname(os.path.abspath(start)))
        except UserError as exc:
            raise SystemExit(str(exc)) from None
        if self.filename not in ("stdin", "-") and config.is_excluded(self.filename):
            return
        with no_cyclic_gc():
            findings = check_tree(self.tree, self.lines, self.filename, config, honour_noqa=False)
        for finding in findings:
            yield finding.line, finding.col - 1, f"{finding.code} {finding.message}", type(self)
