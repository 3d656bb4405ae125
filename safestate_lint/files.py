"""Finding the files to check and reading them without losing anything."""

from __future__ import annotations

import os
from typing import Callable, Iterator, List, NamedTuple, Sequence, Tuple

from safestate_lint.config import Config


class SourceFile(NamedTuple):
    path: str  # the path to open
    display: str  # the path to print: relative to the current directory as given


class PathError(NamedTuple):
    display: str
    reason: str


def _display(path: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(path)


def discover_files(paths: Sequence[str],
                   config_for: Callable[[str], Config]) -> Tuple[List[SourceFile], List[PathError]]:
    """Python files under `paths`, sorted, skipping what each one's config excludes;
    missing paths are errors."""
    files: List[SourceFile] = []
    errors: List[PathError] = []
    seen = set()

    for given in paths:
        if not os.path.lexists(given):
            errors.append(PathError(_display(given), "No such file or directory"))
            continue
        if not os.path.isdir(given):
            cfg = config_for(given)
            if not cfg.is_excluded(given):
                real = os.path.realpath(given)
                if real not in seen:
                    seen.add(real)
                    files.append(SourceFile(given, _display(given)))
            continue
        cfg = config_for(given)
        for path in _walk(given, cfg, errors):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                files.append(SourceFile(path, _display(path)))
    files.sort(key=lambda f: f.display)
    return files, errors


def _walk(root: str, cfg: Config, errors: List[PathError]) -> Iterator[str]:
    def onerror(exc: OSError) -> None:
        errors.append(PathError(_display(exc.filename or root), exc.strerror or str(exc)))

    for directory, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not cfg.is_excluded(os.path.join(directory, d)))
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                if not cfg.is_excluded(path):
                    yield path


def read_bytes(path: str) -> bytes:
    """Read a file; OSError is turned into a one-line reason by the caller."""
    with open(path, "rb") as handle:
        return handle.read()


def os_reason(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return (exc.strerror or str(exc)).rstrip(".")


def atomic_write(path: str, data: bytes) -> None:
    """Replace a source file atomically and durably, keeping its permissions."""
    from safestate_lint.runtime._atomic import atomic_write as write

    write(path, data, durable=True)  # keeps the file's mode


def write_whole(path: str, text: str, what: str) -> None:
    """Write a report or a baseline whole or not at all; a failure is a one-line UserError."""
    from safestate_lint.finding import UserError

    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: error: cannot write the {what}: {exc.strerror or exc}") from None


def is_read_only(path: str) -> bool:
    import stat

    return not (os.stat(path).st_mode & stat.S_IWUSR)
