from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.rules.base import Report, Rule, lazy_inits, shared_name, where


class CheckThenActClassSingleton(Rule):
    """
    ## What it does
    Flags lazy initialisation of a class attribute that is not done under one lock:
    `if cls._instance is None: cls._instance = cls()` in a classmethod, `Cls._instance`
    in a staticmethod, `__new__` singletons, metaclass `__call__` with
    `if cls not in cls._instances: cls._instances[cls] = ...`, `hasattr(cls, "_x")` tests,
    copy-on-first-write (`if "hooks" not in cls.__dict__: cls.hooks = []`), a
    `try: return cls._fns[k]` / `except KeyError:` get-or-create,
    and `type(self)._x` / `self.__class__._x` in methods. The same on an attribute of an
    instance every thread shares (bound at module level, returned by a once-factory, or
    shared by another module of the project): `if self._token is None: self._token = fetch()`,
    `if not hasattr(self, "_conn"): self._conn = connect()`.

    ## Why is this bad?
    Two threads that call `Config.instance()` at the same time both see no instance and
    both construct one; each caller keeps a different "singleton". With `__new__`,
    `__init__` may also run twice on the instance that wins.

    ## Example
    ```python
    class Config:
        _instance = None

        @classmethod
        def instance(cls):
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance
    ```

    ## Use instead
    ```python
    import threading

    class Config:
        _instance = None
        _instance_lock = threading.Lock()

        @classmethod
        def instance(cls):
            if cls._instance is None:
                with cls._instance_lock:
                    if cls._instance is None:
                        cls._instance = cls()
            return cls._instance
    ```
    or derive from `safestate_lint.runtime.Singleton` and call `Config.instance()`.

    ## Fix
    `safestate-lint fix` adds a class-level `threading.Lock()` next to the attribute and
    rewrites the test into double-checked locking. For an `async` method with an `await`
    in the critical section the finding is left for a person (see SST201).

    ## Options
    `lock-names`, `synchronized-decorators`.
    """

    code = "SST202"
    name = "check-then-act-class-singleton"
    summary = "a lazily initialised class attribute is tested and set without a lock"
    fixable = True

    VALID = [
        "import threading\nclass C:\n    _instance = None\n    _lock = threading.Lock()\n    @classmethod\n    def get(cls):\n        if cls._instance is None:\n            with cls._lock:\n                if cls._instance is None:\n                    cls._instance = cls()\n        return cls._instance\n",
        "class C:\n    def __init__(self):\n        self._cache = None\n    def get(self):\n        if self._cache is None:\n            self._cache = {}\n        return self._cache\n",
        "from safestate_lint.runtime import Singleton\nclass C(Singleton):\n    pass\n",
        "class Base:\n    handlers = {}\n    def __init_subclass__(cls, **kw):\n        if 'handlers' not in cls.__dict__:\n            cls.handlers = cls.handlers.copy()\n",
    ]
    INVALID = [
        "class Config:\n    _instance = None\n    @classmethod\n    def instance(cls):\n        if cls._instance is None:  # SST202\n            cls._instance = cls()\n        return cls._instance\n",
        "class Config:\n    _instance = None\n    @staticmethod\n    def instance():\n        if Config._instance is None:  # SST202\n            Config._instance = Config()\n        return Config._instance\n",
        "class S:\n    _instance = None\n    def __new__(cls):\n        if cls._instance is None:  # SST202\n            cls._instance = super().__new__(cls)\n        return cls._instance\n",
        "class Meta(type):\n    _instances = {}\n    def __call__(cls, *a, **k):\n        if cls not in cls._instances:  # SST202\n            cls._instances[cls] = super().__call__(*a, **k)\n        return cls._instances[cls]\n",
        "class C:\n    @classmethod\n    async def get(cls):\n        if not hasattr(cls, '_inst'):  # SST202\n            cls._inst = cls()\n        return cls._inst\n",
        "class Client:\n    def __init__(self):\n        self._token = None\n    def token(self):\n"
        "        if self._token is None:  # SST202\n            self._token = object()\n        return self._token\n"
        "client = Client()\n",
        "class Db:\n    def conn(self):\n        if not hasattr(self, '_conn'):  # SST202\n            self._conn = object()\n        return self._conn\ndb = Db()\n",
        "class Base:\n    hooks = []\n    @classmethod\n    def add(cls, h):\n        if 'hooks' not in cls.__dict__:  # SST202\n            cls.hooks = []\n        cls.hooks.append(h)\n",
        'import weakref\nclass Dispatch:\n    _fns = weakref.WeakKeyDictionary()\n    @classmethod\n    def get(cls, k):\n        try:  # SST202\n            return cls._fns[k]\n        except KeyError:\n            pass\n        v = cls._fns[k] = object()\n        return v\n',
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for act, status in lazy_inits(m, "ci"):
            if status != "unlocked":
                continue
            assert act.check is not None
            what = f"class attribute '{m.describe(act.key)}'" if act.key[0] == "c" else shared_name(m, act, noun="")
            yield act.check.site, (
                f"{what} is tested and then set {where(act)} without a lock; two threads can both create it"
            ), act
