"""Configuration: `[tool.safestate-lint]` in the nearest pyproject.toml, or `--config FILE`."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import sys
import re
from typing import Any, Dict, List, NamedTuple, Optional, Pattern, Sequence, Tuple

from safestate_lint.codes import CODES, OPT_IN
from safestate_lint.finding import UserError
from safestate_lint.runtime import LockedDict

if sys.version_info >= (3, 11):  # pragma: no cover - version dependent
    import tomllib
else:  # pragma: no cover - version dependent
    import tomli as tomllib

SECTION = "safestate-lint"

DEFAULT_EXCLUDE: Tuple[str, ...] = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", ".eggs", "*.egg-info",
    "__pycache__", "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".safestate_cache",
)

# Names taken as locks in `with NAME:` even when the module does not show how they were made.
DEFAULT_LOCK_NAMES: Tuple[str, ...] = (
    "lock", "*_lock", "*_lock_*", "lock_*", "*Lock", "LOCK", "*_LOCK", "*_LOCK_*",
    "_rlock", "*_rlock", "mutex", "*_mutex", "*Mutex", "*_MUTEX", "MUTEX",
    "*_sem", "*semaphore", "*Semaphore", "*_SEMAPHORE", "*_cond", "*_condition", "*_cv",
)
DEFAULT_SYNCHRONIZED_DECORATORS: Tuple[str, ...] = ("synchronized", "*.synchronized")

# key -> (python type, description used in error messages)
_KEYS: Dict[str, Tuple[str, str]] = {
    "select": ("list", "a list of rule codes or prefixes"),
    "ignore": ("list", "a list of rule codes or prefixes"),
    "extend-select": ("list", "a list of rule codes or prefixes"),
    "extend-ignore": ("list", "a list of rule codes or prefixes"),
    "exclude": ("list", "a list of glob patterns"),
    "extend-exclude": ("list", "a list of glob patterns"),
    "per-file-ignores": ("table", "a table of glob pattern = list of rule codes"),
    "lock-names": ("list", "a list of glob patterns of lock names"),
    "synchronized-decorators": ("list", "a list of decorator names (globs)"),
    "thread-safe-types": ("list", "a list of type names (e.g. 'mypkg.SafeCache')"),
    "baseline": ("str", "a path to a baseline file (relative to this file's directory)"),
    "blocking-calls": ("list", "a list of call names (globs, e.g. 'mypkg.rpc.*' or '*.fetch_remote')"),
    "runtime-module": ("str", "a module name string, or 'none' (standard-library locks only)"),
    "assume-single-event-loop": ("bool", "true or false"),
    "single-threaded-tests": ("bool", "true or false"),
    "tests-single-threaded": ("bool", "true or false"),
    "src": ("list", "a list of directories (extra source roots, relative to this file's directory)"),
    "shared-classes": ("list", "a list of class names or globs (e.g. 'mypkg.pool.Pool', 'socketserver.*Handler')"),
}


_CODE_KEYS = ("select", "ignore", "extend-select", "extend-ignore")


class Config(NamedTuple):
    select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    extend_select: Tuple[str, ...] = ()  # added to `select` (or to the default selection)
    extend_ignore: Tuple[str, ...] = ()  # added to `ignore`
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: Tuple[str, ...] = ()
    per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    lock_names: Tuple[str, ...] = DEFAULT_LOCK_NAMES
    synchronized_decorators: Tuple[str, ...] = DEFAULT_SYNCHRONIZED_DECORATORS
    thread_safe_types: Tuple[str, ...] = ()
    blocking_calls: Tuple[str, ...] = ()  # extra calls SST404 and the fixers treat as blocking
    baseline: str = ""  # `check` reports only findings not recorded in this file
    runtime_module: str = "safestate_lint.runtime"
    # coroutines of one event loop interleave only at awaits: state only coroutines touch is
    # reported only for windows that span an await
    assume_single_event_loop: bool = False
    # test modules run single-threaded unless they start threads themselves (testcode.py)
    single_threaded_tests: bool = True
    src: Tuple[str, ...] = ()  # extra source roots of the project index
    shared_classes: Tuple[str, ...] = ()  # classes (or their bases) whose instances threads share
    root: str = ""  # the directory of the config file (paths in it are relative to it)
    source: str = ""  # the config file

    # -- selection -------------------------------------------------------
    def code_enabled(self, code: str, path: Optional[str] = None) -> bool:
        """Selected (by `select`, else the default selection, plus `extend-select`) and not
        ignored. A policy rule outside the default selection (SST105) is selected only by its
        own code or `ALL`, never by a prefix (`SST1` keeps meaning the race rules)."""
        if not (_selects(code, self.select) if self.select else code not in OPT_IN) \
                and not _selects(code, self.extend_select):
            return False
        if _matches_code(code, self.ignore) or _matches_code(code, self.extend_ignore):
            return False
        if path is not None and self.per_file_ignores:
            rel = self.relative(path)
            for pattern, codes in self.per_file_ignores:
                if _glob_match(rel, pattern) and _matches_code(code, codes):
                    return False
        return True

    def is_excluded(self, path: str) -> bool:
        """A pattern matches the path relative to the config's directory, or any part of it."""
        whole, part = _exclude_patterns(self.exclude + self.extend_exclude)
        rel = self.relative(path)
        return bool(whole.match(rel)) or any(part.match(p) for p in rel.split("/"))

    def relative(self, path: str) -> str:
        absolute = os.path.abspath(path)
        root = self.root or os.getcwd()
        try:
            rel = os.path.relpath(absolute, root)
        except ValueError:  # pragma: no cover - different drive on Windows
            return absolute.replace(os.sep, "/")
        return rel.replace(os.sep, "/")

    def fingerprint(self) -> str:
        """A hash of everything that changes findings (used as a cache key)."""
        return _fingerprint(self)

    def with_overrides(self, **changes: Any) -> "Config":
        return self._replace(**changes)


@functools.lru_cache(maxsize=64)
def _fingerprint(config: Config) -> str:
    """`Config.fingerprint`, once per configuration (a config is immutable)."""
    data = {
        "lock_names": config.lock_names,
        "synchronized_decorators": config.synchronized_decorators,
        "thread_safe_types": config.thread_safe_types,
        "blocking_calls": config.blocking_calls,
        "runtime_module": config.runtime_module,
        "assume_single_event_loop": config.assume_single_event_loop,
        "single_threaded_tests": config.single_threaded_tests,
        "src": config.src,
        "shared_classes": config.shared_classes,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _exclude_patterns(patterns: Tuple[str, ...]) -> Tuple[Pattern[str], Pattern[str]]:
    """One regex for the whole relative path (`pat` or `pat/...`) and one for a single part."""
    cleaned = [p.rstrip("/")[2:] if p.startswith("./") else p.rstrip("/") for p in patterns] or ["(?!)"]
    whole = "|".join(f"(?:{fnmatch.translate(p)[:-2]})(?:/.*)?" for p in cleaned if p != "(?!)")
    part = "|".join(fnmatch.translate(p)[:-2] for p in cleaned if p != "(?!)")
    return re.compile(f"(?s:{whole or '(?!)'})\\Z"), re.compile(f"(?s:{part or '(?!)'})\\Z")


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern + "/*")


def _matches_code(code: str, selectors: Sequence[str]) -> bool:
    return any(selector == "ALL" or code.startswith(selector) for selector in selectors)


def _selects(code: str, selectors: Sequence[str]) -> bool:
    if code in OPT_IN:
        return any(selector in ("ALL", code) for selector in selectors)
    return _matches_code(code, selectors)


def unknown_code(codes: Sequence[str]) -> Optional[str]:
    """The first selector that names no rule code or prefix (`ALL` selects every rule)."""
    for code in codes:
        if code != "ALL" and not any(known.startswith(code) for known in CODES):
            return code
    return None


def _check_codes(source: str, key: str, codes: Sequence[str]) -> None:
    bad = unknown_code(codes)
    if bad is not None:
        raise UserError(f"{source}: error: [tool.{SECTION}] key '{key}': unknown rule code or prefix '{bad}'")


def _error(source: str, key: str, expected: str, got: Any) -> UserError:
    return UserError(
        f"{source}: error: [tool.{SECTION}] key '{key}' must be {expected}, got {type(got).__name__} {got!r}"
    )


def _string_list(source: str, key: str, value: Any, expected: str) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = [value] if key in _CODE_KEYS else value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _error(source, key, expected, value)
    return tuple(value)


def parse_table(table: Any, source: str, root: str) -> Config:
    """Validate a `[tool.safestate-lint]` table; raise UserError naming file and key."""
    if not isinstance(table, dict):
        raise UserError(f"{source}: error: [tool.{SECTION}] must be a table")
    changes: Dict[str, Any] = {"root": root, "source": source}
    for key, value in table.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise UserError(f"{source}: error: unknown key '{key}' in [tool.{SECTION}] (expected one of: {known})")
        kind, expected = _KEYS[key]
        attr = "single_threaded_tests" if key == "tests-single-threaded" else key.replace("-", "_")
        if kind == "list":
            items = _string_list(source, key, value, expected)
            if key in _CODE_KEYS:
                items = tuple(item.strip().upper() for item in items)
                _check_codes(source, key, items)
            changes[attr] = items
        elif kind == "bool":
            if not isinstance(value, bool):
                raise _error(source, key, expected, value)
            changes[attr] = value
        elif kind == "str":
            if not isinstance(value, str) or not value:
                raise _error(source, key, expected, value)
            changes[attr] = value
        else:
            if not isinstance(value, dict):
                raise _error(source, key, expected, value)
            pairs = []
            for pattern, codes in value.items():
                entry = f"{key}.{pattern}"
                upper = tuple(c.strip().upper() for c in _string_list(source, entry, codes, "a list of rule codes"))
                _check_codes(source, entry, upper)
                pairs.append((pattern, upper))
            changes[attr] = tuple(pairs)
    return Config()._replace(**changes)


def load_file(path: str, *, require_section: bool = False) -> Optional[Config]:
    """Load a config file (a pyproject.toml, or a TOML file with the table at top level)."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: error: config file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: error: cannot read config: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: error: invalid TOML: {exc}") from None
    root = os.path.dirname(os.path.abspath(path))
    tool = data.get("tool")
    if isinstance(tool, dict) and SECTION in tool:
        return parse_table(tool[SECTION], path, root)
    if os.path.basename(path) == "pyproject.toml":
        if require_section:
            return parse_table({}, path, root)
        return None
    return parse_table(data, path, root)


_DISCOVERY_CACHE: Dict[str, Config] = LockedDict()


def discover(start: str) -> Config:
    """The config of the nearest pyproject.toml with a [tool.safestate-lint] table above `start`."""
    directory = os.path.abspath(start)
    if not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    visited: List[str] = []
    config: Optional[Config] = None
    current = directory
    while True:
        if current in _DISCOVERY_CACHE:
            config = _DISCOVERY_CACHE[current]
            break
        visited.append(current)
        candidate = os.path.join(current, "pyproject.toml")
        if os.path.isfile(candidate):
            config = load_file(candidate)
            if config is not None:
                break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if config is None:
        config = Config(root=os.getcwd())
    for directory in visited:
        _DISCOVERY_CACHE[directory] = config
    return config
