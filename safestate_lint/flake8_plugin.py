"""The flake8 adapter: flake8's own tree and lines go straight into the engine.

No second implementation and no second parse: flake8 has already read and parsed the
file; the plugin runs the same `check_tree` as `safestate-lint check`, with the same
`[tool.safestate-lint]` configuration, and leaves `# noqa` to flake8 (which honours it
the same way).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any, Iterator, List, Sequence, Tuple, Type

from safestate_lint import __version__
from safestate_lint import config as config_mod
from safestate_lint.engine import check_tree, no_cyclic_gc
from safestate_lint.finding import UserError
from safestate_lint.index import view_for


class SafeStatePlugin:
    name = "safestate-lint"
    version = __version__

    def __init__(self, tree: ast.AST, lines: Sequence[str], filename: str) -> None:
        self.tree = tree
        self.lines = lines
        self.filename = filename

    @classmethod
    def parse_options(cls, option_manager: Any, options: argparse.Namespace, args: List[str]) -> None:
        """Read the configuration of every path flake8 was given, in flake8's main process,
        before any worker starts: a bad `[tool.safestate-lint]` ends the run with its message
        (a worker that exits would leave flake8's process pool waiting forever)."""
        for path in list(getattr(options, "filenames", None) or args or ["."]):
            start = os.getcwd() if path in ("-", "stdin") else path
            try:
                config_mod.discover(start)
                for nested in _nested_configs(start):
                    config_mod.load_file(nested)
            except UserError as exc:
                sys.stderr.write(f"{exc}\n")
                raise SystemExit(2) from None

    def run(self) -> Iterator[Tuple[int, int, str, Type[Any]]]:
        if not isinstance(self.tree, ast.Module):
            return
        start = self.filename if self.filename not in ("stdin", "-") else os.getcwd()
        # A config below the given paths can still be bad: raise an ordinary exception, which
        # flake8 reports and ends the run with, in every job mode (never SystemExit in a worker).
        config = config_mod.discover(os.path.dirname(os.path.abspath(start)))
        if self.filename not in ("stdin", "-") and config.is_excluded(self.filename):
            return
        with no_cyclic_gc():
            findings = check_tree(self.tree, self.lines, self.filename, config, honour_noqa=False,
                                  view=view_for(self.filename, config))
        for finding in findings:
            yield finding.line, finding.col - 1, f"{finding.code} {finding.message}", type(self)


_NEVER_WALKED = frozenset(config_mod.DEFAULT_EXCLUDE) | {"site-packages"}


def _nested_configs(start: str) -> Iterator[str]:
    """The pyproject.toml files below a directory flake8 will walk (not its default excludes)."""
    if not os.path.isdir(start):
        return
    for directory, subdirs, files in os.walk(start):
        subdirs[:] = [d for d in subdirs if d not in _NEVER_WALKED and not d.endswith(".egg-info")]
        if "pyproject.toml" in files and directory != start:
            yield os.path.join(directory, "pyproject.toml")
