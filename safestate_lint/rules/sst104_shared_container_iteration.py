from __future__ import annotations

from typing import Dict, Iterator, Set

from safestate_lint.engine.analysis import Act, ModuleAnalysis, SharedKey
from safestate_lint.engine.bindings import PROCESS_STATE
from safestate_lint.engine.facts import BEFORE_SHARING, ESCAPED_VIEW
from safestate_lint.engine.races import tears
from safestate_lint.rules.base import Report, Rule, container_word, once_per, shared_name, where


class SharedContainerIteration(Rule):
    """
    ## What it does
    Flags a loop or comprehension over a module-level mutable container (`for k in d`,
    `d.items()`, `d.keys()`, `d.values()`, `enumerate(l)`, `reversed(l)`) without holding a
    lock, when a function in the module mutates that container. Calls that walk it item by
    item count as loops: `sum`, `min`, `max`, `any`, `all`, `next(iter(d))`, `copy.deepcopy`,
    and the lazy iterators `zip`, `map`, `filter`, `iter`, `itertools.islice`/`chain` over it
    (or over its `keys()`/`values()`/`items()`). `sys.modules` is iterated while any import
    in another thread adds to it: a loop over it in a function is reported without a writer
    in the module. Copies made in one call
    (`list(d)`, `sorted(d)`, `dict(d)`, `d.snapshot()`, ...) are snapshots and stay quiet, as
    do containers that are only filled at import time, and the runtime's `LockedList` and
    `LockedSet`, whose iteration walks a snapshot. A `LockedDict` iterates live, as a dict
    does (its views stay live and cheap): iterate over `d.snapshot()`, or under `d.lock`.
    A method of a class that locks a container and returns a live view of it
    (`return self._items.keys()`, `.values()`, `.items()`, `iter(self._items)`) hands the
    iteration to its caller, after the lock is released: that is reported too (no automatic
    fix: a copy is not a live view).

    ## Why is this bad?
    Iterating a dict or set while another thread adds or removes a key raises
    `RuntimeError: dictionary changed size during iteration`; a list another thread removes
    from, inserts into or reorders can skip or repeat items. (Appending to a list moves no
    element: a loop over it sees the list as it was at one moment, so appends alone are not
    reported; nor is setting an attribute of an element, which changes no container. See
    `engine/atomicity.py`.) The error is intermittent: it
    happens only when the other thread's mutation lands inside the loop.

    ## Example
    ```python
    _clients = {}

    def register(name, client):
        _clients[name] = client

    def broadcast(message):
        for client in _clients.values():
            client.send(message)
    ```

    ## Use instead
    ```python
    from safestate_lint.runtime import LockedDict

    _clients = LockedDict()   # every write is atomic

    def broadcast(message):
        for client in _clients.snapshot().values():   # a copy taken atomically
            client.send(message)
    ```
    or iterate over a copy taken under the lock that guards the writes.

    ## Fix
    `safestate-lint fix` replaces the container with the runtime's locked container (as for
    SST102), when every use in the module stays valid, and a dict's loops iterate over
    `X.snapshot()` (`X.items()` -> `X.snapshot().items()`). Wrapping the loop in a lock is not
    done automatically: the loop body may take the same lock again (a `threading.Lock` would
    deadlock) or run slow code while holding it.

    ## Options
    `lock-names`, `synchronized-decorators`, `thread-safe-types`.
    """

    code = "SST104"
    name = "shared-container-iteration"
    summary = "a shared container is iterated without a lock while other code mutates it"
    fixable = True

    VALID = [
        "import threading\nclass Registry:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._items = {}\n    def add(self, k, v):\n        with self._lock:\n            self._items[k] = v\n"
        "    def keys(self):\n        with self._lock:\n            return list(self._items.keys())\n",
        "import threading\n_c = {}\n_lock = threading.Lock()\ndef add(k):\n    with _lock:\n        _c[k] = 1\ndef show():\n    with _lock:\n        return [k for k in _c]\n",
        "_c = {}\ndef add(k):\n    _c[k] = 1\ndef show():\n    return sorted(_c)\n",
        "HANDLERS = {'a': 1}\ndef show():\n    for k in HANDLERS:\n        print(k)\n",
        "from safestate_lint.runtime import LockedDict\n_c = LockedDict()\ndef add(k):\n    _c[k] = 1\ndef show():\n    for k in _c.snapshot().items():\n        print(k)\n",
        "from safestate_lint.runtime import LockedList\n_c = LockedList()\ndef add(k):\n    _c.append(k)\ndef show():\n    for k in _c:\n        print(k)\n",
        '_load = {}\ndef put(k, v):\n    _load[k] = v\ndef names():\n    return sorted(_load.keys())\n',
        "import sys\ndef get_files():\n    return [m.__file__ for m in list(sys.modules.values()) if hasattr(m, '__file__')]\n",
        # appends move no element: a loop over the list sees it as it was at one moment
        "_jobs = []\ndef add(j):\n    _jobs.append(j)\ndef report():\n    for i, j in enumerate(_jobs):\n        print(i, j)\n",
        # setting an attribute of an element changes no container
        "_jobs = {}\ndef fail(k, e):\n    _jobs[k].error = e\ndef report():\n    for j in _jobs.values():\n        print(j)\n",
    ]
    INVALID = [
        # a live view handed to the caller, who iterates it after the lock is released
        "import threading\nclass Registry:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._items = {}\n    def add(self, k, v):\n        with self._lock:\n            self._items[k] = v\n"
        "    def keys(self):\n        with self._lock:\n            return self._items.keys()  # SST104\n",
        "_clients = {}\ndef register(n, c):\n    _clients[n] = c\ndef broadcast(m):\n    for c in _clients.values():  # SST104\n        c.send(m)\n",
        "_seen = set()\ndef see(x):\n    _seen.add(x)\ndef dump():\n    return [x for x in _seen]  # SST104\n",
        "_jobs = []\ndef add(j):\n    _jobs.append(j)\ndef done(j):\n    _jobs.remove(j)\ndef report():\n"
        "    for i, j in enumerate(_jobs):  # SST104\n        print(i, j)\n",
        "from safestate_lint.runtime import LockedDict\n_c = LockedDict()\ndef add(k):\n    _c[k] = 1\ndef show():\n    for k in _c.items():  # SST104\n        print(k)\n",
        '_load = {}\ndef put(k, v):\n    _load[k] = v\ndef total():\n    return sum(_load.values())  # SST104\n',
        '_load = {}\ndef put(k, v):\n    _load[k] = v\ndef busiest():\n    return max(_load.items(), key=lambda kv: kv[1])  # SST104\n',
        '_load = {}\ndef put(k, v):\n    _load[k] = v\ndef first():\n    return next(iter(_load))  # SST104\n',
        '_load = {}\ndef put(k, v):\n    _load[k] = v\ndef pairs(other):\n    for a, b in zip(_load, other):  # SST104\n        print(a, b)\n',
        "import re, sys\ndef get_files():\n    return [re.sub('py[co]$', 'py', m.__file__)\n            for m in sys.modules.values()  # SST104\n            if hasattr(m, '__file__')]\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        mutators: Dict[SharedKey, Act] = {}
        guarded: Set[SharedKey] = set()  # touched under a thread lock somewhere: the code says it needs one
        for act in m.acts:
            if act.kind == "mutate" and act.func.name not in BEFORE_SHARING and tears(act, m.binding_of(act.key)):
                mutators.setdefault(act.key, act)  # a write that can tear a loop over it (not a list append)
            if act.key[0] != "g" and any(m.thread_capable(region) for region in act.locks):
                guarded.add(act.key)
        for act in once_per(m.acts, lambda a: (id(a.node), a.key)):
            if act.kind == "iterate" and not m.is_locked(act) and act.key[0] == "g" and act.key[1] in PROCESS_STATE:
                yield act.node, (  # `sys.modules`: every import, in any thread, adds to it
                    f"{shared_name(m, act)} is iterated {where(act)} without a copy: an import in another thread "
                    f"changes its size meanwhile\niterate over list({act.key[1]}.items()) instead"
                ), act
                continue
            if act.kind != "iterate" or m.is_locked(act) or act.key not in mutators:
                continue
            binding = m.binding_of(act.key)
            if binding is None or not (binding.is_mutable_container or (binding.kind == "locked" and binding.type_name == "dict")):
                continue  # a LockedDict iterates like a dict (live); LockedList/LockedSet iterate a snapshot
            writer = mutators[act.key]
            if act.key[0] != "g" and (writer.func is act.func or (
                    act.key not in guarded and not _own_thread_meets(m, act, writer))):
                continue  # an object's container its class never locks: no sign threads share it
            if act.detail == ESCAPED_VIEW:
                yield act.node, (
                    f"a live view of {shared_name(m, act)} is returned {where(act)}: the caller iterates it "
                    f"without the lock\n'{writer.func.qualname}()' mutates it meanwhile (line {writer.stmt.lineno}); "
                    f"return a copy (`list(...)`) made under the lock"
                ), act
                continue
            owner = "module-level " if act.key[0] == "g" else ""
            yield act.node, (
                f"{owner}{container_word(m, act)} {shared_name(m, act)} is iterated {where(act)} without a lock"
                f"\n'{writer.func.qualname}()' mutates it meanwhile (line {writer.stmt.lineno})"
            ), act


def _own_thread_meets(m: ModuleAnalysis, act: Act, writer: Act) -> bool:
    """The class runs a thread on one of its methods, and of the iteration and the mutation one
    is in that method and the other is not: they run at once."""
    entries = {shared.entry for shared in m.thread_classes.values() if shared.entry}
    return bool(entries) and (act.func.qualname in entries) != (writer.func.qualname in entries)
