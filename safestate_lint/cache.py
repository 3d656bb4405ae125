"""A content-hash cache of findings, like ruff's.

An entry is keyed by the file's bytes, the tool's version and the configuration that
changes findings, so an unchanged file is never analysed twice and any change of
version or relevant config misses.  Entries are written to a temporary file and
renamed into place, so concurrent runs never read half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import List, Optional, Tuple

from safestate_lint import __version__
from safestate_lint.config import Config
from safestate_lint.finding import Finding
from safestate_lint.runtime._atomic import atomic_write

CACHE_DIR_NAME = ".safestate_cache"
Entry = Tuple[List[Finding], Optional[str]]  # findings (path left empty), or an error reason


class Cache:
    def __init__(self, root: str, config: Config, variant: str = "") -> None:
        salt = f"{__version__}:findings-3:{config.fingerprint()}:{variant}".encode()  # 3: context
        self._salt = salt
        self.directory = os.path.join(root, CACHE_DIR_NAME, __version__)
        self._ready = False

    def key(self, data: bytes) -> str:
        return hashlib.blake2b(data, digest_size=20, key=self._salt[:64]).hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key)

    def get(self, key: str) -> Optional[Entry]:
        try:
            with open(self._path(key), "rb") as handle:
                raw = json.loads(handle.read())
            findings = [Finding.from_dict({**item, "path": ""}) for item in raw["findings"]]
            return findings, raw.get("error")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, findings: List[Finding], error: Optional[str]) -> None:
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not self._ready:
                self._ready = True
                gitignore = os.path.join(os.path.dirname(self.directory), ".gitignore")
                if not os.path.exists(gitignore):
                    with open(gitignore, "w") as handle:
                        handle.write("# created by safestate-lint\n*\n")
            payload = json.dumps({"findings": [f.to_dict() for f in findings], "error": error}).encode()
            atomic_write(path, payload, durable=False)  # a lost entry is only a cache miss
        except OSError:
            pass  # a read-only tree still gets checked, just without a cache
