"""The project index: per-module summaries and what each module learns from the rest of its
project (who shares its objects, the locks its callers hold, the containers it imports).

The one door every face uses (CLI, flake8, pre-commit, fix, the LibCST codemod and Fixit):
:func:`view_for` gives the :class:`ModuleView` of a file, whatever else a run was given.
"""

from __future__ import annotations

import os

from safestate_lint.config import Config
from safestate_lint.index.view import EMPTY_VIEW, ModuleView

__all__ = ["EMPTY_VIEW", "ModuleView", "view_for"]


def view_for(path: str, config: Config) -> ModuleView:
    """What the module at `path` learns from the other modules of its project."""
    from safestate_lint.index.project import index_for

    if not path or not os.path.isfile(path):
        return EMPTY_VIEW  # stdin, or a path that names no file: there is no project to ask
    return index_for(path, config).view(path)
