"""CPython's atomicity guarantees for operations on builtin containers, as data.

One entry per (exact type, operation): whether one call is atomic with respect to other
threads on the GIL build and on the free-threaded build, what goes wrong when it is not, and
where CPython says so.  Rules ask :func:`guarantee`; nobody hard-codes a list.

"Atomic" here means what CPython's "Thread Safety Guarantees" page means: the operation
appears to happen at once to every other thread, and it does not corrupt the container.  It
does not make a *sequence* of operations atomic: `if k in d: del d[k]`, `d[k] = d[k] + 1` and
iteration while another thread inserts are races whatever the table says (SST101, SST103,
SST104 report them).

Sources (cited by key in each entry):

* ``threadsafety-list``: https://docs.python.org/3/library/threadsafety.html#thread-safety-list
* ``threadsafety-dict``: https://docs.python.org/3/library/threadsafety.html#thread-safety-dict
* ``howto``: https://docs.python.org/3/howto/free-threading-python.html ("Built-in types like
  dict, list, and set use internal locks to protect against concurrent modifications in ways
  that behave similarly to the GIL")
* ``deque``: https://docs.python.org/3/library/collections.html#collections.deque ("Deques
  support thread-safe, memory efficient appends and pops from either side")
* ``python-impl``: the type (or the method) is written in Python in the standard library
  (``Lib/collections/__init__.py``, ``Lib/weakref.py``, ``Lib/heapq.py`` fallbacks ...): a
  thread can switch between its bytecodes on either build.
* ``missing``: ``defaultdict.__missing__`` calls the factory and stores its result in two
  steps (``Modules/_collectionsmodule.c``, ``defdict_missing``); with the GIL the two steps
  run without a switch when the factory is a builtin type, without it two threads can both
  create the entry and one of them writes into a container nobody keeps.
* ``undocumented``: no build documents the operation as atomic; it is implemented in C and
  does not release the GIL, so it is atomic with the GIL only.
* ``listiter``: ``Objects/listobject.c`` ``listiter_next`` reads the length again at every step
  and appends never move an element (made safe on the free-threaded build by gh-115999,
  "should behave like iteration normally does"): an iteration that meets appends sees the list
  as it was at one moment, with or without the new elements.

Iteration is a sequence of reads, never atomic; whether a concurrent write *tears* it (raises,
skips or repeats an element, or returns a state the container never had) is data too:
:func:`tears_iteration`.
"""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

__all__ = ["Build", "Guarantee", "guarantee", "lone_guarantee", "operation_of", "tears_iteration", "SOURCES", "TABLE",
           "ITERATION_SAFE"]


class Build(enum.Enum):
    GIL = "gil"
    FREE_THREADED = "free-threaded"


SOURCES: Dict[str, str] = {
    "threadsafety-list": "https://docs.python.org/3/library/threadsafety.html#thread-safety-list",
    "threadsafety-dict": "https://docs.python.org/3/library/threadsafety.html#thread-safety-dict",
    "howto": "https://docs.python.org/3/howto/free-threading-python.html",
    "deque": "https://docs.python.org/3/library/collections.html#collections.deque",
    "python-impl": "the standard library implements it in Python",
    "missing": "Modules/_collectionsmodule.c defdict_missing: factory call and store are two steps",
    "undocumented": "not documented as atomic; a C call that keeps the GIL",
    "listiter": "Objects/listobject.c listiter_next re-reads the length; appends move no element (gh-115999)",
}


@dataclass(frozen=True)
class Guarantee:
    """What CPython promises for one operation on one exact builtin type."""

    type_name: str
    operation: str  # "setitem", "delitem", "getitem-missing", or a method name ("append", "pop()", "pop(i)")
    gil: bool  # atomic on the GIL build
    free_threaded: bool  # atomic on the free-threaded build
    consequence: str  # what goes wrong when it is not atomic (empty when atomic on both)
    source: str  # a key of SOURCES
    condition: str = ""  # what the guarantee needs, e.g. "keys with builtin __hash__/__eq__"

    def atomic_on(self, build: Build) -> bool:
        return self.gil if build is Build.GIL else self.free_threaded

    @property
    def atomic(self) -> bool:
        """Atomic on every build (the linter's default: code must be right on 3.13t too)."""
        return self.gil and self.free_threaded


_BUILTIN_KEYS = "keys with builtin __hash__/__eq__ (str, int, float, bytes, tuples of them)"
_BOTH = (True, True)
_GIL_ONLY = (True, False)
_NEITHER = (False, False)

# (type, operation) -> (gil, free_threaded, consequence, source, condition)
_ENTRIES: Dict[Tuple[str, str], Tuple[Tuple[bool, bool], str, str, str]] = {
    # -- dict -------------------------------------------------------------
    ("dict", "setitem"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("dict", "delitem"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("dict", "pop"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("dict", "popitem"): (_BOTH, "", "threadsafety-dict", ""),
    ("dict", "setdefault"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("dict", "clear"): (_BOTH, "", "threadsafety-dict", ""),
    ("dict", "update"): (_BOTH, "", "threadsafety-dict", "the dict itself; a non-dict argument may change meanwhile"),
    ("dict", "copy"): (_BOTH, "", "threadsafety-dict", ""),
    # -- dict subclasses of the standard library ---------------------------
    ("defaultdict", "setitem"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("defaultdict", "delitem"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("defaultdict", "pop"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("defaultdict", "popitem"): (_BOTH, "", "threadsafety-dict", ""),
    ("defaultdict", "setdefault"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("defaultdict", "clear"): (_BOTH, "", "threadsafety-dict", ""),
    ("defaultdict", "update"): (_BOTH, "", "threadsafety-dict", ""),
    ("defaultdict", "getitem-missing"): (
        _GIL_ONLY, "two threads can both create a missing entry and one write is lost", "missing",
        "a builtin factory (list, dict, set, int)"),
    ("OrderedDict", "setitem"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("OrderedDict", "delitem"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("OrderedDict", "pop"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("OrderedDict", "popitem"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("OrderedDict", "move_to_end"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("OrderedDict", "setdefault"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("OrderedDict", "clear"): (_GIL_ONLY, "the order links can tear", "undocumented", ""),
    ("Counter", "setitem"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("Counter", "delitem"): (_NEITHER, "it tests, then deletes: a delete between them raises KeyError", "python-impl", ""),
    ("Counter", "update"): (_NEITHER, "concurrent updates lose counts", "python-impl", ""),
    ("Counter", "subtract"): (_NEITHER, "concurrent updates lose counts", "python-impl", ""),
    ("Counter", "pop"): (_BOTH, "", "threadsafety-dict", _BUILTIN_KEYS),
    ("Counter", "clear"): (_BOTH, "", "threadsafety-dict", ""),
    # -- list -------------------------------------------------------------
    ("list", "setitem"): (_BOTH, "", "threadsafety-list", "a single index"),
    ("list", "append"): (_BOTH, "", "threadsafety-list", ""),
    ("list", "pop()"): (_BOTH, "", "threadsafety-list", "no index, or the last one"),
    ("list", "clear"): (_BOTH, "", "threadsafety-list", ""),
    ("list", "extend"): (_BOTH, "", "threadsafety-list", "a list, tuple, set, frozenset or dict argument"),
    ("list", "copy"): (_BOTH, "", "threadsafety-list", ""),
    ("list", "insert"): (_GIL_ONLY, "readers without the lock can see elements mid-shift", "threadsafety-list", ""),
    ("list", "pop(i)"): (_GIL_ONLY, "readers without the lock can see elements mid-shift", "threadsafety-list", ""),
    ("list", "delitem"): (_GIL_ONLY, "readers without the lock can see elements mid-shift", "threadsafety-list", ""),
    ("list", "remove"): (_GIL_ONLY, "the list can change while elements are compared", "threadsafety-list",
                         "builtin elements"),
    ("list", "reverse"): (_GIL_ONLY, "readers without the lock can see a half-reversed list", "threadsafety-list", ""),
    ("list", "sort"): (_NEITHER, "other threads see an empty list while it sorts", "threadsafety-list", ""),
    ("list", "iadd"): (_BOTH, "", "threadsafety-list", "a list, tuple, set, frozenset or dict operand"),
    ("bytearray", "append"): (_GIL_ONLY, "not documented as atomic", "undocumented", ""),
    ("bytearray", "extend"): (_GIL_ONLY, "not documented as atomic", "undocumented", ""),
    ("bytearray", "setitem"): (_GIL_ONLY, "not documented as atomic", "undocumented", ""),
    ("bytearray", "iadd"): (_GIL_ONLY, "not documented as atomic", "undocumented", ""),
    ("bytearray", "clear"): (_GIL_ONLY, "not documented as atomic", "undocumented", ""),
    # -- set --------------------------------------------------------------
    ("set", "add"): (_BOTH, "", "howto", _BUILTIN_KEYS),
    ("set", "discard"): (_BOTH, "", "howto", _BUILTIN_KEYS),
    ("set", "remove"): (_BOTH, "", "howto", _BUILTIN_KEYS),
    ("set", "pop()"): (_BOTH, "", "howto", ""),
    ("set", "clear"): (_BOTH, "", "howto", ""),
    ("set", "update"): (_BOTH, "", "howto", "the set itself; a non-set argument may change meanwhile"),
    ("set", "difference_update"): (_BOTH, "", "howto", ""),
    ("set", "intersection_update"): (_BOTH, "", "howto", ""),
    ("set", "symmetric_difference_update"): (_BOTH, "", "howto", ""),
    ("set", "copy"): (_BOTH, "", "howto", ""),
    # -- deque ------------------------------------------------------------
    ("deque", "append"): (_BOTH, "", "deque", ""),
    ("deque", "appendleft"): (_BOTH, "", "deque", ""),
    ("deque", "pop()"): (_BOTH, "", "deque", ""),
    ("deque", "popleft"): (_BOTH, "", "deque", ""),
    # -- weak containers: Python classes over a dict -----------------------
    ("WeakValueDictionary", "setitem"): (_NEITHER, "a collected value's callback can remove the new entry",
                                         "python-impl", ""),
    ("WeakKeyDictionary", "setitem"): (_NEITHER, "a collected key's callback can remove the new entry",
                                       "python-impl", ""),
    # -- functions that mutate their first argument ------------------------
    ("list", "heapq.heappush"): (_GIL_ONLY, "the heap invariant can break between sift steps", "undocumented",
                                 "builtin elements"),
    ("list", "heapq.heappop"): (_GIL_ONLY, "the heap invariant can break between sift steps", "undocumented",
                                "builtin elements"),
    ("list", "heapq.heapreplace"): (_GIL_ONLY, "the heap invariant can break between sift steps", "undocumented",
                                    "builtin elements"),
    ("list", "heapq.heappushpop"): (_GIL_ONLY, "the heap invariant can break between sift steps", "undocumented",
                                    "builtin elements"),
    ("list", "heapq.heapify"): (_GIL_ONLY, "the heap invariant can break between sift steps", "undocumented",
                                "builtin elements"),
    ("list", "bisect.insort"): (_NEITHER, "the position is found, then the list changes, then it is inserted",
                                "threadsafety-list", ""),
    ("list", "bisect.insort_left"): (_NEITHER, "the position is found, then the list changes, then it is inserted",
                                     "threadsafety-list", ""),
    ("list", "bisect.insort_right"): (_NEITHER, "the position is found, then the list changes, then it is inserted",
                                      "threadsafety-list", ""),
    ("list", "random.shuffle"): (_NEITHER, "readers see a half-shuffled list", "python-impl", ""),
}

TABLE: Dict[Tuple[str, str], Guarantee] = {
    key: Guarantee(key[0], key[1], builds[0], builds[1], consequence, source, condition)
    for key, (builds, consequence, source, condition) in _ENTRIES.items()
}


def guarantee(type_name: str, operation: str) -> Optional[Guarantee]:
    """The entry for one operation on one exact type, or None when CPython promises nothing
    (a user type, a subclass, an operation the table does not list): not atomic."""
    return TABLE.get((type_name, operation))


_DICTS = frozenset({"dict", "defaultdict", "OrderedDict", "Counter"})
_FUNCTIONS = {op.rsplit(".", 1)[-1]: op for _, op in TABLE if "." in op}


def operation_of(node: ast.AST, detail: str, type_name: str) -> str:
    """The table's name for the write at `node` (an assignment target, or a call) on a
    container of `type_name`: "setitem", "delitem", "item-rmw", a method name, "pop()" (the
    last element) and "pop(i)", or a qualified function name ("heapq.heappush")."""
    if detail == "item assignment":
        return "setitem"
    if detail == "del":
        return "delitem"
    if detail == "augmented assignment":
        return "item-rmw"  # `X[k] += 1`: a read-modify-write, never atomic
    if detail == "attribute assignment":
        return "setattr"
    if detail == "+= (in place)":
        return "iadd"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and detail.startswith("."):
        method = node.func.attr
        if method == "pop":
            if type_name in _DICTS:
                return "pop"
            last = not node.args or (isinstance(node.args[0], ast.UnaryOp) and isinstance(node.args[0].op, ast.USub)
                                     and isinstance(node.args[0].operand, ast.Constant)
                                     and node.args[0].operand.value == 1)
            return "pop()" if last else "pop(i)"
        return method
    name = detail[:-2] if detail.endswith("()") else detail
    return _FUNCTIONS.get(name.rsplit(".", 1)[-1], name)


def lone_guarantee(type_name: str, operation: str) -> Optional[Guarantee]:
    """`guarantee`, and for a container of unknown type held inside a shared one (`X[k].append(v)`)
    the guarantee the builtin types that have the operation agree on."""
    if type_name:
        return guarantee(type_name, operation)
    found = [entry for name in ("dict", "list", "set") if (entry := guarantee(name, operation)) is not None]
    if not found:
        return None
    return min(found, key=lambda entry: (entry.gil and entry.free_threaded, entry.gil))


# (type, operation) -> source: writes a concurrent iteration of the same container survives intact
# (it sees the container as it was at one moment); every other write can tear it
ITERATION_SAFE: Dict[Tuple[str, str], str] = {
    ("list", "append"): "listiter",
    ("list", "extend"): "listiter",
    ("list", "iadd"): "listiter",
}


def tears_iteration(type_name: str, operation: str) -> bool:
    """Whether a write can tear an iteration of the same container that runs meanwhile: it can,
    unless the write changes no container at all (`X[k].attr = v` sets an attribute of an
    element) or the table says the iteration survives it (appending to a list)."""
    if operation == "setattr":
        return False
    return (type_name, operation) not in ITERATION_SAFE
