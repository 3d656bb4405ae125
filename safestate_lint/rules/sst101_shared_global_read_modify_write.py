from __future__ import annotations

import ast
from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.rules.base import Report, Rule, once_per, shared_name, where


class SharedGlobalReadModifyWrite(Rule):
    """
    ## What it does
    Flags a function that reads a module global (or an item or attribute of one) and
    writes it back without holding a lock: `global n; n += 1`, `n = n + 1`, `n = f(n)`,
    `STATS["hits"] += 1`, `STATS["hits"] = STATS.get("hits", 0) + 1`, `_stats.count += 1`,
    and `if n > LIMIT: n = 0`.

    ## Why is this bad?
    The read and the write are separate steps. Two threads can read the same old value,
    and both write back old + 1: one update is lost. With the GIL this happens whenever a
    thread switch falls between the two steps (for example inside a call in the
    expression); on free-threaded CPython (3.13t/3.14t) threads run truly in parallel and
    it happens all the time.

    ## Example
    ```python
    request_count = 0

    def handle():
        global request_count
        request_count += 1
    ```

    ## Use instead
    ```python
    import threading

    request_count = 0
    _request_count_lock = threading.Lock()

    def handle():
        global request_count
        with _request_count_lock:
            request_count += 1
    ```
    or `safestate_lint.runtime.AtomicCounter`, or `LockedDict.update_item(key, fn, default)`
    for items.

    ## Fix
    `safestate-lint fix` wraps the statement in `with <lock>:`, using the lock that already
    guards the global elsewhere in the module, or a new module-level `threading.Lock()`
    named after the global (`_request_count_lock`). The fix is safe.

    The analysis follows calls within the module. A private helper (a `_name` or a nested
    function, not in `__all__` and never used as a value) that every caller calls with a
    lock held counts as holding that lock; one called only at import time is not
    reported. A function that rebinds the whole global (`STATE = {...}`) without a lock
    while another function reads and updates it is reported too: the update can be lost,
    or applied to the replaced object.

    Two half-locked shapes are reported even though the write holds a lock:
    - the test is made outside the lock that rebinds (`if _tokens <= 0: return False`
      then `with lock: _tokens -= 1`): the test can be stale when the lock is taken;
    - the global is read again after the lock that updated it is released
      (`with lock: _counter += 1` then `return f"task_{_counter}"`): the read can see
      another thread's update, so two callers get the same id.
    The fix holds one lock from the test to the rebinding, and captures the value inside
    the lock (`with lock: _counter += 1; counter = _counter`).

    A decorator's closure variable (`nonlocal count; count += 1` in the wrapper it returns)
    is shared by every thread that calls the decorated function: it is reported as a global is.

    The same holds for the attributes of an object every thread shares: the instance of a
    class that is created once per process (a module-level `manager = Manager()`, a
    `global _m; _m = Manager()` getter, an `Optional[Manager]` module global, or a class
    singleton), outside `__init__`.

    ## Options
    `lock-names`, `synchronized-decorators`, `thread-safe-types`.
    """

    code = "SST101"
    name = "shared-global-read-modify-write"
    summary = "a module global is read and rebound without a lock"
    fixable = True

    VALID = [
        "import threading\nn = 0\n_lock = threading.Lock()\ndef f():\n    global n\n    with _lock:\n        n += 1\n",
        "import threading\n_lock = threading.Lock()\n_counter = 0\ndef next_id():\n    global _counter\n    with _lock:\n        _counter += 1\n        n = _counter\n    return f'task_{n}'\n",
        "import threading\n_lock = threading.Lock()\n_tokens = 5\ndef take():\n    global _tokens\n    with _lock:\n        if _tokens <= 0:\n            return False\n        _tokens -= 1\n    return True\n",
        "n = 0\ndef f():\n    n = 1\n    n += 1\n    return n\n",
        "n = 0\ndef f(n):\n    n += 1\n    return n\n",
        "n = 0\nn += 1\n",
        "_config = None\ndef load():\n    global _config\n    _config = {'a': 1}\n",
        "import threading\n_local = threading.local()\ndef f():\n    _local.count += 1\n",
        "import threading\nclass _State(threading.local):\n    count = 0\n_state = _State()\ndef f():\n    _state.count += 1\n",
        "from weakref import WeakSet\nclass Bar:\n    _instances = WeakSet()\n    def __init__(self):\n        self.n = 0\n    def update(self):\n        self.n += 1\n",
        "def outer():\n    n = 0\n    def inner():\n        nonlocal n\n        n += 1\n    inner()\n",
        "import threading\n_lock = threading.Lock()\nn = 0\ndef inc():\n    with _lock:\n        _double()\ndef _double():\n    global n\n    n = n * 2\n",
        "n = 0\ndef _setup():\n    global n\n    n = n + 1\n_setup()\n",
        "import threading\n_lock = threading.Lock()\nn = 0\ndef inc():\n    with _lock:\n        _a()\ndef _a():\n    _b()\ndef _b():\n    global n\n    n += 1\n",
    ]
    INVALID = [
        "request_count = 0\ndef handle():\n    global request_count\n    request_count += 1  # SST101\n",
        "n = 0\ndef f():\n    global n\n    n = n + 1  # SST101\n",
        "n = []\ndef f(x):\n    global n\n    n = sorted(n + [x])  # SST101\n",
        "STATS = {'hits': 0}\ndef hit():\n    STATS['hits'] += 1  # SST101\n",
        "STATS = {}\ndef hit(k):\n    STATS[k] = STATS.get(k, 0) + 1  # SST101\n",
        "class S: pass\n_stats = S()\ndef hit():\n    _stats.count += 1  # SST101\n",
        "n = 0\ndef reset():\n    global n\n    if n > 10:\n        n = 0  # SST101\n",
        "total = 0\nasync def add(msg):\n    global total\n    total += len(msg)  # SST101\n",
        "logfp = None\ndef closelog():\n    global logfp\n    if logfp:\n        logfp.close()\n        logfp = None  # SST101\n",
        "class Stats:\n    def __init__(self):\n        self.hits = 0\n    def hit(self):\n        self.hits += 1  # SST101\nstats = Stats()\n",
        "CURRENT_RUN = {'running': False}\ndef start():\n    global CURRENT_RUN\n    CURRENT_RUN = {'running': True}  # SST101\ndef stop():\n    if CURRENT_RUN['running']:  # SST103\n        CURRENT_RUN['running'] = False\n",
        "n = 0\ndef _double():\n    global n\n    n = n * 2  # SST101\ndef public():\n    _double()\n",
        "import threading\n_lock = threading.Lock()\n_tokens = 5\ndef take():\n    global _tokens\n    if _tokens <= 0:\n        return False\n    with _lock:\n        _tokens -= 1  # SST101\n    return True\n",
        "import threading\n_lock = threading.Lock()\n_counter = 0\ndef next_id():\n    global _counter\n    with _lock:\n        _counter += 1\n    return f'task_{_counter}'  # SST101\n",
        "import threading\n_lock = threading.Lock()\n_n = 0\ndef inc():\n    global _n\n    v = _n\n    with _lock:\n        _n = v + 1  # SST101\n",
        "from safestate_lint.runtime import LockedDict\nSTATS = LockedDict(hits=0)\ndef hit():\n    STATS.update(hits=STATS['hits'] + 1)  # SST101\n",
        "import functools\n_calls = 0\ndef counted(fn):\n    @functools.wraps(fn)\n    def wrapper(*a):\n        global _calls\n        _calls += 1  # SST101\n        return fn(*a)\n    return wrapper\n@counted\ndef work():\n    return 1\n",
        'def counted(f):\n    count = 0\n    def wrapper(*a):\n        nonlocal count\n        count += 1  # SST101\n        return f(*a)\n    return wrapper\n',
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for stale in m.stale_reads():
            act = stale.act
            yield stale.reads[0], (
                f"global '{act.key[1]}' is read again {where(act)} after the lock that updated it is released; "
                f"another thread can change it in between"
            ), act
        for act in once_per(m.acts, lambda a: (id(a.stmt), a.key)):
            if act.key[0] not in ("g", "i", "n"):
                continue
            if m.is_locked(act):
                if act.kind == "rebind" and act.key[0] == "g" and act.read_outside_lock(m.thread_capable):
                    yield act.stmt, (
                        f"global '{act.key[1]}' is read (line {getattr(act.read_at, 'lineno', '?')}) outside the lock "
                        f"that rebinds it {where(act)}; another thread's update in between is lost"
                    ), act
                    continue
                check = act.check
                if act.kind == "rebind" and act.key[0] == "g" and check is not None and act.key in check.keys \
                        and (act.key not in check.lazy_keys or act.resets or act.reads_self) \
                        and not check.shares_lock_with(act.locks, m.thread_capable):
                    yield act.stmt, (
                        f"global '{act.key[1]}' is tested outside the lock that rebinds it {where(act)}; "
                        f"the test can be stale by the time the lock is taken"
                    ), act
                continue
            name = f"global '{act.key[1]}'" if act.key[0] == "g" else shared_name(m, act)
            if act.kind == "rebind":
                if act.races_with is not None:
                    yield act.stmt, (
                        f"{name} is rebound without a lock {where(act)} while "
                        f"'{act.races_with.func.qualname}()' reads and updates it"
                    ), act
                elif act.reads_self:
                    yield act.stmt, f"{name} is read and rebound without a lock {where(act)}", act
                elif act.check is not None and act.key in act.check.keys and \
                        (act.key not in act.check.lazy_keys or act.resets):
                    yield act.stmt, f"{name} is tested and then rebound without a lock {where(act)}", act
            elif act.reads_self and act.detail in ("augmented assignment", "item assignment", "attribute assignment"):
                part = "attribute" if isinstance(act.node, ast.Attribute) else "item"
                yield act.stmt, f"{part} of {name} is read and rewritten without a lock {where(act)}", act
            elif act.reads_self and act.detail.startswith(".") and getattr(m.binding_of(act.key), "kind", "") == "locked":
                yield act.stmt, (
                    f"{name} is read and rewritten without a lock {where(act)}: the read happens before "
                    f"'{act.detail[1:]}' takes the container's lock"
                ), act

