from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.rules.base import Report, Rule


class LockCreatedPerCall(Rule):
    """
    ## What it does
    Flags a lock, RLock, condition or semaphore that is created anew on every call: made in
    the `with` itself (`with threading.Lock():`), or bound to a local of the function that
    never leaves it. The code under such a lock counts as unlocked for every other rule.

    ## Why is this bad?
    Each call locks its own new lock, which no other thread ever sees: the lock excludes
    nothing, and the read-modify-write it seems to protect still loses updates. pylint's
    `useless-with-lock` (W2101) finds the first form only.

    ## Example
    ```python
    def add(k, n):
        with threading.Lock():
            _totals[k] = _totals.get(k, 0) + n
    ```

    ## Use instead
    ```python
    _totals_lock = threading.Lock()

    def add(k, n):
        with _totals_lock:
            _totals[k] = _totals.get(k, 0) + n
    ```

    ## Fix
    `safestate-lint fix` hoists it: one module-level lock, created once and named after the
    state the region writes (`with threading.Lock():` -> `with _totals_lock:`, a local
    `lock = threading.RLock()` -> `lock = _count_lock`). It is an `RLock` when the region
    calls code, and the region is left alone when it yields, awaits or makes a blocking call.

    ## Options
    `lock-names`.
    """

    code = "SST401"
    name = "lock-created-per-call"
    summary = "a lock is created on every call, so it excludes nothing"
    fixable = True

    VALID = [
        "import threading\n_lock = threading.Lock()\ndef f():\n    with _lock:\n        pass\n",
        "import threading\ndef make():\n    lock = threading.Lock()\n    return lock\n",
        "import threading\nclass C:\n    def __init__(self):\n        self._lock = threading.Lock()\n    def f(self):\n        with self._lock:\n            pass\n",
        "import threading\ndef run(worker):\n    lock = threading.Lock()\n    worker(lock)\n    with lock:\n        pass\n",
        # a nested function another thread runs shares the lock
        "import threading\ndef run():\n    lock = threading.Lock()\n    def work():\n        with lock:\n            pass\n"
        "    t = threading.Thread(target=work)\n    t.start()\n    with lock:\n        pass\n    t.join()\n",
    ]
    INVALID = [
        "import threading\n_totals = {}\ndef add(k, n):\n    with threading.Lock():  # SST401\n        _totals[k] = _totals.get(k, 0) + n  # SST101\n",
        "import threading\n_n = 0\ndef inc():\n    global _n\n    lock = threading.RLock()\n    with lock:  # SST401\n        _n += 1  # SST101\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for func, node, how in m.lock_usage().per_call:
            yield node, f"a lock made anew on every call excludes nothing: {how}", None
