from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.rules.base import Report, Rule


class BlockingCallUnderLock(Rule):
    """
    ## What it does
    Flags a call that can block for a long time while a threading lock is held: sleeping,
    network clients (`requests`, `httpx`, `urllib`, `urllib3`, `http.client`, sockets, and
    `get`/`post`/... on a client or session object), `subprocess`, `Thread.join`,
    `Future.result`, `Event.wait`, `input()`; directly, or in a function the locked region
    calls (through the module's call graph). `blocking-calls` adds names.

    ## Why is this bad?
    Every other thread that needs the lock waits for the slow call too: one slow HTTP
    request under the cache lock serialises every request of the service, and a call that
    never returns holds the lock forever.

    ## Example
    ```python
    def refresh(key):
        with _cache_lock:
            _cache[key] = requests.get(URL + key).json()
    ```

    ## Use instead
    ```python
    def refresh(key):
        value = requests.get(URL + key).json()
        with _cache_lock:
            _cache[key] = value
    ```

    ## Fix
    No automatic fix: moving the call out of the lock changes what the lock protects.

    ## Options
    `lock-names`, `blocking-calls`.
    """

    code = "SST404"
    name = "blocking-call-under-lock"
    summary = "a blocking call is made while a lock is held"

    VALID = [
        "import threading, time\n_lock = threading.Lock()\ndef f():\n    time.sleep(1)\n    with _lock:\n        pass\n",
        "import asyncio\n_lock = asyncio.Lock()\nasync def f():\n    async with _lock:\n        await asyncio.sleep(1)\n",
    ]
    INVALID = [
        "import threading, time\n_lock = threading.Lock()\ndef f():\n    with _lock:\n        time.sleep(1)  # SST404\n",
        "import threading, subprocess\n_lock = threading.Lock()\ndef _run():\n    subprocess.run(['ls'])\ndef f():\n    with _lock:\n        _run()  # SST404\n",
        "import threading\nimport requests\n_lock = threading.Lock()\n_cache = {}\ndef f(k):\n    with _lock:\n        _cache[k] = requests.get(k)  # SST404\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        seen = set()
        for blocking in m.lock_usage().blocking:
            key = (id(blocking.node), blocking.call)
            if key in seen:
                continue
            seen.add(key)
            held = blocking.held
            yield blocking.node, (
                f"{blocking.call} can block while '{held.ident}' is held in '{held.func.qualname}()': "
                f"every thread that needs '{held.ident}' waits for it"
            ), None
