from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import Act, ModuleAnalysis
from safestate_lint.engine.shapes import early_flags
from safestate_lint.rules.base import Report, Rule, lazy_inits, shared_name, where


class CheckThenActSingleton(Rule):
    """
    ## What it does
    Flags lazy initialisation of a module global that is not correctly double-checked
    under a lock: `if _x is None: _x = make()` (also `if not _x`, `if _x is not None:
    return _x` followed by the assignment, and flags such as `if not _loaded: ...;
    _loaded = True`), in a `def` or an `async def`.

    The assignment can also be made by a helper of the module that the test calls
    (`if default_app is None: set_default_app(App())`).

    The same holds for a decorator's closure variable (`def once(f): done = False; def
    wrapper(*a): nonlocal done; if not done: ...`: every thread calling the decorated function
    shares the cell). An attribute of an object every thread shares is SST202's. A flag raised before the value it announces
    (`_ready = True` then `_value = compute()`, while another function tests `_ready` and
    reads `_value`) is reported on the flag: set the value first.

    A test whose branch raises (`if _method is not None: raise RuntimeError("already set")`,
    then `_method = method`) is a precondition, not a lazy initialisation: it rejects a second
    call, and two callers racing past it both break the function's contract.

    ## Why is this bad?
    Two threads can both see `None` and both run the constructor: two health monitors,
    two connection pools, two schedulers, each holding its own state, and one of them is
    silently dropped. An `async def` with no `await` between the test and the assignment
    is safe among the tasks of one event loop, but not when threads (several loops, a
    thread pool, free-threaded CPython) call it.

    ## Example
    ```python
    _health_monitor = None

    async def get_health_monitor():
        global _health_monitor
        if _health_monitor is None:
            _health_monitor = HealthMonitor()
        return _health_monitor
    ```

    ## Use instead
    ```python
    import threading

    _health_monitor = None
    _health_monitor_lock = threading.Lock()

    async def get_health_monitor():
        global _health_monitor
        if _health_monitor is None:
            with _health_monitor_lock:
                if _health_monitor is None:
                    _health_monitor = HealthMonitor()
        return _health_monitor
    ```
    or decorate a zero-argument factory with `safestate_lint.runtime.singleton`, or with
    `functools.lru_cache`/`functools.cache`.

    ## Fix
    `safestate-lint fix` rewrites the test into double-checked locking with a module-level
    `threading.Lock()` named after the global; the inner test re-reads the global. When
    the code between the test and the assignment contains an `await`, a threading lock
    cannot be held across it (it would block the event loop, and `asyncio.Lock` does not
    exclude threads). The fixer then moves the creation into an `async def` factory
    decorated with the runtime's `singleton`, which lets exactly one caller (task or
    thread) run it and makes every other caller await the same result.

    ## Options
    `lock-names`, `synchronized-decorators`.
    """

    code = "SST201"
    name = "check-then-act-singleton"
    summary = "a lazily initialised global is tested and set without a lock"
    fixable = True

    VALID = [
        # a precondition: the raise rejects a second configuration (a caller's misuse)
        "_method = None\ndef set_method(m):\n    global _method\n    if _method is not None:\n"
        "        raise RuntimeError('already set')\n    _method = m\n",
        "import threading\n_x = None\n_lock = threading.Lock()\ndef get():\n    global _x\n    if _x is None:\n        with _lock:\n            if _x is None:\n                _x = object()\n    return _x\n",
        "import threading\n_x = None\n_lock = threading.Lock()\ndef get():\n    global _x\n    with _lock:\n        if _x is None:\n            _x = object()\n        return _x\n",
        "import functools\n@functools.lru_cache(maxsize=None)\ndef get():\n    return object()\n",
        "import streamlit as st\n_model = None\n@st.cache_resource\ndef load_model():\n    return object()\ndef get_model():\n    global _model\n    if _model is None:\n        _model = load_model()\n    return _model\n",
        "_x = None\ndef get():\n    if _x is None:\n        return None\n    return _x\n",
        "_x = None\nif _x is None:\n    _x = object()\n",
        "import asyncio\n_m = None\n_lock = asyncio.Lock()\nasync def get():\n    global _m\n    if _m is None:\n        async with _lock:\n            if _m is None:\n                _m = object()\n    return _m\n",
        'def outer():\n    done = False\n    def inner():\n        nonlocal done\n        if not done:\n            done = True\n    inner()\n',
        'import threading\ndef once(f):\n    done = False\n    lock = threading.Lock()\n    def wrapper(*a):\n        nonlocal done\n        with lock:\n            if not done:\n                done = True\n                f(*a)\n    return wrapper\n',
        '_ready = False\n_value = None\ndef compute():\n    global _ready, _value\n    _value = object()\n    _ready = True\ndef get():\n    if not _ready:\n        return None\n    return _value\n',
    ]
    INVALID = [
        "_health_monitor = None\nasync def get_health_monitor():\n    global _health_monitor\n    if _health_monitor is None:  # SST201\n        _health_monitor = object()\n    return _health_monitor\n",
        "_client = None\ndef client():\n    global _client\n    if not _client:  # SST201\n        _client = object()\n    return _client\n",
        "_client = None\ndef client():\n    global _client\n    if _client is not None:  # SST201\n        return _client\n    _client = object()\n    return _client\n",
        "_loaded = False\n_data = {}\ndef load():\n    global _loaded\n    if not _loaded:  # SST201\n        _data.update({'a': 1})\n        _loaded = True\n",
        "default_app = None\ndef set_default_app(app):\n    global default_app\n    default_app = app\ndef get_app():\n    if default_app is None:  # SST201\n        set_default_app(object())\n    return default_app\n",
        'def once(f):\n    done = False\n    def wrapper(*a):\n        nonlocal done\n        if not done:  # SST201\n            done = True\n            f(*a)\n    return wrapper\n',
        '_ready = False\n_value = None\ndef compute():\n    global _ready, _value\n    _ready = True  # SST201\n    _value = object()\ndef get():\n    if not _ready:\n        return None\n    return _value\n',
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for early in early_flags(m):
            flag, value = early.flag, early.value
            yield flag.stmt, (
                f"{_name(m, flag)} is raised {where(flag)} before '{m.describe(value.key)}', which it announces, is set "
                f"(line {value.stmt.lineno})\n'{early.reader.qualname}()' can see the flag and read the value "
                f"before it is set (line {getattr(early.test, 'lineno', '?')}): set the value first"
            ), flag
        for act, status in lazy_inits(m, "gn"):
            if status != "unlocked":
                continue
            assert act.check is not None
            yield act.check.site, (
                f"{_name(m, act)} is tested and then set {where(act)} without a lock; two threads can both initialise it"
            ), act


def _name(m: ModuleAnalysis, act: Act) -> str:
    return f"global '{act.key[1]}'" if act.key[0] == "g" else shared_name(m, act)
