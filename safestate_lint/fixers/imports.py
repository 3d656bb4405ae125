"""Imports a fix adds, placed as the project's isort or ruff settings sort them.

A new import goes into the module's top-level import block, never into a branch of an
`if`/`try`: `import threading` among the standard library imports, `from
safestate_lint.runtime import LockedDict` among the third-party ones (first-party when the
project itself is `safestate_lint`), each section in isort's order (future, standard library,
third party, first party, local) with one blank line between sections and the block followed
by one blank line (two before a `def` or `class`), as `isort -c` and `ruff check --select I`
want.  Within a section: plain `import x` lines before `from x import y` lines, each sorted
by module name (case-insensitively), unless `force_sort_within_sections` says one order for
both; a name joins an existing `from x import ...` in isort's order (constants, classes,
functions) unless `force_single_line` (profile google) wants a line per name.

The settings come from the nearest of `.isort.cfg` (`[settings]`), `pyproject.toml`
(`[tool.isort]`, `[tool.ruff.lint.isort]`, `[tool.ruff.isort]`), `setup.cfg` / `tox.ini`
(`[isort]`, `[tool:isort]`) and `ruff.toml` / `.ruff.toml` (`[lint.isort]`, `[isort]`), found
from the file's directory up; the directory holding it is the project root, whose packages
(`root/NAME`, `root/src/NAME`) are first party, as isort and ruff decide by default.
"""

from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

import libcst as cst

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10
    import tomli as tomllib

FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY, LOCAL = range(5)
_PROFILES_SORTING_TOGETHER = frozenset({"google", "open_stack", "plone", "appnexus"})  # force_sort_within_sections
_PROFILES_SINGLE_LINE = frozenset({"google", "open_stack"})
_TOML_FILES = ("pyproject.toml", "ruff.toml", ".ruff.toml")
_CFG_FILES = (".isort.cfg", "setup.cfg", "tox.ini")


@dataclass(frozen=True)
class ImportStyle:
    """What decides where an import goes (isort's and ruff's defaults unless configured)."""

    root: str = ""
    force_sort_within_sections: bool = False
    force_single_line: bool = False
    case_sensitive: bool = False
    from_first: bool = False
    known_first_party: FrozenSet[str] = field(default_factory=frozenset)
    known_third_party: FrozenSet[str] = field(default_factory=frozenset)
    known_local_folder: FrozenSet[str] = field(default_factory=frozenset)

    def section(self, module: str, level: int = 0) -> int:
        top = module.split(".", 1)[0]
        if level:
            return LOCAL
        if top == "__future__":
            return FUTURE
        for names, section in ((self.known_first_party, FIRST_PARTY), (self.known_third_party, THIRD_PARTY),
                               (self.known_local_folder, LOCAL)):
            if top in names:
                return section
        if top in _stdlib_names():
            return STDLIB
        if self.root and any(os.path.exists(os.path.join(self.root, *where))
                             for where in ((top,), (f"{top}.py",), ("src", top), ("src", f"{top}.py"))):
            return FIRST_PARTY
        return THIRD_PARTY

    def module_key(self, module: str, is_from: bool) -> Tuple[Any, ...]:
        name = module if self.case_sensitive else module.lower()
        if self.force_sort_within_sections:
            return (name, is_from)
        return (is_from != self.from_first, name)


@lru_cache(maxsize=None)
def _stdlib_names() -> FrozenSet[str]:
    names = getattr(sys, "stdlib_module_names", None)
    if names:
        return frozenset(names)
    import pkgutil  # Python 3.9: the modules of the standard library's own directories
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    found = {m.name for m in pkgutil.iter_modules([stdlib, os.path.join(stdlib, "lib-dynload")])}
    return frozenset(found | set(sys.builtin_module_names))


def style_for(path: str) -> ImportStyle:
    """The import style of the project `path` (a file, possibly not on disk) belongs to."""
    return _style_in(os.path.dirname(os.path.abspath(path or ".")))


@lru_cache(maxsize=256)
def _style_in(directory: str) -> ImportStyle:
    """The nearest settings up to the repository's root; without any, isort's defaults with the
    nearest project file's directory as the root."""
    current, root = directory, ""
    while True:
        present = [name for name in (*_CFG_FILES, *_TOML_FILES) if os.path.isfile(os.path.join(current, name))]
        found = _read(current, present) if present else None
        if found is not None:
            return found
        root = root or (current if present else "")
        parent = os.path.dirname(current)
        if parent == current or os.path.exists(os.path.join(current, ".git")):
            return ImportStyle(root=root or directory)
        current = parent


def _read(root: str, present: Sequence[str]) -> Optional[ImportStyle]:
    """The first isort/ruff section among the files of `root`, in isort's order of precedence."""
    for name in (".isort.cfg", "pyproject.toml", "setup.cfg", "tox.ini", "ruff.toml", ".ruff.toml"):
        if name not in present:
            continue
        settings = _settings(os.path.join(root, name))
        if settings is not None:
            return _style(root, settings)
    return None


def _settings(path: str) -> Optional[Dict[str, Any]]:
    """The isort settings a file holds (keys with `_`), or None when it has none."""
    try:
        if path.endswith(".toml"):
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
            tool = data.get("tool", {}) if path.endswith("pyproject.toml") else {"ruff": data}
            for section in (tool.get("isort"), tool.get("ruff", {}).get("lint", {}).get("isort"),
                            tool.get("ruff", {}).get("isort")):
                if isinstance(section, dict):
                    return {key.replace("-", "_"): value for key, value in section.items()}
            return None
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        for section in ("settings", "isort", "tool:isort"):
            if parser.has_section(section) and (section != "settings" or path.endswith(".isort.cfg")):
                return {key.replace("-", "_"): value for key, value in parser.items(section)}
    except (OSError, ValueError, configparser.Error, tomllib.TOMLDecodeError):
        return None  # an unreadable file: isort's defaults
    return None


def _style(root: str, settings: Dict[str, Any]) -> ImportStyle:
    profile = str(settings.get("profile", "")).strip().lower()
    return ImportStyle(
        root=root,
        force_sort_within_sections=_flag(settings.get("force_sort_within_sections"),
                                         profile in _PROFILES_SORTING_TOGETHER),
        force_single_line=_flag(settings.get("force_single_line"), profile in _PROFILES_SINGLE_LINE),
        case_sensitive=_flag(settings.get("case_sensitive"), False),
        from_first=_flag(settings.get("from_first"), False),
        known_first_party=_names(settings.get("known_first_party")),
        known_third_party=_names(settings.get("known_third_party")),
        known_local_folder=_names(settings.get("known_local_folder")),
    )


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _names(value: Any) -> FrozenSet[str]:
    if value is None:
        return frozenset()
    items = value if isinstance(value, (list, tuple)) else str(value).replace("\n", ",").split(",")
    return frozenset(str(item).strip().split(".", 1)[0] for item in items if str(item).strip())


# -- placing imports in the module's import block ------------------------------------------------


def _is_import_line(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and \
        all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _module_of(small: cst.BaseSmallStatement) -> Tuple[str, int, bool]:
    """(dotted module, relative level, is a `from` import) of an import statement."""
    if isinstance(small, cst.ImportFrom):
        name = cst.Module([]).code_for_node(small.module) if small.module is not None else ""
        return name, len(small.relative), True
    assert isinstance(small, cst.Import)
    return cst.Module([]).code_for_node(small.names[0].name), 0, False


def _name_key(name: str, style: ImportStyle) -> Tuple[int, str]:
    """isort's `order_by_type`: CONSTANTS, then Classes, then functions and modules."""
    rank = 0 if name.isupper() and len(name) > 1 else (1 if name[:1].isupper() else 2)
    return rank, name if style.case_sensitive else name.lower()


def _blank() -> cst.EmptyLine:
    return cst.EmptyLine(indent=False)


def add_imports(module: cst.Module, needed: Sequence[Tuple[str, Optional[str]]], style: ImportStyle) -> cst.Module:
    """`module` with `import M` (obj None) / `from M import obj` added to its import block."""
    body: List[Any] = list(module.body)  # statements (each has `leading_lines`)
    for name, obj in needed:
        body = _add_one(body, name, obj, style)
    return module.with_changes(body=body)


def _add_one(body: List[Any], name: str, obj: Optional[str], style: ImportStyle) -> List[Any]:
    start = 1 if body and _is_docstring(body[0]) else 0
    end = start
    while end < len(body) and _is_import_line(body[end]):
        end += 1
    header = list(range(start, end))
    if obj is not None and not style.force_single_line:
        for i in header:
            merged = _merge(body[i], name, obj, style)
            if merged is not None:
                return [*body[:i], merged, *body[i + 1:]]
    code = f"import {name}" if obj is None else f"from {name} import {obj}"
    new = cst.parse_statement(code + "\n")
    section = style.section(name)
    key = (style.module_key(name, obj is not None), _name_key(obj or "", style))

    def info(i: int) -> Tuple[int, Tuple[Any, ...]]:
        small = cst.ensure_type(body[i], cst.SimpleStatementLine).body[0]
        module_name, level, is_from = _module_of(small)
        names = getattr(small, "names", ())
        first = names[0].name.value if isinstance(names, (list, tuple)) and names and \
            isinstance(names[0].name, cst.Name) else ""
        return style.section(module_name, level), (style.module_key(module_name, is_from), _name_key(first, style))

    same = [i for i in header if info(i)[0] == section]
    later = [i for i in header if info(i)[0] > section]
    if same and later and later[0] < (next((i for i in same if info(i)[1] > key), None) or same[-1] + 1):
        # an unsorted block (`import os`, `from . import x`, `from typing import y`): never after a
        # line of a later section
        return [*body[:later[0]], new, *body[later[0]:]]
    if same:
        at = next((i for i in same if info(i)[1] > key), None)
        if at is None:  # last of its section
            return [*body[:same[-1] + 1], new, *body[same[-1] + 1:]]
        before = body[at]
        starts_section = at == start or any(line.comment is None for line in before.leading_lines)
        if starts_section:  # the section's blank line and comments go first, then the new line
            new = new.with_changes(leading_lines=before.leading_lines)
            before = before.with_changes(leading_lines=())
        return [*body[:at], new, before, *body[at + 1:]]
    if later:  # a new section, before the first section that sorts after it
        at = later[0]
        before = body[at]
        if at == start:
            new = new.with_changes(leading_lines=before.leading_lines)
            comments = [line for line in before.leading_lines if line.comment]
            before = before.with_changes(leading_lines=[_blank(), *comments])
        else:
            new = new.with_changes(leading_lines=[_blank()])
        return [*body[:at], new, before, *body[at + 1:]]
    if header:  # a new last section
        new = new.with_changes(leading_lines=[_blank()])
        return [*body[:end], new, *_spaced(body[end:])]
    # no import block yet: one, after the docstring
    if start:
        new = new.with_changes(leading_lines=[_blank()])
    return [*body[:start], new, *_spaced(body[start:])]


def _spaced(rest: List[Any]) -> List[Any]:
    """The statement after the import block keeps a blank line before it (two before a def)."""
    if not rest or any(line.comment is None for line in rest[0].leading_lines):
        return rest
    count = 2 if isinstance(rest[0], (cst.FunctionDef, cst.ClassDef)) else 1
    first = rest[0].with_changes(leading_lines=[*([_blank()] * count), *rest[0].leading_lines])
    return [first, *rest[1:]]


def _merge(stmt: cst.BaseStatement, name: str, obj: str, style: ImportStyle) -> Optional[cst.BaseStatement]:
    """`from name import a, c` -> `from name import a, obj, c` (None: not that import)."""
    line = cst.ensure_type(stmt, cst.SimpleStatementLine)
    small = line.body[0]
    if len(line.body) != 1 or not isinstance(small, cst.ImportFrom) or small.relative or small.module is None \
            or isinstance(small.names, cst.ImportStar) or _module_of(small)[0] != name:
        return None
    aliases = list(small.names)
    if any(isinstance(a.name, cst.Name) and a.name.value == obj and a.asname is None for a in aliases):
        return stmt
    inner_comma = next((a.comma for a in aliases[:-1] if isinstance(a.comma, cst.Comma)),
                       cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    last_comma = aliases[-1].comma
    alias = cst.ImportAlias(name=cst.Name(obj))
    keyed = sorted([*aliases, alias], key=lambda a: _name_key(cst.Module([]).code_for_node(a.name), style))
    rebuilt = [a.with_changes(comma=inner_comma) for a in keyed[:-1]] + [keyed[-1].with_changes(comma=last_comma)]
    return line.with_changes(body=[small.with_changes(names=rebuilt)])
