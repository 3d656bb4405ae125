from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Set, Tuple

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.facts import AFTER_SHARING, BEFORE_SHARING, Act, FunctionInfo, SharedKey
from safestate_lint.engine.races import ConsequenceKind, RaceFinder
from safestate_lint.rules.base import Report, Rule, once_per, where

# what an unlocked write of a thread-shared object's own state must cause to be reported here
_REPORTED = frozenset({ConsequenceKind.LOST_UPDATE, ConsequenceKind.STALE_CHECK, ConsequenceKind.NOT_ATOMIC})


class UnprotectedStateInThreadSafeClass(Rule):
    """
    ## What it does
    Infers, as Infer's RacerD does, that a class is meant to be shared between threads from
    the class itself, and flags a race on its own state in a method other threads call:

    - the class takes a lock in some method (it owns a `threading` lock or condition);
    - or it starts a thread, timer or executor job on one of its own methods
      (`Thread(target=self._run)`, `executor.submit(self.work)`), or is a `threading.Thread`;
    - or its docstring says it is thread-safe, its line says `# safestate: shared`, or it is
      decorated with the runtime's `@shared`;
    - or a base class in another module of the project is one of these (the project index);
    - or it keeps an object of a class documented thread-safe (`self.pools = Pools()`): then
      that attribute alone is shared, and a test-then-act on it (`p = self.pools.get(k)`,
      `if not p: self.pools[k] = make()`) is reported. A class whose docstring says it is not
      thread-safe is believed.

    In its public methods and in the methods its threads run, an attribute that no method
    ever touches under a lock is reported when the write has a consequence: a read-modify-write
    (`self.misses += 1`: a lost update), a test and then a write (`if self._token is None:
    self._token = fetch()`: both threads fetch; also `hasattr(self, "_busy")` then
    `setattr(self, "_busy", True)`), or a container operation that is not atomic.
    An attribute some method writes under the class's lock is SST302's; constructors,
    `__del__` and unittest's `tearDown` are not reported, and a private helper only when a
    public method that the class's own thread does not run calls it without a lock (two
    callers' threads then run it at once): the message names that caller.

    ## Why is this bad?
    The class says it will be used by several threads at once, and this state takes no part in
    its locking: two threads calling the method lose updates or do the work twice.

    ## Example
    ```python
    class Cache:
        \"\"\"A thread-safe cache.\"\"\"

        def __init__(self):
            self._lock = threading.Lock()
            self._data = {}
            self.misses = 0

        def get(self, key):
            with self._lock:
                value = self._data.get(key)
            if value is None:
                self.misses += 1
            return value
    ```

    ## Use instead
    ```python
        def get(self, key):
            with self._lock:
                value = self._data.get(key)
                if value is None:
                    self.misses += 1
            return value
    ```

    ## Fix
    When the class (or a base, also one in another module) owns exactly one threading lock,
    the statement (from its test or read through the write) moves under it:
    `with self._lock:`. Otherwise none: choose the lock that should guard the attribute.

    ## Options
    `lock-names`.
    """

    code = "SST304"
    name = "unprotected-state-in-thread-safe-class"
    summary = "a class built for threads races on its own state in a method other threads call"
    fixable = True

    VALID = [
        "import threading\nclass Stats:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self.hits = 0\n    def hit(self):\n        with self._lock:\n            self.hits += 1\n",
        # not built for threads: no lock, no thread, no claim
        "class Stats:\n    def __init__(self):\n        self.hits = 0\n    def hit(self):\n        self.hits += 1\n",
        # a private helper, a constructor
        "import threading\nclass W:\n    def __init__(self):\n        self._t = threading.Thread(target=self._run)\n"
        "        self.n = 0\n        self.n += 1\n    def _bump(self):\n        self.n += 1\n    def _run(self):\n        pass\n",
        # a private helper every caller calls under the lock
        "import threading\nclass Client:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._mid = 0\n    def _next_mid(self):\n        self._mid += 1\n        return self._mid\n"
        "    def publish(self, m):\n        with self._lock:\n            return self._next_mid()\n",
        # a docstring that says the opposite (also in markup)
        "class Consumer:\n    \"\"\"Consumers are *not* thread-safe.\"\"\"\n    def __init__(self):\n        self.n = 0\n"
        "    def bump(self):\n        self.n += 1\n",
        # unittest's teardown runs after the test
        "import threading, unittest\nclass T(unittest.TestCase):\n    def setUp(self):\n        self._lock = threading.Lock()\n"
        "        self.made = []\n    def tearDown(self):\n        while self.made:\n            self.made.pop().join()\n",
        # a docstring that says the opposite
        "class Future:\n    \"\"\"Not thread-safe: use one per thread.\"\"\"\n    def __init__(self):\n        self.n = 0\n"
        "    def bump(self):\n        self.n += 1\n",
        # a lone store is atomic
        "import threading\nclass W:\n    def __init__(self):\n        self.stopped = False\n"
        "        threading.Thread(target=self._run).start()\n    def stop(self):\n        self.stopped = True\n"
        "    def _run(self):\n        pass\n",
    ]
    INVALID = [
        "import threading\nclass Cache:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._data = {}\n        self.misses = 0\n    def get(self, k):\n        with self._lock:\n"
        "            v = self._data.get(k)\n        if v is None:\n            self.misses += 1  # SST304\n        return v\n",
        "import threading\nclass Watchdog:\n    def __init__(self):\n        self.beats = 0\n"
        "        threading.Thread(target=self._loop, daemon=True).start()\n    def beat(self):\n"
        "        self.beats += 1  # SST304\n    def _loop(self):\n        self.beats -= 1  # SST304\n",
        "class Client:\n    \"\"\"Thread-safe: share one client.\"\"\"\n    def __init__(self):\n        self._token = None\n"
        "    def token(self):\n        if self._token is None:  # SST304\n            self._token = object()\n"
        "        return self._token\n",
        'class Worker:\n    """Thread-safe worker."""\n    def run(self):\n        if hasattr(self, \'_busy\'):  # SST304\n            return\n        setattr(self, \'_busy\', True)\n        self.work()\n        delattr(self, \'_busy\')\n    def work(self):\n        pass\n',
        "from safestate_lint.runtime import shared\n@shared\nclass Stats:\n    def __init__(self):\n        self.n = 0\n"
        "    def hit(self):\n        self.n += 1  # SST304\n",
        # it keeps a thread-safe object and acts on a stale test of it
        'import threading\nclass Pools:\n    """A thread-safe mapping."""\n    def __init__(self):\n'
        "        self._lock = threading.Lock()\n        self._d = {}\n    def get(self, k):\n        with self._lock:\n"
        "            return self._d.get(k)\n    def __setitem__(self, k, v):\n        with self._lock:\n"
        "            self._d[k] = v\nclass Manager:\n    def __init__(self):\n        self.pools = Pools()\n"
        "    def pool(self, host):\n        pool = self.pools.get(host)\n        if not pool:  # SST304\n"
        "            pool = self.pools[host] = object()\n        return pool\n",
        # a private helper a public method calls without the lock
        "import threading\nclass Client:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._mid = 0\n        self._out = {}\n    def _next_mid(self):\n        self._mid += 1  # SST304\n"
        "        return self._mid\n    def publish(self, m):\n        mid = self._next_mid()\n        with self._lock:\n"
        "            self._out[mid] = m\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        candidates = [a for a in m.acts if a.key[0] == "o" and a.kind != "iterate"]
        if not candidates:
            return
        locked: Set[SharedKey] = {a.key for a in m.acts if a.key[0] == "o"
                                  and any(m.thread_capable(region) for region in a.locks)}
        entries = {shared.entry for shared in m.thread_classes.values() if shared.entry}
        writers: Dict[SharedKey, Set[str]] = {}  # the methods that write each attribute once shared
        for a in candidates:
            if a.func.name not in BEFORE_SHARING:
                writers.setdefault(a.key, set()).add(a.func.qualname)
        races = RaceFinder(m)
        thread_side: Optional[Set[int]] = None  # the functions the classes' own threads run
        for act in once_per(candidates, lambda a: (id(a.check.site) if a.check else id(a.stmt), a.key)):
            name = act.func.name
            if not any(act.key[2] in m.racy_attrs(owner) for owner in {act.key[1], act.func.class_name or act.key[1]}):
                continue  # the names the fast path walks methods for: the same findings either way
            if act.key in locked or act.locks or act.via is not None or name in BEFORE_SHARING or name in AFTER_SHARING:
                continue
            caller = None
            if name.startswith("_") and not name.startswith("__") and act.func.qualname not in entries:
                # a private helper: its callers decide; one that calls it without a lock is a racer
                if thread_side is None:
                    thread_side = _thread_side(m, {a.func.class_name for a in candidates if a.func.class_name})
                caller = _unlocked_caller(act, candidates, thread_side)
                if caller is None:
                    continue
            owner = act.func.class_name or act.key[1]
            shared = m.thread_classes.get(owner) or m.thread_classes.get(act.key[1])
            if shared is not None and not shared.covers(act.key[2]):
                continue  # the class is shared through one thread-safe part it keeps, not this one
            if shared is not None and shared.entry:
                # only its thread and its callers run at once: the state needs a writer on each side
                mine = writers.get(act.key, set())
                if len(mine) < 2 or not mine & entries:
                    continue
            race = races.race(act)
            if race is None or race.kind not in _REPORTED:
                continue
            node = act.check.site if race.kind is ConsequenceKind.STALE_CHECK and act.check is not None else act.stmt
            called = f" (called from '{caller.func.qualname}()' without a lock)" if caller is not None else ""
            yield node, f"'self.{act.key[2]}' {where(act)}{called} without a lock: {race.kind.value}\n{race.text}; " \
                        f"'{owner}' is shared: {shared.why if shared is not None else 'it takes a lock'}", act


def _thread_side(m: ModuleAnalysis, classes: Set[str]) -> Set[int]:
    """The functions (ids) that the classes' own threads run: their entry methods and what those
    call, transitively. Such a method is the thread's, even when it is public (`loop_read()`)."""
    entries = {entry for name in classes for entry in m.thread_entries(name)}
    if not entries:
        return set()
    callees: Dict[int, List[FunctionInfo]] = {}
    for site in m.calls:
        callees.setdefault(id(site.caller), []).append(site.callee)
    queue = [info for info in m.functions if info.qualname in entries]
    seen: Set[int] = set()
    while queue:
        info = queue.pop()
        if id(info) in seen:
            continue
        seen.add(id(info))
        queue.extend(callees.get(id(info), ()))
    return seen


def _unlocked_caller(helper: Act, candidates: List[Act], thread_side: Set[int]) -> Optional[Act]:
    """The write a public method makes, without a lock, through calls that reach the private
    helper `helper` writes in: two callers' threads then run the helper at once. A method the
    class's own thread runs is not such a caller: that thread is one."""
    by_func: Dict[Tuple[int, SharedKey], Act] = {}
    for a in candidates:
        if a.via is not None:
            by_func.setdefault((id(a.func), a.key), a)
    for a in candidates:
        func = a.func
        if a.via is None or a.key != helper.key or a.locks or func.name in BEFORE_SHARING:
            continue
        if func.name.startswith("_") or id(func) in thread_side:
            continue
        step: Optional[Act] = a
        for _ in range(16):  # follow the helpers the write went through down to the one that makes it
            if step is None or step.via is None:
                break
            if step.via is helper.func:
                return a
            step = by_func.get((id(step.via), helper.key))
    return None

