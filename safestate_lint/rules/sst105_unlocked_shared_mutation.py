from __future__ import annotations

import ast
from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.shapes import nested_writes
from safestate_lint.rules.base import Report, Rule, container_word, shared_name, unlocked_container_mutations, where


class UnlockedSharedMutation(Rule):
    """
    ## What it does
    **A policy, not a race detector; off by default.** Select it with `--select SST105`,
    `extend-select = ["SST105"]` in the config, or `ALL`, to hold every mutation of shared
    state to a lock, as some teams' style rules do.

    Flags a function that mutates a module-level mutable container (dict, list, set,
    defaultdict, OrderedDict, Counter, bytearray, weak containers, or a container held
    inside one) without holding a lock: item assignment or deletion, mutating methods
    (`append`, `update`, `setdefault`, `pop`, `add`, ...), `heapq`/`bisect` helpers, and
    `_groups[k].append(v)` / `d.setdefault(k, []).append(v)`.

    Containers held by an object every thread shares (the attributes of a class instantiated
    once per process, see SST101) count too, outside `__init__`; their fix holds the class's
    own lock, or one class-level `_lock`. Containers that are only filled at import time are constants and stay quiet, as do
    `queue.Queue`, `collections.deque`, `threading.local`, `ContextVar` and the runtime's
    `LockedDict`/`LockedList`/`LockedSet`.

    ## Why is this bad?
    It need not be. One `d[k] = v`, `lst.append(x)` or `s.add(x)` on a builtin container is
    atomic in CPython, on the GIL build and the free-threaded one (see `rule SST102` for the
    table and its sources), so a lone mutation is no race by itself: the default rules report
    a mutation only when it is not atomic (SST102), when it follows a test (SST103), or when
    another function iterates the container without the lock (SST104). This rule is for
    teams whose policy is that shared state is only ever touched under a lock, so that the
    next change (a second statement, an iteration elsewhere) cannot make it a race unseen.

    ## Example
    ```python
    SERVICE_STATUS = {"db": "unknown"}

    def monitor(name, status):
        SERVICE_STATUS[name] = status
    ```

    ## Use instead
    ```python
    from safestate_lint.runtime import LockedDict

    SERVICE_STATUS = LockedDict({"db": "unknown"})

    def monitor(name, status):
        SERVICE_STATUS[name] = status
    ```

    ## Fix
    `safestate-lint fix` replaces the container with the runtime's locked container
    (`{}` -> `LockedDict()`, `[...]` -> `LockedList([...])`, `set()` -> `LockedSet()`) when
    every use in the module stays valid; otherwise it wraps the mutating statements in a
    module-level lock. Replacing a container whose exact type or identity the module
    observes (`type(x) is dict`, passing it to C code) is marked unsafe and applied only
    with `--unsafe-fixes`.

    ## Options
    `lock-names`, `synchronized-decorators`, `thread-safe-types`, `runtime-module`.
    """

    code = "SST105"
    name = "unlocked-shared-mutation"
    summary = "shared state is mutated without a lock (a policy; opt-in)"
    fixable = True

    VALID = [
        "import threading\n_cache = {}\n_lock = threading.Lock()\ndef put(k, v):\n    with _lock:\n        _cache[k] = v\n",
        "DEFAULTS = {'a': 1}\ndef get(k):\n    return DEFAULTS.get(k)\n",
        "REGISTRY = {}\nREGISTRY['x'] = 1\n",
        "_items = []\ndef f(_items):\n    _items.append(1)\n",
        "import queue\nq = queue.Queue()\ndef f(x):\n    q.put(x)\n",
        "from collections import deque\nd = deque()\ndef f(x):\n    d.append(x)\n",
        "from safestate_lint.runtime import LockedDict\nd = LockedDict()\ndef f(k, v):\n    d[k] = v\n",
        "_handlers = {}\ndef register(fn):\n    _handlers[fn.__name__] = fn\n    return fn\n@register\ndef a():\n    pass\n",
        "import functools\n@functools.lru_cache(maxsize=None)\ndef client():\n    return object()\n",
        "import threading\n_log = []\n_lock = threading.Lock()\ndef f(x):\n    _lock.acquire()\n    try:\n        _log.append(x)\n    finally:\n        _lock.release()\n",
        "import threading\n_log = []\n_lock = threading.RLock()\ndef f(x):\n    with open('f') as fh, _lock:\n        _log.append(fh.read())\n",
        "class PerRequest:\n    def __init__(self):\n        self.data = {}\n    def add(self, k, v):\n        self.data[k] = v\n",
        "import functools, threading\n_items = []\n_guard = threading.Lock()\ndef _serialized(fn):\n    @functools.wraps(fn)\n    def wrapper(*a, **k):\n        with _guard:\n            return fn(*a, **k)\n    return wrapper\n@_serialized\ndef add(x):\n    _items.append(x)\n",
        "import threading\n_lock = threading.Lock()\n_items = []\ndef add(x):\n    with _lock:\n        _items.append(x)\n        _trim()\ndef _trim():\n    while len(_items) > 10:\n        _items.pop(0)\n",
        "_registry = {}\ndef _register(name, fn):\n    _registry[name] = fn\ndef _setup():\n    _register('a', len)\n_setup()\n",
    ]
    INVALID = [
        "SERVICE_STATUS = {'db': 'unknown'}\ndef monitor(name, status):\n    SERVICE_STATUS[name] = status  # SST105\n",
        "_groups = {}\ndef add(k, v):\n    _groups[k].append(v)  # SST105\n",
        "_groups = {}\ndef add(k, v):\n    _groups.setdefault(k, []).append(v)  # SST105\n",
        "from collections import defaultdict\n_by = defaultdict(list)\ndef add(k, v):\n    _by[k].append(v)  # SST105\n",
        "_seen = set()\ndef see(x):\n    _seen.add(x)  # SST105\n",
        "_buf = bytearray()\ndef w(b):\n    _buf.extend(b)  # SST105\n",
        "from collections import Counter, OrderedDict\nC = Counter()\nO = OrderedDict()\ndef f(k):\n    C.update([k])  # SST105\n    O.move_to_end(k)  # SST105\n",
        "_cache = {}\ndef evict(k):\n    del _cache[k]  # SST105\n",
        "import heapq\n_jobs = []\ndef push(j):\n    heapq.heappush(_jobs, j)  # SST105\n",
        "from typing import Dict\nINCIDENTS: Dict[str, int] = {}\nasync def add(i):\n    INCIDENTS[i] = 1  # SST105\n",
        "_cache = None\ndef init():\n    global _cache\n    _cache = {}\ndef put(k, v):\n    _cache[k] = v  # SST105\n",
        "class IncidentManager:\n    def __init__(self):\n        self.incidents = {}\n    async def add(self, i, d):\n        self.incidents[i] = d  # SST105\nincident_manager = IncidentManager()\n",
        "import threading\n_cache = {}\nclass Pool:\n    def __init__(self):\n        self._lock = threading.Lock()\n    def submit(self, k):\n        with self._lock:\n            self._start(k)\n    def _start(self, k):\n        _cache[k] = 1  # SST105\n",
        "_memo = {}\ndef _walk(x):\n    _memo[x] = [_walk(y) for y in range(x)]  # SST105\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        # a container held inside the shared one (`_tasks[tid]["progress"] = p`): once per function
        for act, _ in unlocked_container_mutations(m, lambda a: (id(a.stmt), a.key) if a.inner is None else (id(a.func), a.key)):
            owner = "module-level " if act.key[0] == "g" else ""
            if act.inner is not None:
                count = len(nested_writes(m, act))
                more = f" ({count} writes in this function)" if count > 1 else ""
                yield act.node, (
                    f"'{_text(act.inner)}', held in {owner}{container_word(m, act)} {shared_name(m, act)}, "
                    f"is mutated ({act.detail}) {where(act)} without a lock{more}"
                ), act
                continue
            yield act.node, (
                f"{owner}{container_word(m, act)} {shared_name(m, act)} is mutated ({act.detail}) "
                f"{where(act)} without a lock"
            ), act


def _text(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."
