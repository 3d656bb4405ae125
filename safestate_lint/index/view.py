"""What one module learns from the rest of its project (the engine reads only this)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, NamedTuple, Tuple

SUMMARY_VERSION = 11  # the format of a module's summary (:mod:`.summary`) in the index cache
Summary = Dict[str, Any]


class ModuleView(NamedTuple):
    """What one module's analysis learns from the rest of the project."""

    shared: Dict[str, str] = {}  # class -> why its instance is shared (with where)
    thread_bases: Dict[str, Tuple[str, str, str]] = {}  # class -> (why, entry method, the one attribute or "")
    lock_bases: Dict[str, Dict[str, Tuple[str, bool]]] = {}  # class -> {lock attribute: (type, async)} from a base elsewhere
    containers: Dict[str, Tuple[str, str]] = {}  # local name -> (absolute name, type) of another module's container
    caller_locked: Dict[str, Tuple[str, ...]] = {}  # function -> the locks every caller elsewhere holds
    base_attrs: Dict[str, Dict[str, Tuple[str, str]]] = {}  # class -> {attribute: (kind, type)} its bases elsewhere set
    module_only: Tuple[str, ...] = ()  # function and method names no other module of the program uses
    blocking: Dict[str, str] = {}  # a callee as written here (`net.fetch`, `fetch`) -> the blocking call it reaches

    def empty(self) -> bool:
        return not any(self)

    def fingerprint(self) -> str:
        if self.empty():
            return ""
        return hashlib.blake2b(json.dumps(self, sort_keys=True).encode(), digest_size=12).hexdigest()


EMPTY_VIEW = ModuleView()
