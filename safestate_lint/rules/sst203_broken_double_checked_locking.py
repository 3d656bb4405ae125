from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.shapes import early_publish, has_unlocked_fast_path
from safestate_lint.rules.base import Report, Rule, lazy_inits, where


class BrokenDoubleCheckedLocking(Rule):
    """
    ## What it does
    Flags lazy initialisation (of a module global or a class attribute) that takes a lock
    but does not protect the check-then-act: the test is made before the lock is taken and
    not repeated inside it, or the only lock is an `asyncio.Lock` (or another task-only
    lock) while the module also runs threads (`threading`, `concurrent.futures`,
    `asyncio.to_thread`, `run_in_executor`).

    It also flags double-checked locking that publishes the object before it is ready:
    the shared name is bound first and the object is finished after
    (`_m = Manager(); _m.validate()`, or a table bound and then filled in a loop).

    ## Why is this bad?
    Two threads both pass the outer test, then take the lock one after the other, and each
    creates the object: the lock only serialises the two creations. An `asyncio.Lock`
    excludes the tasks of one event loop, not threads, and is not even safe to share
    between loops.

    ## Example
    ```python
    def get():
        global _x
        if _x is None:
            with _lock:
                _x = make()
        return _x
    ```

    ## Use instead
    ```python
    def get():
        global _x
        if _x is None:
            with _lock:
                if _x is None:
                    _x = make()
        return _x
    ```

    A thread that finds the name already bound skips the lock and uses a half-built
    object (about 140 of 180 calls saw an unvalidated manager in our reproduction).

    ## Fix
    `safestate-lint fix` adds the inner test (re-reading the shared name) inside the lock,
    and replaces a task-only lock reached by threads with a `threading.Lock()` when no
    `await` sits inside the critical section. An early publish is rebuilt into a local
    that is published last (`m = Manager(); m.validate(); _m = m`).

    ## Options
    `lock-names`, `synchronized-decorators`.
    """

    code = "SST203"
    name = "broken-double-checked-locking"
    summary = "a lock is taken after the check and the check is not repeated inside it"
    fixable = True

    VALID = [
        "import threading\n_x = None\n_lock = threading.Lock()\ndef get():\n    global _x\n    if _x is None:\n        with _lock:\n            if _x is None:\n                _x = object()\n    return _x\n",
        "import asyncio\n_m = None\n_lock = asyncio.Lock()\nasync def get():\n    global _m\n    async with _lock:\n        if _m is None:\n            _m = object()\n    return _m\n",
        "import threading\n_m = None\n_lock = threading.Lock()\ndef get():\n    global _m\n    if _m is None:\n        with _lock:\n            if _m is None:\n                m = dict()\n                m.update(a=1)\n                _m = m\n    return _m\n",
        "import threading\n_m = None\n_lock = threading.Lock()\ndef get():\n    global _m\n    with _lock:\n        if _m is None:\n            _m = dict()\n            _m.update(a=1)\n        return _m\n",
    ]
    INVALID = [
        "import threading\n_x = None\n_lock = threading.Lock()\ndef get():\n    global _x\n    if _x is None:  # SST203\n        with _lock:\n            _x = object()\n    return _x\n",
        "import threading\nclass C:\n    _i = None\n    _lock = threading.Lock()\n    @classmethod\n    def get(cls):\n        if cls._i is None:  # SST203\n            with cls._lock:\n                cls._i = cls()\n        return cls._i\n",
        "import asyncio, threading\n_m = None\n_lock = asyncio.Lock()\nasync def get():\n    global _m\n    if _m is None:\n        async with _lock:\n            if _m is None:  # SST203\n                _m = object()\n    return _m\n",
        "import threading\n_m = None\n_lock = threading.Lock()\ndef get():\n    global _m\n    if _m is None:\n        with _lock:\n            if _m is None:\n                _m = dict()  # SST203\n                _m.update(a=1)\n    return _m\n",
        "import threading\n_t = None\n_lock = threading.Lock()\ndef table():\n    global _t\n    if _t is not None:\n        return _t\n    with _lock:\n        if _t is None:\n            _t = [None] * 256  # SST203\n            for i, c in enumerate(b'abc'):\n                _t[c] = i\n    return _t\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for act, status in lazy_inits(m):
            assert act.check is not None
            if status == "no-recheck":
                yield act.check.site, (
                    f"'{m.describe(act.key)}' is tested before the lock is taken and not tested again "
                    f"inside it {where(act)}; two threads can both initialise it"
                ), act
            elif status == "async-lock":
                yield act.check.site, (
                    f"'{m.describe(act.key)}' is guarded {where(act)} by an asyncio-style lock, "
                    f"which cannot exclude the threads this module runs"
                ), act
        for act in m.acts:
            if act.locks and m.lazy_init_status(act) is None and early_publish(act) is not None \
                    and has_unlocked_fast_path(act):
                yield act.stmt, (
                    f"'{m.describe(act.key)}' is published {where(act)} before its initialisation finishes; "
                    f"a thread that finds it set outside the lock uses it half-built"
                ), act
