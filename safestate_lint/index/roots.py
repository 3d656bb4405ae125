"""Where a project starts and what its modules are called.

The project root is found the way ruff and pytest find it: the nearest directory above a
file that holds `pyproject.toml`, `setup.cfg`, `setup.py` or `.git`. Its source roots are
the root itself, `src/` when there is one, and the config's `source-roots`. A module's
name is its path below the deepest source root that holds it (`src/app/x.py` -> `app.x`,
`app/__init__.py` -> `app`); namespace packages need no `__init__.py`.
"""

from __future__ import annotations

import functools
import os
from typing import Optional, Sequence, Tuple

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")


@functools.lru_cache(maxsize=256)
def project_root(directory: str) -> Tuple[str, bool]:
    """The project directory of files in `directory`, and whether a marker says so (without
    one, the project is that directory alone, not what lies below it)."""
    current = os.path.abspath(directory)
    while True:
        if any(os.path.exists(os.path.join(current, marker)) for marker in ROOT_MARKERS):
            return current, True
        parent = os.path.dirname(current)
        if parent == current:
            return os.path.abspath(directory), False
        current = parent


def source_roots(root: str, extra: Sequence[str] = (), config_root: str = "") -> Tuple[str, ...]:
    """The directories module names are relative to, deepest first."""
    roots = [root]
    src = os.path.join(root, "src")
    if os.path.isdir(src):
        roots.append(src)
    for entry in extra:
        roots.append(os.path.normpath(os.path.join(config_root or root, entry)))
    return tuple(sorted(set(roots), key=len, reverse=True))


def module_name(path: str, roots: Sequence[str]) -> Optional[Tuple[str, bool]]:
    """(dotted module name, is a package `__init__`) for a file under one of `roots`."""
    absolute = os.path.abspath(path)
    for root in roots:
        if not absolute.startswith(root.rstrip(os.sep) + os.sep):
            continue
        rel = os.path.relpath(absolute, root)
        parts = rel[:-3].split(os.sep) if rel.endswith(".py") else rel.split(os.sep)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        if not parts or not all(part.isidentifier() for part in parts):
            continue
        return ".".join(parts), package
    return None


def resolve_relative(module: str, is_package: bool, level: int, target: Optional[str]) -> Optional[str]:
    """`from ..a import b` in `module`: the absolute name of `..a`."""
    if level == 0:
        return target
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        if level - 1 > len(parts):
            return None
        parts = parts[:len(parts) - (level - 1)]
    if target:
        parts.append(target)
    return ".".join(parts) if parts else None
