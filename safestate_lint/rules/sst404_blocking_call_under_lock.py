from __future__ import annotations

from typing import Dict, Iterator, List

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.locking import Blocking
from safestate_lint.rules.base import Report, Rule


class BlockingCallUnderLock(Rule):
    """
    ## What it does
    Flags a call that can block for a long time while a threading lock is held: sleeping,
    network clients (`requests`, `httpx`, `urllib`, `urllib3`, `http.client`, sockets, and
    `get`/`post`/... on a client or session object), `subprocess`, `Thread.join`,
    `Future.result`, `Event.wait`, `input()`; directly, or in a function the locked region
    calls (through the module's call graph). `blocking-calls` adds names.

    It is reported only when another function of the module takes the same lock without
    blocking under it (and the message names it): that path waits for the slow call. A lock
    every acquisition of which is around blocking work (a socket's write lock, a lock that
    serialises start and stop) exists to serialise that work, and is not reported; nor is a
    lock the function acquires and never releases (a hand-off or exit handshake that another
    thread or process releases: it marks a state, it is no region others wait to enter).
    One acquisition that blocks several times is one finding, at its first blocking call; the
    others are listed in the details. A lock outside the process (`filelock.FileLock(path)`, a
    ZooKeeper or Redis lock made by path or name, `client.Lock("/jobs")`) is held across I/O by
    design and excludes no thread of this process: it is not a threading lock here (nor for
    SST403, SST302 or SST304).

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
        # every acquisition is around the I/O: the lock serialises writes to the socket, by design
        "import threading\n_send_lock = threading.Lock()\ndef send(sock, data):\n    with _send_lock:\n"
        "        sock.sendall(data)\ndef send_all(sock, parts):\n    with _send_lock:\n        for p in parts:\n"
        "            sock.sendall(p)\n",
        "import threading, time\n_lock = threading.Lock()\ndef f():\n    time.sleep(1)\n    with _lock:\n        pass\n",
        "import asyncio\n_lock = asyncio.Lock()\nasync def f():\n    async with _lock:\n        await asyncio.sleep(1)\n",
        # waiting on the held condition releases it
        "import threading\nclass Q:\n    def __init__(self):\n        self.not_empty = threading.Condition()\n        self.items = []\n"
        "    def get(self):\n        with self.not_empty:\n            while not self.items:\n                self.not_empty.wait()\n"
        "            return self.items.pop()\n",
        # `if lock.acquire(False): try/finally release`: the sleep after it runs without the lock
        "import threading, time\n_lock = threading.Lock()\ndef poll():\n    while True:\n        if _lock.acquire(False):\n"
        "            try:\n                pass\n            finally:\n                _lock.release()\n        time.sleep(0.05)\n",
        # an awaited wait suspends the task, not the thread; sleep(0) only yields
        "import threading, time\n_lock = threading.Lock()\nasync def f(event):\n    async with _lock:\n        await event.wait()\n"
        "def g():\n    with _lock:\n        time.sleep(0)\n",
        # an awaited wait under a threading lock is SST405's finding, not a blocked thread
        "import threading\n_lock = threading.Lock()\nasync def f(event):\n    with _lock:\n        await event.wait()\n",
        # acquired and never released here: a hand-off another thread or process releases (an exit
        # handshake), which marks a state rather than a region others wait to enter
        "import threading\n_exit_lock = threading.Lock()\ndef worker(t):\n    clean = _exit_lock.acquire(True, timeout=30)\n"
        "    t.join()\n    return clean\ndef release_worker():\n    _exit_lock.release()\n"
        "def status():\n    with _exit_lock:\n        return 0\n",
        # a ZooKeeper lock made by path: it excludes other processes, not this process's threads
        "import time\ndef run(zk):\n    with zk.Lock('/jobs/run'):\n        time.sleep(1)\n"
        "def status(zk):\n    with zk.Lock('/jobs/run'):\n        return 0\n",
        # a receive that `poll()` said is ready returns at once (multiprocessing's Pool)
        "import threading\n_lock = threading.Lock()\ndef drain(reader):\n    with _lock:\n        while reader.poll():\n"
        "            reader.recv()\n",
    ]
    INVALID = [
        "import threading, time\n_lock = threading.Lock()\ndef f():\n    with _lock:\n        time.sleep(1)  # SST404\n"
        "def status():\n    with _lock:\n        return 0\n",
        # one finding per acquisition: its first blocking call (the others are counted in the details)
        "import threading, time\n_lock = threading.Lock()\ndef f():\n    with _lock:\n        time.sleep(1)  # SST404\n"
        "        time.sleep(2)\ndef status():\n    with _lock:\n        return 0\n",
        "import threading, subprocess\n_lock = threading.Lock()\ndef _run():\n    subprocess.run(['ls'])\ndef f():\n    with _lock:\n        _run()  # SST404\n"
        "def status():\n    with _lock:\n        return 0\n",
        "import threading\nimport requests\n_lock = threading.Lock()\n_cache = {}\ndef f(k):\n    with _lock:\n        _cache[k] = requests.get(k)  # SST404\n"
        "def status():\n    with _lock:\n        return 0\n",
        # without the poll, the receive waits for a sender
        "import threading\n_lock = threading.Lock()\ndef drain(conn):\n    with _lock:\n        conn.recv()  # SST404\n"
        "def status():\n    with _lock:\n        return 0\n",
        # waiting on another condition keeps this lock held
        "import threading\n_lock = threading.Lock()\n_ready = threading.Condition()\ndef f():\n    with _lock:\n        with _ready:\n"
        "            _ready.wait()  # SST404\n"
        "def status():\n    with _lock:\n        return 0\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        usage = m.lock_usage()
        blocked_at = {id(b.held.node) for b in usage.blocking}
        # one finding per acquisition of a lock: its first blocking call, with the count of the others
        groups: Dict[int, List[Blocking]] = {}
        for blocking in sorted(usage.blocking, key=lambda b: (getattr(b.node, "lineno", 0), getattr(b.node, "col_offset", 0))):
            group = groups.setdefault(id(blocking.held.node), [])
            if all(other.node is not blocking.node for other in group):
                group.append(blocking)
        for blocking, *others in groups.values():
            held = blocking.held
            # who else needs the lock without blocking under it: that path waits for the I/O
            waiter = next((h for h in usage.acquisitions if h.ident == held.ident and h.func is not held.func
                           and id(h.node) not in blocked_at), None)
            if waiter is None:
                continue  # every acquisition is around blocking work: the lock serialises it, by design
            more = f"; {len(others)} more blocking call{'s' if len(others) > 1 else ''} under the same lock " \
                   f"(line{'s' if len(others) > 1 else ''} {', '.join(str(getattr(o.node, 'lineno', 0)) for o in others)})" \
                if others else ""
            yield blocking.node, (
                f"{blocking.call} can block while '{held.ident}' is held"
                f"\n'{waiter.func.qualname}()' (line {getattr(waiter.node, 'lineno', 0)}) waits for it{more}"
            ), None
