from __future__ import annotations

import ast

from typing import Iterator, Set, Tuple

from safestate_lint.engine.analysis import ModuleAnalysis, SharedKey
from safestate_lint.engine.facts import Act
from safestate_lint.engine.syntax import dotted_name, inside
from safestate_lint.rules.base import Report, Rule, container_word, once_per, shared_name, where


class SharedContainerCheckThenAct(Rule):
    """
    ## What it does
    Flags a test of a shared container (membership `k in d`, `d.get(k) is None`, `len(d)`,
    truthiness) followed by a mutation that depends on it, when the test and the mutation
    are not under one acquisition of a lock: no lock at all, a lock taken only after the
    test, or a test inside a lock whose result is acted on after the lock is released.
    The runtime's `LockedDict`/`LockedList`/`LockedSet` are included: each operation is
    atomic, but two operations are not. A lookup in `try:` whose `except KeyError:` (or
    `LookupError`, alone or in a tuple) stores the missing entry, in the handler or after
    it, is the same test; so is a loop over a copy (`for k in list(d):`) whose body removes
    what it found (`del d[k]`, `d.pop(k)`, `lst.remove(x)`: they raise when another thread
    removed it first); `sys.modules` used as a cache (`if name in sys.modules: return
    sys.modules[name]` ... `sys.modules[name] = module`) is a shared dict too.

    ## Why is this bad?
    Between the test and the act another thread can make the test false: two threads both
    see the key missing and both compute and store it (the second overwrites the first),
    or both see it present and the second `del` raises `KeyError`.

    ## Example
    ```python
    _cache = {}

    def get(key):
        if key not in _cache:
            _cache[key] = compute(key)
        return _cache[key]
    ```

    ## Use instead
    ```python
    from safestate_lint.runtime import LockedDict

    _cache = LockedDict()

    def get(key):
        return _cache.get_or_create(key, lambda: compute(key))
    ```
    `get_or_create` is a per-key single flight: the first caller of a missing key builds it
    with no lock held, callers of the same key wait for that one build, callers of other keys
    never wait, and a failed build stores nothing. Or hold one lock across the test and the
    act (cheap when building the value calls no code).

    ## Fix
    `safestate-lint fix` rewrites a private module dict filled on a miss by calling code, in
    the exact shapes `if k not in d: d[k] = build(k)` (then `return d[k]`), `if k in d: return
    d[k]` ... `d[k] = build(k); return d[k]`, and `try: return d[k]` / `except KeyError:`
    building, storing and returning it (also through one local), to a `LockedDict` and
    `return d.get_or_create(k, lambda: build(k))`. Otherwise it puts the test and the act
    under one lock (the container's own `lock` for a runtime container, else a module-level
    `threading.Lock()`), taken only on a miss when the act is a slow creation; when neither
    applies, the reason names what kept single flight out (a key computed by a call,
    statements between the test and the store, a `.get()` test, an `async def`, ...).

    ## Options
    `lock-names`, `synchronized-decorators`, `thread-safe-types`.
    """

    code = "SST103"
    name = "shared-container-check-then-act"
    summary = "a shared container is tested and then mutated without one lock"
    fixable = True

    VALID = [
        "import threading\n_cache = {}\n_lock = threading.Lock()\ndef get(k):\n    with _lock:\n        if k not in _cache:\n            _cache[k] = 1\n        return _cache[k]\n",
        "import threading\n_cache = {}\n_lock = threading.Lock()\ndef get(k):\n    if k not in _cache:\n        with _lock:\n            if k not in _cache:\n                _cache[k] = 1\n    return _cache[k]\n",
        "_cache = {}\ndef get(k):\n    if k in _cache:\n        return _cache[k]\n    return None\n",
        "def f(d, k):\n    if k not in d:\n        d[k] = 1\n",
        "from safestate_lint.runtime import LockedDict\n_c = LockedDict()\ndef get(k):\n    with _c.lock:\n        if k not in _c:\n            _c[k] = 1\n",
        "import sys\ndef install(m):\n    sys.modules['plugins'] = m\n",
        # a loop over a copy whose removal cannot fail
        "_conns = {}\ndef sweep():\n    for k in list(_conns):\n        if k.closed:\n            try:\n"
        "                del _conns[k]\n            except KeyError:\n                pass\n",
        "_conns = {}\ndef sweep():\n    for k in list(_conns):\n        if k.closed:\n            _conns.pop(k, None)\n",
    ]
    INVALID = [
        "_cache = {}\ndef get(k):\n    if k not in _cache:  # SST103\n        _cache[k] = k * 2\n    return _cache[k]\n",
        "_cache = {}\ndef get(k):\n    v = _cache.get(k)\n    if v is None:  # SST103\n        v = _cache[k] = object()\n    return v\n",
        "_queue = []\ndef pop():\n    if len(_queue) > 0:  # SST103\n        return _queue.pop()\n",
        "_cache = {}\ndef load():\n    if not _cache:  # SST103\n        _cache.update({'a': 1})\n",
        "import threading\n_lock = threading.Lock()\n_cache = {}\ndef get(k):\n    with _lock:\n        exists = k in _cache\n    if not exists:  # SST103\n        _cache[k] = 1\n",
        "import threading\n_lock = threading.Lock()\n_cache = {}\ndef get(k):\n    if k not in _cache:  # SST103\n        with _lock:\n            _cache[k] = 1\n",
        "from safestate_lint.runtime import LockedDict\n_c = LockedDict()\ndef drop(k):\n    if k in _c:  # SST103\n        del _c[k]\n",
        "from safestate_lint.runtime import LockedDict\n_c = LockedDict()\ndef get(k):\n    try:  # SST103\n        return _c[k]\n    except KeyError:\n        _c[k] = object()\n        return _c[k]\n",
        "_conns = {}\ndef sweep():\n    for k in list(_conns):  # SST103\n        if k.closed:\n            del _conns[k]\n",
        'import sys, importlib\ndef load(name):\n    if name in sys.modules:  # SST103\n        return sys.modules[name]\n    m = importlib.import_module(name)\n    sys.modules[name] = m\n    return m\n',
        '_fns = {}\ndef get(k):\n    try:  # SST103\n        return _fns[k]\n    except (KeyError, TypeError):\n        pass\n    v = _fns[k] = object()\n    return v\n',
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        lazy_rebinds: Set[Tuple[int, SharedKey]] = {
            (id(a.check.site), a.key) for a in m.acts
            if a.kind == "rebind" and a.check is not None and a.key in a.check.lazy_keys
        }
        for act in once_per(m.acts, lambda a: (id(a.check.site) if a.check else 0, a.key)):
            check = act.check
            if act.key[0] not in ("g", "i") or act.kind != "mutate" or check is None:
                continue
            binding = m.binding_of(act.key)
            if binding is None or not binding.is_container_like:
                continue
            if (id(check.site), act.key) in lazy_rebinds or check.shares_lock_with(act.locks):
                continue
            if isinstance(check.site, (ast.For, ast.AsyncFor)) and not _fails_when_gone(act):
                continue  # a loop over a copy, then a write that a vanished element cannot break
            tested = "is copied for a loop" if isinstance(check.site, (ast.For, ast.AsyncFor)) else "is tested"
            yield check.site, (
                f"{shared_name(m, act)} ({container_word(m, act)}) {tested} and then mutated ({act.detail}) "
                f"{where(act)} without one lock held across both"
            ), act


def _fails_when_gone(act: Act) -> bool:
    """`del X[k]`, `X.remove(v)`, `X.pop(k)` (no default): raises when another thread removed it,
    unless a `try` around it catches that (`except KeyError: pass`)."""
    node = act.node
    if not (act.detail == "del" or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
            node.func.attr == "remove" or (node.func.attr == "pop" and len(node.args) == 1 and not node.keywords)))):
        return False
    for outer in ast.walk(act.func.node):
        if isinstance(outer, ast.Try) and any(inside(act.stmt, stmt) for stmt in outer.body):
            caught = {dotted_name(t) if t is not None else None for h in outer.handlers for t in
                      (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type])} if outer.handlers else set()
            if None in caught or caught & {"KeyError", "ValueError", "LookupError", "Exception", "BaseException"}:
                return False
    return True
