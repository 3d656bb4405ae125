from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.rules.base import Report, Rule


class AwaitUnderThreadLock(Rule):
    """
    ## What it does
    Flags an `await`, `async for` or `async with` inside a `with` on a threading lock, in an
    `async def`.

    ## Why is this bad?
    The event loop runs every task on one thread. While this task waits at the `await`
    holding the thread lock, another task of the same loop that wants the lock blocks the
    whole loop, and the awaited work can never finish: the service deadlocks.

    ## Example
    ```python
    async def login(user):
        with _conn_lock:
            conn = await connect(user)
    ```

    ## Use instead
    An `asyncio.Lock` (`async with _conn_lock:`) when only coroutines of one loop share the
    state, or keep the `await` outside the thread lock.

    ## Fix
    With `--unsafe-fixes` only: a module-private `threading.Lock()` that nothing but `with`
    statements in coroutines takes becomes the runtime's `LoopLock()` (an asyncio lock made in
    each running loop: an `asyncio.Lock()` made at import time belongs to the first loop that
    waits on it), entered with `async with`.
    It is unsafe because it is correct only when those coroutines all run on one event loop
    (an `asyncio.Lock` does not exclude threads or other loops). A lock a thread also takes
    keeps the finding.

    ## Options
    `lock-names`.
    """

    code = "SST405"
    name = "await-under-thread-lock"
    summary = "an await runs while a threading lock is held"

    VALID = [
        "import asyncio\n_lock = asyncio.Lock()\nasync def f():\n    async with _lock:\n        await asyncio.sleep(0)\n",
        "import threading\n_lock = threading.Lock()\nasync def f(x):\n    with _lock:\n        y = x + 1\n    return y\n",
        # an awaited acquire() takes an event-loop lock
        "import asyncio\nasync def f(blocker):\n    lock = asyncio.Lock()\n    await lock.acquire()\n    try:\n"
        "        await blocker\n    finally:\n        lock.release()\n",
    ]
    INVALID = [
        "import asyncio, threading\n_lock = threading.Lock()\nasync def f():\n    with _lock:\n        await asyncio.sleep(0)  # SST405\n",
        "import threading\n_lock = threading.Lock()\nasync def f(rows):\n    with _lock:\n        async for row in rows:  # SST405\n            print(row)\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for held, node in m.lock_usage().awaits:
            yield node, (
                f"'{held.ident}' (a threading lock) is held across an await in '{held.func.qualname}()': the loop can hang"
                f"\nanother task of this event loop that needs it blocks the loop, and this one never resumes"
            ), None
