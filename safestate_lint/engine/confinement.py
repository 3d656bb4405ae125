"""Thread confinement a class declares by naming its thread-safe methods.

asyncio's event loop has `call_soon()` and `call_soon_threadsafe()`: the suffix marks the one
method other threads may call, and says the others run on the thread that owns the loop. Many
I/O loops follow it (`add_callback_threadsafe()`, `wake_threadsafe()`). A class that defines
(or inherits from a module base) a method named `*_threadsafe` / `*_thread_safe`, and does not
claim in its docstring to be safe for threads as a whole, confines the rest of its state to its
owner thread: two of its other methods never run at once. Its state is shared between threads
only where a thread-safe method touches it, directly or through the methods it calls; the
writes of the rest are not concurrent (the precision issue's "state an IO loop owns by
design").

:func:`owner_thread_state` names that confined state; the call graph (:mod:`.callers`) drops
its facts.
"""

from __future__ import annotations

import ast
import re
from typing import Dict, List, Set, Tuple

from safestate_lint.engine.bindings import ModuleBindings
from safestate_lint.engine.facts import FunctionInfo

__all__ = ["confined_key", "owner_thread_state", "thread_safe_method"]

_SUFFIXES = ("_threadsafe", "_thread_safe")
# the class itself says other threads may use it: then every method is an entry from any thread
_CLASS_CLAIM = re.compile(r"thread[- ]?safe|safe (?:to (?:use|call|share) )?(?:from|across|by|between|with) "
                          r"(?:multiple|many|several|any|other|different) threads")


def thread_safe_method(name: str) -> bool:
    """`call_soon_threadsafe`, `wake_threadsafe`: the name says other threads may call it."""
    return name.endswith(_SUFFIXES)


def _claims_thread_safety(cls: ast.ClassDef) -> bool:
    doc = " ".join((ast.get_docstring(cls) or "").lower().split())
    return bool(_CLASS_CLAIM.search(doc))


def _self_attrs(info: FunctionInfo) -> Set[str]:
    """Every `self.x` the function mentions (nested functions included: they close over `self`)."""
    return {node.attr for node in ast.walk(info.node) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == info.self_param}


def _touched_from(m: ModuleBindings, class_name: str, entries: List[FunctionInfo]) -> Set[str]:
    """The attributes the entries and the methods they call through `self` (transitively) mention."""
    touched: Set[str] = set()
    seen: Set[int] = set()
    queue = list(entries)
    while queue:
        info = queue.pop()
        if id(info) in seen or info.self_param is None:
            continue
        seen.add(id(info))
        names = _self_attrs(info)
        touched |= names
        for name in names:
            callee = m.method(class_name, name)
            if callee is not None and id(callee) not in seen:
                queue.append(callee)
    return touched


def owner_thread_state(m: ModuleBindings) -> Dict[str, Set[str]]:
    """Class -> the attributes no thread-safe method of a class that names its thread-safe methods
    touches: state its owner thread keeps to itself (empty when no class names any)."""
    if m._text is not None and "threadsafe" not in m._text and "thread_safe" not in m._text:
        return {}
    by_class: Dict[str, List[FunctionInfo]] = {}
    for info in m.functions:
        if info.class_name is not None and info.self_param is not None and thread_safe_method(info.name):
            by_class.setdefault(info.class_name, []).append(info)
    if not by_class:
        return {}
    confined: Dict[str, Set[str]] = {}
    for name, cls in m.classes.items():
        family = [name, *m.bases(name)]
        if any(_claims_thread_safety(m.classes[c]) for c in family if c in m.classes):
            continue
        entries = [info for c in family for info in by_class.get(c, ())]
        if not entries:
            continue
        touched = _touched_from(m, name, entries)
        confined[name] = _attributes_of(m, family) - touched
    return confined


def _attributes_of(m: ModuleBindings, family: List[str]) -> Set[str]:
    """Every attribute the family's methods mention through `self`."""
    found: Set[str] = set()
    for info in m.functions:
        if info.class_name in family and info.self_param is not None:
            found |= _self_attrs(info)
    return found


def confined_key(confined: Dict[str, Set[str]], key: Tuple[str, ...], m: ModuleBindings) -> bool:
    """Whether an object's state key (`("o", C, attr)`) belongs to its owner thread: C, or a module
    subclass of C, confines `attr`."""
    if key[0] not in ("i", "o") or len(key) < 3:
        return False
    owner, attr = key[1], key[2]
    candidates = [owner] + [name for name in confined if owner in m.bases(name)]
    relevant = [c for c in candidates if c in confined]
    return bool(relevant) and all(attr in confined[c] for c in relevant)
