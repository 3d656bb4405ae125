from __future__ import annotations

import ast
from typing import Iterator, Optional

from safestate_lint.engine.races import RaceFinder
from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.syntax import dotted_name
from safestate_lint.rules.base import Report, Rule, container_word, once_per, where

# class bodies whose annotated attributes are per-instance fields, not shared class state
_FIELD_BASES = frozenset({"BaseModel", "BaseSettings", "SQLModel", "Struct", "NamedTuple", "TypedDict", "Model"})
_FIELD_DECORATORS = frozenset({"dataclass", "dataclasses.dataclass", "attr.s", "attrs", "attr.attrs", "define",
                               "attr.define", "attrs.define", "frozen", "attrs.frozen", "mutable", "attrs.mutable"})


class SharedClassAttributeMutation(Rule):
    """
    ## What it does
    Flags a mutable class attribute that methods change without a lock: a container in the
    class body mutated through `ClassName.attr`, `cls.attr`, or `self.attr` when no instance
    attribute of that name shadows it (`seen = []`, then `self.seen.append(x)`), and a
    counter or flag read and rebound through the class (`Counter.hits += 1`).

    Constants only read through `self` stay quiet, as do fields of dataclasses, attrs and
    pydantic models (each instance gets its own), class-creation hooks (`__init_subclass__`,
    a metaclass's `__new__`: they run when classes are defined), locks, `threading.local`,
    queues and the runtime's locked containers. Check-then-create on a class attribute is SST202's finding.

    ## Why is this bad?
    A class attribute is one object for every instance, so every thread that uses any
    instance shares it. `self.seen.append(x)` looks like per-object state and is not:
    requests handled by different objects still race on the one list, and
    `Counter.hits += 1` loses updates like a module global. One atomic operation on a builtin
    container (`cls._plugins[name] = plugin`, `self.seen.append(x)`) is no race by itself: it
    is reported when it has a consequence (a test before it, an iteration elsewhere, an
    operation that is not atomic; see `rule SST102`).

    ## Example
    ```python
    class PluginRegistry:
        _plugins = {}

        @classmethod
        def register(cls, name, plugin):
            if name not in cls._plugins:
                cls._plugins[name] = plugin
    ```

    ## Use instead
    ```python
    import threading

    class PluginRegistry:
        _plugins = {}
        _plugins_lock = threading.Lock()

        @classmethod
        def register(cls, name, plugin):
            with cls._plugins_lock:
                if name not in cls._plugins:
                    cls._plugins[name] = plugin
    ```

    ## Fix
    `safestate-lint fix` adds a class-level lock next to the attribute, named after it,
    and holds it around the statement (an `RLock` when the statement calls code that could
    take it again). Statements that yield, await or block are left with the reason.

    ## Options
    `lock-names`, `synchronized-decorators`, `thread-safe-types`.
    """

    code = "SST301"
    name = "shared-class-attribute-mutation"
    summary = "a mutable class attribute, shared by every instance, is changed without a lock"
    fixable = True

    VALID = [
        # one atomic operation on a builtin container: nothing races with it
        "class Model:\n    registry = []\n    def __init__(self):\n        self.registry.append(self)\n",
        "class PluginRegistry:\n    _plugins = {}\n    @classmethod\n    def register(cls, name, plugin):\n"
        "        cls._plugins[name] = plugin\n",
        # read only: a constant
        "class Client:\n    DEFAULTS = {'timeout': 5}\n    def timeout(self):\n        return self.DEFAULTS['timeout']\n",
        # an instance attribute of the same name shadows the class-level default
        "class Bag:\n    items = []\n    def __init__(self):\n        self.items = []\n    def add(self, x):\n"
        "        self.items.append(x)\n",
        # locked
        "import threading\nclass Registry:\n    _plugins = {}\n    _lock = threading.Lock()\n    @classmethod\n"
        "    def register(cls, name, p):\n        with cls._lock:\n            cls._plugins[name] = p\n",
        # a pydantic model's annotated default is copied into every instance
        "from pydantic import BaseModel\nclass M(BaseModel):\n    tags: list = []\n    def tag(self, t):\n"
        "        self.tags.append(t)\n",
        # `self.count += 1` creates an instance attribute: not the class's counter
        "class C:\n    count = 0\n    def inc(self):\n        self.count += 1\n",
        # filled at import time only
        "class Codes:\n    names = {}\nfor i in range(3):\n    Codes.names[i] = str(i)\n",
    ]
    INVALID = [
        "class Counter:\n    hits = 0\n    def hit(self):\n        Counter.hits += 1  # SST301\n",
        "class PluginRegistry:\n    _plugins = {}\n    @classmethod\n    def register(cls, name, plugin):\n"
        "        cls._plugins[name] = plugin  # SST301\n    @classmethod\n    def names(cls):\n"
        "        return [n for n in cls._plugins]\n",
        "class Handlers:\n    handlers = {}\n    seen = []\n    def add(self, name, fn):\n"
        "        self.handlers[name] = fn\n"
        "        self.seen.append(name)\n        self.seen.sort()  # SST301\n",
        "class Model:\n    registry = {}\n    def __init__(self):\n        self.registry[id(self)] = self  # SST301\n"
        "    @classmethod\n    def every(cls):\n        for m in cls.registry.values():\n            yield m\n",
        "class Base:\n    handlers = {}\n    @classmethod\n    def register(cls, k, v):\n        if 'handlers' not in cls.__dict__:\n            cls.handlers = cls.handlers.copy()  # SST301\n        cls.handlers[k] = v\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        races = RaceFinder(m)
        for act in once_per(m.acts, lambda a: (id(a.stmt), a.key)):
            if act.key[0] != "c" or act.kind == "iterate" or m.is_locked(act) or act.via is not None:
                continue
            binding = m.binding_of(act.key)
            if binding is None or binding.kind not in ("container", "scalar", "flag", "unknown"):
                continue
            if act.kind == "rebind" and not (act.reads_self or act.augmented):
                continue  # a plain store: the last writer wins, nothing is lost
            if act.kind == "mutate" and binding.kind != "container":
                continue
            if m.lazy_init_status(act) is not None or _is_field(m, act.key[1], act.key[2]):
                continue  # create-if-missing: SST202
            if _creates_classes(m, act.func.name, act.func.class_name):
                continue  # a class-creation hook: runs when classes are defined, at import time
            name = f"{act.key[1]}.{act.key[2]}"
            if act.kind == "rebind":
                yield act.stmt, (
                    f"class attribute '{name}' is read and rebound without a lock {where(act)}: a lost update"
                    f"\nevery instance shares it"
                ), act
                continue
            race = races.race(act)
            if race is None:
                continue  # one atomic operation on a builtin container (see `rule SST102`)
            yield act.node, (
                f"'{name}' is mutated ({act.detail}) {where(act)} without a lock: {race.kind.value}"
                f"\n{race.text}; a class-level {container_word(m, act)} every instance shares"
            ), act


def _is_field(m: ModuleAnalysis, class_name: str, attr: str) -> bool:
    """An annotated attribute of a dataclass, attrs class or model: each instance has its own."""
    cls = m.classes.get(class_name)
    if cls is None:
        return False
    statement: Optional[ast.AnnAssign] = next(
        (s for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and s.target.id == attr),
        None)
    if statement is None or "ClassVar" in (dotted_name(getattr(statement.annotation, "value", statement.annotation)) or ""):
        return False
    decorators = {dotted_name(d.func if isinstance(d, ast.Call) else d) for d in cls.decorator_list}
    bases = {(dotted_name(b) or "").rsplit(".", 1)[-1] for b in cls.bases}
    return bool(decorators & _FIELD_DECORATORS or bases & _FIELD_BASES)


_CLASS_HOOKS = frozenset({"__init_subclass__", "__set_name__", "__class_getitem__"})


def _creates_classes(m: ModuleAnalysis, name: str, class_name: Optional[str]) -> bool:
    """`__init_subclass__`, `__set_name__`, or a metaclass's `__new__`/`__init__`."""
    if name in _CLASS_HOOKS:
        return True
    cls = m.classes.get(class_name or "")
    return name in ("__new__", "__init__") and cls is not None and any(
        (dotted_name(b) or "").rsplit(".", 1)[-1] in ("type", "ABCMeta") or (dotted_name(b) or "").endswith("Meta")
        for b in cls.bases)
