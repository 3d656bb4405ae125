from __future__ import annotations

import ast
from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.rules.base import Report, Rule


class AcquireWithoutRelease(Rule):
    """
    ## What it does
    Flags `lock.acquire()` written as a statement that is not followed by
    `try: ... finally: lock.release()` when a path can skip the release: an early `return`, a
    `raise`, a `break` or `continue`, a `yield` or an `await` between the acquire and the
    release. A timed or non-blocking `acquire(...)` whose result is ignored is always
    reported: after a timeout the code runs without the lock and `release()` raises.

    A function that never releases the lock it acquires holds it on purpose (a hand-off to
    another thread, the re-acquire after a condition wait, a lock held for the process's
    life) and is not reported; nor is a straight run of statements that cannot leave early.

    ## Why is this bad?
    The next caller waits for the lock forever: one exception in a request handler turns
    into a service that hangs on its next request.

    ## Example
    ```python
    def put(k, v):
        _lock.acquire()
        if k in _seen:
            raise KeyError(k)
        _seen[k] = v
        _lock.release()
    ```

    ## Use instead
    ```python
    def put(k, v):
        with _lock:
            if k in _seen:
                raise KeyError(k)
            _seen[k] = v
    ```

    ## Fix
    `safestate-lint fix` rewrites `x.acquire(); ...; x.release()` in one block to `with x:`.
    `acquire(timeout=...)` and `acquire(blocking=False)` keep the finding: their result
    decides what happens next.

    ## Options
    `lock-names`.

    An `acquire()` that another function of the module releases (`__enter__` and `__exit__`,
    `lock()` and `unlock()`) is a protocol split on purpose and is not reported.
    """

    code = "SST402"
    name = "acquire-without-release"
    summary = "acquire() is not released in a finally on every path"
    fixable = True

    VALID = [
        "import threading\n_lock = threading.Lock()\n_jobs = []\ndef f(job):\n    _lock.acquire()\n    _jobs.append(job)\n"
        "    _lock.release()\n",
        "import threading\n_ready = threading.Lock()\ndef hold_until_exit():\n    _ready.acquire()\n",
        "import threading\n_lock = threading.Lock()\ndef f():\n    _lock.acquire()\n    try:\n        pass\n    finally:\n        _lock.release()\n",
        "import threading\n_lock = threading.Lock()\ndef f():\n    if _lock.acquire(blocking=False):\n        try:\n            pass\n        finally:\n            _lock.release()\n",
        "class Pool:\n    def acquire(self):\n        pass\ndef f(p):\n    p.acquire()\n",
        # released in a `finally` on one branch, plainly on the other
        "import threading\n_lock = threading.Lock()\n_n = [0]\ndef f(wake):\n    _lock.acquire()\n    _n[0] -= 1\n"
        "    if wake:\n        try:\n            wake()\n        finally:\n            _lock.release()\n        return\n"
        "    _lock.release()\n",
        # wait until the lock is free: nothing between acquire and release can raise
        "import threading\n_wakeup = threading.Lock()\ndef wait():\n    _wakeup.acquire()\n    _wakeup.release()\n",
        # a protocol split on purpose: `__exit__` releases what `__enter__` acquired
        "import threading\nclass Guard:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "    def __enter__(self):\n        self._lock.acquire()\n        return self\n"
        "    def __exit__(self, *exc):\n        self._lock.release()\n",
    ]
    INVALID = [
        "import threading\n_lock = threading.Lock()\n_seen = {}\ndef put(k, v):\n    _lock.acquire()  # SST402\n    if k in _seen:\n        raise KeyError(k)\n    _seen[k] = v\n    _lock.release()\n",
        "import threading\n_lock = threading.Lock()\n_jobs = []\ndef f(job):\n    _lock.acquire(timeout=1)  # SST402\n    _jobs.append(job)\n    _lock.release()\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for item in m.lock_usage().unreleased:
            name = ast.unparse(item.target)
            later = "" if item.release is not None else f"; nothing in '{item.func.qualname}()' releases it here"
            yield item.stmt, (
                f"'{name}.acquire()' in '{item.func.qualname}()' is not released in a `finally`"
                f"\na return, raise or exception before the release leaves '{name}' held{later}"
            ), None
