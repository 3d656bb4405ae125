from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.races import RaceFinder
from safestate_lint.engine.facts import BEFORE_SHARING, Act, LockRegion, SharedKey
from safestate_lint.rules.base import Report, Rule, once_per, where


class InconsistentLocking(Rule):
    """
    ## What it does
    In a class that owns a threading lock (a lock, condition, semaphore or runtime RW lock
    bound in the class body or to `self` in a method), flags an attribute written, mutated or
    read-modify-written without that lock when another method writes it under the lock.
    The class's own code says the attribute needs the lock; this statement forgets it. A
    write under another lock of the class counts as unlocked: the lock that guards an
    attribute is the one most of its writes hold, and a different lock excludes none of them
    (locks made by a method of the class, `self._lock = self._create_lock()`, count).

    Only writes with a consequence are reported (see `rule SST102` for CPython's atomicity
    table):

    - a read-modify-write (`self.n += 1`, `self.n = self.n - 1`): a lost update;
    - a write after a test of the same attribute (`if self.x is None: self.x = ...`): a
      stale check;
    - a store that overwrites a transition another method makes under the lock after testing
      the attribute (`with lock: if self.state != CLOSING: self.state = OPEN` against an
      unlocked `self.state = CLOSING` elsewhere): a lost transition;
    - a mutation of a container attribute that is not atomic, or that another method
      iterates: an error or a torn copy in the reader.

    A lone store of a flag, a timestamp or a reference, and a lone atomic container operation
    (`self.d[k] = v`, `self.s.add(x)`) are atomic: no other method's lock changes that. Teams
    who want every write under the lock anyway select the policy rule SST105.

    `__init__`, `__new__`, `__post_init__`, `__setstate__` and unittest's `setUp` are not
    concurrent (no other thread has the object yet), nor are private helpers only they call; a private method that every caller calls with the lock held counts as
    locked; reads alone are not reported.

    ## Why is this bad?
    A lock protects only the code that takes it. `acquire()` updating `self._in_use` under
    the lock while `release()` updates it without: the two interleave, and the pool loses
    counts until it believes it is exhausted (or lends one connection twice).

    ## Example
    ```python
    class ConnectionPool:
        def __init__(self):
            self._lock = threading.Lock()
            self._in_use = 0

        def acquire(self):
            with self._lock:
                self._in_use += 1

        def release(self):
            self._in_use -= 1
    ```

    ## Use instead
    ```python
        def release(self):
            with self._lock:
                self._in_use -= 1
    ```

    ## Fix
    `safestate-lint fix` holds the class's lock around the statement, under the usual fix
    rules: never across a `yield`, an `await` or a blocking call, and never a
    non-reentrant lock around code that can take it again.

    ## Options
    `lock-names`, `synchronized-decorators`.
    """

    code = "SST302"
    name = "inconsistent-locking"
    summary = "an attribute written under the class's lock in one method is written without it in another"
    fixable = True

    VALID = [
        # two locks, each guarding its own attribute
        "import threading\nclass Sched:\n    def __init__(self):\n        self._ex_lock = threading.Lock()\n"
        "        self._js_lock = threading.Lock()\n        self._executors = {}\n        self._stores = {}\n"
        "    def add(self, k, e):\n        with self._ex_lock:\n            if k in self._executors:\n"
        "                raise KeyError(k)\n            self._executors[k] = e\n    def remove(self, k):\n"
        "        with self._ex_lock:\n            del self._executors[k]\n    def store(self, k, s):\n"
        "        with self._js_lock:\n            if k not in self._stores:\n                self._stores[k] = s\n",
        "import threading\nclass Pool:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._in_use = 0\n    def acquire(self):\n        with self._lock:\n            self._in_use += 1\n"
        "    def release(self):\n        with self._lock:\n            self._in_use -= 1\n",
        # the constructor is not concurrent; reads alone are not reported
        "import threading\nclass Pool:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._in_use = 0\n    def acquire(self):\n        with self._lock:\n            self._in_use += 1\n"
        "    def busy(self):\n        return self._in_use > 0\n",
        # a private helper every caller calls under the lock
        "import threading\nclass Pool:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._free = []\n    def release(self, c):\n        with self._lock:\n            self._put(c)\n"
        "    def _put(self, c):\n        self._free.append(c)\n    def take(self):\n        with self._lock:\n"
        "            return self._free.pop()\n",
        # a lone store of a flag: atomic, whatever lock another method holds
        "import threading\nclass Channel:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self.closed = False\n    def close(self):\n        with self._lock:\n            self.closed = True\n"
        "    def abort(self):\n        self.closed = True\n",
        # a lone atomic container operation
        "import threading\nclass Registry:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._items = {}\n    def add(self, k, v):\n        with self._lock:\n            self._items[k] = v\n"
        "    def drop(self, k):\n        self._items.pop(k, None)\n",
        # never locked anywhere: the class does not say this attribute needs the lock
        "import threading\nclass Worker:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self.done = 0\n    def step(self):\n        self.done += 1\n",
    ]
    INVALID = [
        # under another lock of the class: the two writers do not exclude each other
        "import threading\nclass Sched:\n    def __init__(self):\n        self._ex_lock = self._create_lock()\n"
        "        self._js_lock = self._create_lock()\n        self._executors = {}\n        self._stores = {}\n"
        "    def add(self, k, e):\n        with self._ex_lock:\n            if k in self._executors:\n"
        "                raise KeyError(k)\n            self._executors[k] = e\n    def remove(self, k):\n"
        "        with self._js_lock:\n            del self._executors[k]  # SST302\n    def store(self, k, s):\n"
        "        with self._js_lock:\n            self._stores[k] = s\n    def _create_lock(self):\n"
        "        return threading.RLock()\n",
        "import threading\nclass Pool:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._in_use = 0\n    def acquire(self):\n        with self._lock:\n            self._in_use += 1\n"
        "    def release(self):\n        self._in_use -= 1  # SST302\n",
        "import threading\nclass Cache:\n    def __init__(self):\n        self._lock = threading.RLock()\n"
        "        self._data = {}\n        self.misses = 0\n    def get(self, k):\n        with self._lock:\n"
        "            if k not in self._data:\n                self.misses += 1\n            return self._data.get(k)\n"
        "    def keys(self):\n        with self._lock:\n            return [k for k in self._data]\n"
        "    def evict(self, k):\n        self._data.pop(k, None)  # SST302\n    def put(self, k, v):\n        with self._lock:\n"
        "            self._data[k] = v\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        races = RaceFinder(m)
        for act, guard in unguarded_writes(m):
            race = races.race(act)
            if race is None:
                continue
            holder = _holder(m, act, guard)
            other = _other_lock(m, act, guard[0]) if m.is_locked(act) else None
            under = f" under 'self.{other.name.split('.')[-1]}'" if other is not None else ""
            yield act.node if act.kind == "mutate" else act.stmt, (
                f"'self.{act.key[2]}' is {_verb(act)} {where(act)}{under} without 'self.{guard[0].name.split('.')[-1]}': {race.kind.value}"
                f"\n'{holder.func.qualname}()' writes it under the lock (line {holder.stmt.lineno}); {race.text}"
            ), act




def guards(m: ModuleAnalysis) -> Dict[SharedKey, Tuple[LockRegion, Act]]:
    """For each attribute of a lock-owning class: the class's lock that most of its writes hold
    (the first such write's, on a tie), with the first write under it."""
    held: Dict[SharedKey, Dict[str, List[Tuple[LockRegion, Act]]]] = {}
    for act in m.acts:
        if act.key[0] != "o" or act.kind == "iterate" or act.func.name in BEFORE_SHARING:
            continue
        for region in act.locks:  # a write under two of the class's locks counts for both
            if _own_lock(m, act.key[1], region):
                held.setdefault(act.key, {}).setdefault(region.ident or region.name, []).append((region, act))
    return {key: max(by_lock.values(), key=len)[0] for key, by_lock in held.items()}


def unguarded_writes(m: ModuleAnalysis) -> List[Tuple[Act, Tuple[LockRegion, Act]]]:
    """The writes of guarded attributes made without any lock, or only under locks of the class
    other than the one that guards it (they exclude nothing), once per statement."""
    guarded = guards(m)
    if not guarded:
        return []
    return [(act, guarded[act.key]) for act in once_per(m.acts, lambda a: (id(a.stmt), a.key))
            if act.key in guarded and act.kind != "iterate" and act.via is None
            and (not m.is_locked(act) or _other_lock(m, act, guarded[act.key][0]) is not None)
            and act.func.name not in BEFORE_SHARING]


def _other_lock(m: ModuleAnalysis, act: Act, guard: LockRegion) -> Optional[LockRegion]:
    """The class lock a write holds when it holds no lock the guarding one's acquisition
    excludes (`with self._jobs_lock: del self._executors[k]` where `_executors_lock` guards)."""
    ident = guard.ident or guard.name
    if any((region.ident or region.name) == ident for region in act.locks):
        return None
    if any(m.thread_capable(region) and not _own_lock(m, act.key[1], region) for region in act.locks):
        return None  # a lock that is not the class's own (a module's, a caller's): not judged here
    return _class_lock(m, act)


def _class_lock(m: ModuleAnalysis, act: Act) -> Optional[LockRegion]:
    """The lock of the act's class (`C._lock`) held at the act, if any."""
    return next((region for region in act.locks if _own_lock(m, act.key[1], region)), None)


def _own_lock(m: ModuleAnalysis, class_name: str, region: LockRegion) -> bool:
    """Whether the region holds a mutex of the class (its own, or one it inherits)."""
    owner, _, attr = (region.ident or region.name).partition(".")
    if not attr or "." in attr or region.async_lock or not m.thread_capable(region):
        return False
    found = m.lock_owner(class_name, attr)
    return found is not None and found[0] == owner and found[1].is_mutex  # not a semaphore (a queue's free slots)


def _holder(m: ModuleAnalysis, act: Act, guard: Tuple[LockRegion, Act]) -> Act:
    """The write the message names as holding the lock: one in another method when there is
    one (naming the reported method itself tells nothing), the write directly under it."""
    if guard[1].func is not act.func:
        return guard[1]
    ident = guard[0].ident or guard[0].name
    return next((a for a in m.acts if a.key == act.key and a.func is not act.func and a.kind != "iterate"
                 and any((r.ident or r.name) == ident for r in a.locks)), guard[1])


def _verb(act: Act) -> str:
    if act.kind == "mutate":
        return f"mutated ({act.detail})"
    return "read and rebound" if act.reads_self or act.augmented else "written"
