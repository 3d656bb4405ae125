"""The LibCST face: `SafeStateFix`, a codemod command that runs `safestate-lint fix` on each file.

    python -m libcst.tool codemod -x safestate_lint.codemods.SafeStateFix --no-format src/
    python -m libcst.tool codemod -x safestate_lint.codemods.SafeStateFix --no-format src/ --unsafe-fixes

It is thin: the same `fix_source` as the CLI, with the configuration discovered for each file,
so a codemod run and `safestate-lint fix` write the same code.
"""

from __future__ import annotations

import argparse
import os

import libcst as cst
from libcst.codemod import CodemodCommand, CodemodContext, SkipFile

from safestate_lint.config import discover
from safestate_lint.finding import SourceError
from safestate_lint.fixers import FixError, fix_source


class SafeStateFix(CodemodCommand):
    DESCRIPTION = "Fix unsafe shared state (safestate-lint fix): locks, double-checked singletons, locked containers."

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument("--unsafe-fixes", action="store_true", default=False,
                                help="also apply safestate-lint's fixes that can change behaviour")

    def __init__(self, context: CodemodContext, unsafe_fixes: bool = False) -> None:
        super().__init__(context)
        self.unsafe_fixes = unsafe_fixes

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        path = self.context.filename or "<stdin>.py"
        config = discover(os.path.dirname(os.path.abspath(path)) if self.context.filename else os.getcwd())
        try:
            result = fix_source(tree.code, path, config, unsafe_fixes=self.unsafe_fixes)
        except (SourceError, FixError) as exc:
            raise SkipFile(str(exc)) from None
        for finding in result.remaining:
            self.warn(f"{finding.line}:{finding.col}: {finding.code} {finding.message} "
                      f"(no automatic fix: {result.why(finding) or 'unknown'})")
        return cst.parse_module(result.source) if result.changed else tree
