from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.races import non_atomic
from safestate_lint.engine.shapes import nested_writes, reimport_after_delete
from safestate_lint.rules.base import Report, Rule, shared_name, unlocked_container_mutations, where


class SharedContainerMutation(Rule):
    """
    ## What it does
    Flags an unlocked mutation of a shared container (a module-level one, or one held by an
    object every thread shares) that is **not atomic** in CPython: one call that another
    thread can observe half done, or that loses a concurrent write. Among them:

    - `d[k].append(v)` on a `defaultdict`: on the free-threaded build two threads can both
      create the missing entry, and one append goes into a list nobody keeps;
    - `Counter.update(...)` / `subtract(...)`: written in Python, concurrent calls lose counts;
    - `lst.sort()`: other threads see an empty list while it sorts;
    - `bisect.insort(lst, x)`: the position is found, then the list changes, then the
      element goes in at the stale position;
    - `heapq.heappush(lst, x)`, `lst.insert(i, x)`, `OrderedDict.move_to_end(k)`: atomic with
      the GIL, not on the free-threaded build.

    ## The atomicity model
    Which operation is atomic on which exact builtin type, with the GIL and without it, is one
    table (`safestate_lint/engine/atomicity.py`), each entry citing CPython's "Thread Safety
    Guarantees" page, the free-threading HOWTO, or the implementation. A lone atomic operation
    (`d[k] = v`, `del d[k]`, `d.pop(k, None)`, `d.setdefault(k, v)` with builtin keys,
    `lst.append(x)`, `lst.pop()`, `s.add(x)`, `s.discard(x)`, `deque.append`/`popleft`) is not a
    race by itself, and this rule stays quiet on it. It becomes one when something else races
    with it, and another rule reports that, once:

    - a test of the same container before it (`if k in d: del d[k]`): SST103;
    - an unlocked iteration of the container in another function: SST104, naming both sites;
    - a read-modify-write of an item (`d[k] += 1`): SST101.

    Teams whose policy is that every mutation of shared state holds a lock can select the
    opt-in rule SST105 (`unlocked-shared-mutation`).

    Containers that are only filled at import time are constants and stay quiet, as do
    `queue.Queue`, `collections.deque`, `threading.local`, `ContextVar` and the runtime's
    `LockedDict`/`LockedList`/`LockedSet`.

    Deleting a module from `sys.modules` (`del`, `pop`) and importing it again in the same
    function is reported too: two threads reloading at once can both run the module.

    ## Why is this bad?
    The operation itself is the race: no other code needs to run for a write to be lost or a
    reader to see a state that no sequential run produces. Free-threaded CPython makes the
    operations that are atomic only with the GIL race as well.

    ## Example
    ```python
    from collections import defaultdict

    _by_user = defaultdict(list)

    def record(user, event):
        _by_user[user].append(event)
    ```

    ## Use instead
    ```python
    _by_user = {}

    def record(user, event):
        _by_user.setdefault(user, []).append(event)  # setdefault and append are atomic
    ```

    ## Fix
    `safestate-lint fix` replaces a plain dict, list or set with the runtime's locked container
    when every use in the module stays valid; otherwise it wraps the statement in a
    module-level lock (the class's own lock for an object's container).

    ## Options
    `lock-names`, `synchronized-decorators`, `thread-safe-types`, `runtime-module`.
    """

    code = "SST102"
    name = "shared-container-mutation"
    summary = "a shared container is mutated without a lock by an operation that is not atomic"
    fixable = True

    VALID = [
        "import threading\nfrom collections import defaultdict\n_by = defaultdict(list)\n_lock = threading.Lock()\n"
        "def add(k, v):\n    with _lock:\n        _by[k].append(v)\n",
        "SERVICE_STATUS = {'db': 'unknown'}\ndef monitor(name, status):\n    SERVICE_STATUS[name] = status\n",
        "_seen = set()\ndef see(x):\n    _seen.add(x)\n",
        "_cache = {}\ndef evict(k):\n    _cache.pop(k, None)\n",
        "_groups = {}\ndef add(k, v):\n    _groups.setdefault(k, []).append(v)\n",
        "_jobs = []\ndef push(j):\n    _jobs.append(j)\ndef take():\n    return _jobs.pop()\n",
        "DEFAULTS = {'a': 1}\ndef get(k):\n    return DEFAULTS.get(k)\n",
        "REGISTRY = {}\nREGISTRY['x'] = 1\n",
        "import queue\nq = queue.Queue()\ndef f(x):\n    q.put(x)\n",
        "from collections import deque\nd = deque()\ndef f(x):\n    d.append(x)\n",
        "from collections import Counter\nC = Counter()\ndef _setup():\n    C.update(['a'])\n_setup()\n",
        "class PerRequest:\n    def __init__(self):\n        self.data = []\n    def add(self, k):\n        self.data.sort()\n",
        'import sys\ndef forget(name):\n    sys.modules.pop(name, None)\n',
    ]
    INVALID = [
        "from collections import defaultdict\n_by = defaultdict(list)\ndef add(k, v):\n    _by[k].append(v)  # SST102\n",
        "from collections import Counter\nC = Counter()\ndef f(k):\n    C.update([k])  # SST102\n",
        "_items = []\ndef add(x):\n    _items.append(x)\n    _items.sort()  # SST102\n",
        "import bisect\n_ranks = []\ndef add(x):\n    bisect.insort(_ranks, x)  # SST102\n",
        "import heapq\n_jobs = []\ndef push(j):\n    heapq.heappush(_jobs, j)  # SST102\n",
        "from collections import OrderedDict\n_lru = OrderedDict()\ndef touch(k):\n    _lru.move_to_end(k)  # SST102\n",
        "_queue = []\ndef urgent(j):\n    _queue.insert(0, j)  # SST102\n",
        "class Board:\n    def __init__(self):\n        self.scores = []\n    def add(self, s):\n        self.scores.append(s)\n"
        "        self.scores.sort()  # SST102\nboard = Board()\n",
        'import importlib, sys\ndef reload(name):\n    del sys.modules[name]  # SST102\n    return importlib.import_module(name)\n',
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for act, binding in unlocked_container_mutations(m, lambda a: (id(a.func), a.key, a.detail)):
            if act.check is not None and act.key in act.check.keys:
                continue  # tested first: SST103's race, reported once there
            reimport = reimport_after_delete(act)
            if reimport is not None:
                yield act.node, (
                    f"{shared_name(m, act)} is mutated ({act.detail}) {where(act)} without a lock, and the module "
                    f"imported again (line {getattr(reimport, 'lineno', '?')}): it can run twice"
                    f"\ntwo threads reloading at once can both run the module (two module objects, each with its "
                    f"own state), or the second delete raises KeyError"
                ), act
                continue
            unsafe = non_atomic(act, binding.type_name)
            if unsafe is None:
                continue
            build = "on the free-threaded build" if unsafe.gil else "on every build"
            count = len(nested_writes(m, act)) if act.inner is not None else 0
            more = f"; {count} writes in this function" if count > 1 else ""
            yield act.node, (
                f"{shared_name(m, act)} is mutated ({act.detail}) {where(act)} without a lock: not atomic"
                f"\n{unsafe.consequence} ({build}){more}"
            ), act

