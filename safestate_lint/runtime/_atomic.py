"""Atomic file replacement, shared by the runtime's persistence and the linter's writes."""

from __future__ import annotations

import os
import stat
import tempfile
from typing import Optional


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
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
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
