"""Atomic file replacement, shared by the runtime's persistence and the linter's writes."""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from typing import Optional, Tuple

# How long a temporary file may stand unchanged before a new `StateManager` on its path calls
# it a crashed write's leftover and removes it (see `remove_stale_temporaries`).
STALE_AFTER = 60.0


def temporary_affixes(path: str) -> Tuple[str, str]:
    """The prefix and suffix of the temporary files `atomic_write` makes beside `path`."""
    return f".{os.path.basename(path)}.", ".tmp"


def temporary_pattern(path: str) -> str:
    """A regular expression that matches exactly the names of `path`'s temporaries: the
    prefix, mkstemp's eight characters (never a dot, so no other path's temporary matches:
    `state.json.bak` makes `.state.json.bak.XXXXXXXX.tmp`), the suffix."""
    prefix, suffix = temporary_affixes(path)
    return re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(suffix)


def remove_stale_temporaries(path: str, older_than: float = STALE_AFTER) -> None:
    """Remove the temporary files of `path` that a crashed write left behind.

    Only `path`'s own temporaries (`temporary_pattern`), only regular files, and only those
    unmodified for `older_than` seconds: a younger one may be a write in progress in another
    process.  Age, not a pid in the name: pids say nothing across hosts or containers sharing
    the directory, are reused, and cannot be probed safely on Windows.  A write stalled longer
    than that (between its last byte and its rename) loses its temporary and fails with
    `OSError`, leaving the old file: it is never half-written or replaced by a stale one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    own = re.compile(temporary_pattern(path))
    try:
        names = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    for name in names:
        if not own.fullmatch(name):
            continue
        full = os.path.join(directory, name)
        try:
            info = os.lstat(full)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime > older_than:
                os.unlink(full)
        except OSError:  # gone already, or not ours to remove
            pass


def atomic_write(path: str, data: bytes, *, durable: bool = True, mode: Optional[int] = None) -> None:
    """Write `data` to a temporary file beside `path` (fsynced when `durable`), then replace
    `path` with it: readers see the old file or the new one, never half of one, and a failure
    leaves the old file and no temporary file behind."""
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None:  # keep the file's mode (mkstemp makes 0600); a new file gets the umask's default
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    prefix, suffix = temporary_affixes(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
