"""Property tests: programs generated from the grammar (hypothesmith) never crash the checker
or the fixer, and every fix parses, re-checks clean of what it fixed, and is idempotent.

A few hundred examples by default; `-m stress` (or SAFESTATE_STRESS=1) runs thousands."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")
from hypothesis import HealthCheck, event, given, settings, strategies as st  # noqa: E402
from helpers import run_programs  # noqa: E402

from safestate_lint.config import Config  # noqa: E402
from safestate_lint.engine import check_source  # noqa: E402
from safestate_lint.finding import SourceError  # noqa: E402
from safestate_lint.fixers import fix_source  # noqa: E402

STRESS = os.environ.get("SAFESTATE_STRESS") == "1"
COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)

# Shapes the rules care about, combined at random: shared state, functions, locks, checks.
NAMES = st.sampled_from(["_cache", "_x", "COUNT", "items", "_lock", "cls", "k"])
STATEMENTS = st.sampled_from([
    "{n} = {n} + 1", "{n} += 1", "{n}[k] = 1", "{n}.append(k)", "del {n}[k]", "{n}.setdefault(k, []).append(1)",
    "if {n} is None:\n    {n} = object()", "if k not in {n}:\n    {n}[k] = 1", "with _lock:\n    {n}[k] = 1",
    "v = {n}.get(k)\nif v is None:\n    {n}[k] = v = 2", "if not {n}:\n    return None", "global {n}",
    "if {n} is not None:\n    return {n}", "{n} = await make()", "async with _alock:\n    {n} = 3",
    # lock misuse (SST4) and the shapes it must survive: conditional acquisition, locks passed as
    # parameters or stored in dicts, aliases, ExitStack, nullcontext, nested locks in both orders
    "_lock.acquire()\n{n}[k] = 1\n_lock.release()", "_lock.acquire()\nif k:\n    return None\n{n}.append(k)\n_lock.release()",
    "if _lock.acquire(False):\n    try:\n        {n}[k] = 1\n    finally:\n        _lock.release()",
    "_lock.acquire(timeout=1)\n{n} = {n} + 1\n_lock.release()", "lk = _lock\nwith lk:\n    {n}[k] = 1",
    "with threading.Lock():\n    {n} += 1", "lk = threading.RLock()\nwith lk:\n    {n}[k] = 1",
    "with contextlib.ExitStack() as stack:\n    stack.enter_context(_lock)\n    {n}[k] = 1",
    "with contextlib.nullcontext():\n    {n}[k] = 1", "LOCKS[k].acquire()\n{n}[k] = 1\nLOCKS[k].release()",
    "with LOCKS.setdefault(k, threading.Lock()):\n    {n} += 1", "with lock:\n    {n}[k] = 1",
    "with _lock:\n    with _lock2:\n        {n}[k] = 1", "with _lock2:\n    with _lock:\n        {n} = 2",
    "with _lock:\n    time.sleep(1)", "with _lock:\n    await make()", "with _lock2:\n    f0(k)",
])
# across an await (the event-loop fixes): the awaited value only used, a slow build, a flag set up,
# a queue wait between read and write; and a fork (fixes make their locks anew in the child).
# State only: a lock rebound as a counter is another test's business.
LOOP_NAMES = st.sampled_from(["_cache", "_x", "COUNT", "items"])
LOOP_STATEMENTS = st.sampled_from([
    "{n} = {n} + await make()", "{n}[k] = {n}.get(k, 0) + await q.get()", "if k not in {n}:\n    {n}[k] = await make()",
    "if not {n}:\n    await make()\n    {n} = True", "v = {n}\nawait q.get()\n{n} = v + 1", "pid = os.fork()",
    "{n} += 1", "{n}[k] = 1", "if k not in {n}:\n    {n}[k] = 1", "async with _alock:\n    {n} = 3", "global {n}",
])
MODULE_VALUES = st.sampled_from(["{}", "[]", "set()", "None", "0", "False", "threading.Lock()", "asyncio.Lock()"])


@st.composite
def shaped_modules(draw, names=NAMES, statements=STATEMENTS):
    lines = ["import asyncio", "import contextlib", "import os", "import threading", "import time",
             "_lock = threading.Lock()",
             "_lock2 = threading.Lock()", "_alock = asyncio.Lock()", "LOCKS = {}"]
    for name in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        lines.append(f"{name} = {draw(MODULE_VALUES)}")
    for index in range(draw(st.integers(1, 3))):
        is_async = draw(st.booleans())
        body = [f"global {n}" for n in draw(st.lists(names, max_size=2, unique=True)) if n != "k"]
        for statement in draw(st.lists(statements, min_size=1, max_size=5)):
            text = statement.format(n=draw(names))
            if "await" in text and not is_async:
                continue
            body.extend(text.split("\n"))
        header = f"{'async ' if is_async else ''}def f{index}(k, lock=_lock):"
        lines.append(header)
        lines.extend("    " + line for line in body or ["pass"])
    return "\n".join(lines) + "\n"


# Classes (SST3): class-level state, a lock the class owns or declares, methods that touch both
ATTRS = st.sampled_from(["items", "_n", "cache", "_lock", "total"])
CLASS_BODY = st.sampled_from(["items = []", "cache = {}", "total = 0", "_lock = threading.Lock()",
                              "__slots__ = ('_lock', '_n')", "tags: list = []", "registry = {}  # guarded-by: _lock"])
METHOD_STATEMENTS = st.sampled_from([
    "self.{a} += 1", "self.{a}.append(1)", "self.{a}[k] = 1", "type(self).{a} += 1", "C.{a}[k] = 1",
    "cls_{a} = self.{a}", "with self._lock:\n    self.{a} += 1", "if k not in self.{a}:\n    self.{a}[k] = 1",
    "self._lock.acquire()\nself.{a} = 2\nself._lock.release()", "self.{a} = 0  # guarded-by: _lock",
    "self.{a}: Annotated[dict, GuardedBy('_lock')] = {{}}", "lk = self._lock\nwith lk:\n    self.{a} = k",
    "return self.{a}", "self.helper(k)", "yield self.{a}",
])
DECORATORS = st.sampled_from(["", "@dataclasses.dataclass\n", "@dataclasses.dataclass(slots=True)\n"])
METHOD_DECORATORS = st.sampled_from(["", "@property\n", "@classmethod\n", "@staticmethod\n"])


@st.composite
def shaped_classes(draw):
    lines = ["import dataclasses", "import threading", "from typing import Annotated",
             "from safestate_lint.runtime import GuardedBy", "_lock = threading.Lock()"]
    bases = draw(st.sampled_from(["", "(Base)", "(metaclass=Meta)"]))
    lines += ["class Base:", "    pass", "class Meta(type):", "    made = {}",
              "    def __new__(mcs, name, bases, ns):", "        mcs.made[name] = 1",
              "        return super().__new__(mcs, name, bases, ns)"]
    lines += [f"{draw(DECORATORS)}class C{bases}:"]
    lines += ["    " + line for line in draw(st.lists(CLASS_BODY, max_size=3))]
    lines += ["    def __init__(self):"]
    lines += ["        " + line for line in draw(st.lists(st.sampled_from(
        ["self._lock = threading.RLock()", "self._n = 0  # guarded-by: _lock", "self.items = []", "self.cache = {}",
         "self.helper(0)"]), max_size=3))] or []
    lines.append("        pass")
    for index in range(draw(st.integers(1, 3))):
        decorator = draw(METHOD_DECORATORS)
        first = "cls" if "classmethod" in decorator else ("" if "staticmethod" in decorator else "self")
        name = "helper" if index == 0 else f"m{index}"
        lines += ["    " + line for line in decorator.split("\n") if line]
        lines.append(f"    def {name}({first}{', ' if first else ''}k=0):")
        for statement in draw(st.lists(METHOD_STATEMENTS, min_size=1, max_size=4)):
            text = statement.format(a=draw(ATTRS))
            if first != "self":
                text = text.replace("self.", f"{first or 'C'}.")
            lines += ["        " + line for line in text.split("\n")]
    return "\n".join(lines) + "\n"


def properties_hold(source: str, config: Config = Config()) -> None:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    try:
        before = check_source(source, "gen.py", config)
    except SourceError:
        return  # reported as a clean error, not a crash
    result = fix_source(source, "gen.py", config)
    ast.parse(result.source)
    after = check_source(result.source, "gen.py", config)
    assert [f.code for f in after] == [f.code for f in result.remaining]
    assert len(after) <= len(before)
    assert not fix_source(result.source, "gen.py", config).changed
    assert result.source.count("asyncio.Lock()") <= source.count("asyncio.Lock()")  # a fix never makes one


@settings(max_examples=2000 if STRESS else 150, **COMMON)
@given(shaped_modules())
def test_shaped_programs(source):
    properties_hold(source)


@settings(max_examples=1000 if STRESS else 100, **COMMON)
@given(shaped_modules(LOOP_NAMES, LOOP_STATEMENTS))
def test_shaped_programs_across_awaits_and_forks(source):
    properties_hold(source)


@settings(max_examples=1000 if STRESS else 100, **COMMON)
@given(shaped_modules(LOOP_NAMES, LOOP_STATEMENTS))
def test_shaped_programs_on_one_event_loop(source):
    properties_hold(source, Config(assume_single_event_loop=True))


@settings(max_examples=1000 if STRESS else 100, **COMMON)
@given(shaped_classes())
def test_shaped_classes(source):
    properties_hold(source)


@settings(max_examples=2000 if STRESS else 100, **COMMON)
@given(hypothesmith.from_grammar())
def test_grammar_generated_programs(source):
    properties_hold(source)


@settings(max_examples=1000 if STRESS else 60, **COMMON)
@given(hypothesmith.from_node())
def test_libcst_generated_programs(source):
    properties_hold(source)


@pytest.mark.stress
@settings(max_examples=5000, **COMMON)
@given(shaped_modules())
def test_shaped_programs_stress(source):
    properties_hold(source)


# ---------------------------------------------------------------------------------------------
# Programs that run (issue 24): the shared-state shapes above made executable, combined with
# callbacks (held in an attribute, passed as a parameter, listener loops, one that takes a second
# lock, one that re-enters the module), fork hooks (`os.register_at_fork(after_in_child=...)`, an
# `if os.fork() == 0:` child), lock factories (module functions, `self._create_lock()`,
# `Semaphore(1)` as a mutex, the runtime's `RWLock`) and dunders/properties that read the state
# inside the methods a fix locks.  Every generated original is deadlock-free by construction: its
# own locks are taken in one order (`_cb_lock` before `_lock`), nothing is called under `_lock`,
# and a forked child or fork hook takes no lock.  So a hang, or a changed single-threaded output,
# is the fix's.

LOCK_KINDS = ["lock", "rlock", "factory", "semaphore", "bounded_semaphore", "runtime_rwlock"]
CALLBACKS = ["on_change", "on_plain", "on_reenter"]  # a second lock; none; re-enters the module

# (text, globals it rebinds, kind): `state` races, `locked` uses the program's existing lock,
# `callback` calls code the caller supplied inside what a fix would lock
MODULE_OPS = [
    ("COUNT += 1", "COUNT", "state"),
    ("COUNT = COUNT + k", "COUNT", "state"),
    ("if k not in _cache:\n    _cache[k] = k * 2", "", "state"),
    ("_cache[k] = _cache.get(k, 0) + 1", "", "state"),
    ("items.append(k)", "", "state"),
    ("if len(items) > 6:\n    items.pop(0)", "", "state"),
    ("if _value is None:\n    _value = [k]", "_value", "state"),
    ("if k in _seen:\n    _seen.discard(k)\nelse:\n    _seen.add(k)", "", "state"),
    ("total = 0\nfor v in items:\n    total += v\nLOG.append(total)", "", "state"),
    ("with {with_}:\n    COUNT += 1", "COUNT", "locked"),
    ("with {with_}:\n    _cache[k] = _cache.get(k, 0) + 1", "", "locked"),
    ("{acquire}\ntry:\n    items.append(k)\nfinally:\n    {release}", "", "locked"),
    ("callback(k)", "", "callback"),
    ("COUNT = callback(COUNT + 1)", "COUNT", "callback"),
    ("_cache[k] = callback(_cache.get(k, 0) + 1)", "", "callback"),
    ("for cb in _listeners:\n    cb(k)", "", "callback"),
    ("HOOK(k)", "", "callback"),
]
CLASS_OPS = [
    ("self._n += 1", "state"),
    ("self._n = self._n + k", "state"),
    ("if k not in self._data:\n    self._data[k] = k * 2", "state"),
    ("self._data[k] = self._data.get(k, 0) + 1", "state"),
    ("self._items.append(k)", "state"),
    ("if len(self._items) > 6:\n    self._items.pop(0)", "state"),
    ("Store.registry[k] = Store.registry.get(k, 0) + 1", "state"),
    ("type(self).created += 1", "state"),
    ("with {with_}:\n    self._n += 1", "locked"),
    ("with {with_}:\n    self._data[k] = self._data.get(k, 0) + 1", "locked"),
    ("{acquire}\ntry:\n    self._items.append(k)\nfinally:\n    {release}", "locked"),
    ("if k in self:\n    self._data[k] = self._data[k] + 1", "dunder"),  # __contains__
    ("self._items.append(len(self))", "dunder"),  # __len__
    ("LOG.append(repr(self))", "dunder"),  # __repr__
    ("self._n = self.size", "dunder"),  # a property
    ("if self.on_change is not None:\n    self.on_change(k)", "callback"),
    ("self._n = self.on_change(self._n + 1)", "callback"),
    ("for cb in self._listeners:\n    cb(k)", "callback"),
    ("callback(k)", "callback"),
]
# what a forked child or an after_in_child hook does to the state (no lock, no callback)
CHILD_OPS = [
    ("COUNT += 1", "COUNT"), ("_cache[k] = _cache.get(k, 0) + 1", ""), ("items.append(k)", ""),
    ("if k not in _cache:\n    _cache[k] = 0", ""), ("_seen.add(k)", ""), ("items.clear()", ""),
]
CLASS_CHILD_OPS = ["self._n += 1", "self._data[k] = self._data.get(k, 0) + 1", "self._items.append(k)"]


def lock_words(kind: str, name: str) -> dict:
    if kind == "runtime_rwlock":
        return dict(with_=f"{name}.write()", acquire=f"{name}.acquire_write()", release=f"{name}.release_write()",
                    read_with=f"{name}.read()")
    return dict(with_=name, acquire=f"{name}.acquire()", release=f"{name}.release()", read_with=name)


def lock_value(kind: str, factory: str) -> str:
    return {"lock": "threading.Lock()", "rlock": "threading.RLock()", "factory": factory,
            "semaphore": "threading.Semaphore(1)", "bounded_semaphore": "threading.BoundedSemaphore(1)",
            "runtime_rwlock": "RWLock()"}[kind]


def indent(text: str, depth: int = 1) -> List[str]:
    return ["    " * depth + line for line in text.split("\n")]


def draw_body(draw, ops, lock, callee: str, earlier: List[str]) -> Tuple[List[str], List[str]]:
    """1-4 statements (and the globals they rebind) for a function or method; `earlier` are the
    functions it may call while holding the callbacks' lock (the ABBA half of a callback that locks)."""
    allowed = [op for op in ops if op[-1] != "locked" or lock is not None]
    statements, rebound = [], []
    for _ in range(draw(st.integers(1, 4))):
        if earlier and draw(st.integers(0, 5)) == 0:
            statements.append(f"with _cb_lock:\n    {callee}{draw(st.sampled_from(earlier))}(k)")
            continue
        op = draw(st.sampled_from(allowed))
        statements.append(op[0].format(**lock_words(*lock)) if lock is not None else op[0])
        if len(op) == 3 and op[1]:
            rebound.append(op[1])
    return statements, sorted(set(rebound))


@st.composite
def runnable_programs(draw):
    """(source, plan for helpers.PROGRAM_HARNESS): module state and functions, maybe a class with
    a shared instance, maybe forks."""
    # the module's own lock: any kind, or the lock of a runtime container it already has (`_cache.lock`)
    module_lock = draw(st.sampled_from([None, *LOCK_KINDS, "container_lock"]))
    class_lock = draw(st.sampled_from([None, *LOCK_KINDS, "create_lock", "factory_instance"]))
    with_class = draw(st.sampled_from([True, True, False]))
    factory_makes = draw(st.sampled_from(["Lock", "RLock"]))
    # a module that forks gets no new lock (the fix says why): forks in about one program in three
    forks = draw(st.sampled_from([None, None, None, None, "spawn", "hook", "both"]))
    spawn = draw(st.sampled_from(["fork_eq", "pid"])) if forks in ("spawn", "both") else None
    fork_hook = forks in ("hook", "both")
    lines = ["import os", "import threading"]
    if "runtime_rwlock" in (module_lock, class_lock):
        lines.append("from safestate_lint.runtime import RWLock")
    if module_lock == "container_lock":
        lines.append("from safestate_lint.runtime import LockedDict")
    cache = "_cache = LockedDict()" if module_lock == "container_lock" else "_cache = {}"
    lines += ["", "LOG = []", "COUNT = 0", cache, "items = []", "_value = None", "_seen = set()",
              "_listeners = []", "_cb_lock = threading.RLock()", ""]
    if "factory" in (module_lock, class_lock) or class_lock == "factory_instance":
        lines += ["", "def make_lock(name):", f"    return threading.{factory_makes}()", "", ""]
    if module_lock not in (None, "container_lock"):
        lines += [f"_lock = {lock_value(module_lock, 'make_lock(' + repr('state') + ')')}", ""]
    lines += ["", "def on_change(x):", "    with _cb_lock:", "        LOG.append(x)", "    return x", "", "",
              "def on_plain(x):", "    LOG.append(-x)", "    return x", "", "",
              "def bump(x):", "    global COUNT", "    COUNT += 1", "    return x", "", "",
              "def on_reenter(x):", "    return bump(x)", "", "",
              f"HOOK = {draw(st.sampled_from(CALLBACKS))}", "", "",
              "def add_listener(cb):", "    _listeners.append(cb)", ""]
    calls = ["m.bump(k)", "m.on_change(k)", "m.on_plain(k)", "m.on_reenter(k)"]
    state = ["m.COUNT", "m._cache", "m.items", "m._value", "m._seen", "m.LOG"]
    setup = [f"m.add_listener(m.{cb})" for cb in draw(st.lists(st.sampled_from(CALLBACKS), max_size=2))]
    forkers: List[str] = []
    if fork_hook:
        text, rebound = draw(st.sampled_from(CHILD_OPS))
        lines += ["", "def _after_fork_in_child():"] + ([f"    global {rebound}"] if rebound else [])
        lines += ["    k = 0"] + indent(text) + ["", "", "os.register_at_fork(after_in_child=_after_fork_in_child)", ""]
    if with_class:
        cls_lock = None if class_lock is None else (
            "lock" if class_lock in ("create_lock", "factory_instance") else class_lock, "self._lock")
        lines += ["", "class Store:", "    registry = {}", "    created = 0"]
        if class_lock == "factory":
            lines += ["    _lock = make_lock('store')"]
        lines += ["", "    def __init__(self, on_change):"]
        if class_lock == "create_lock":
            lines += ["        self._lock = self._create_lock()"]
        elif class_lock == "factory_instance":
            lines += ["        self._lock = make_lock('store')"]
        elif class_lock not in (None, "factory"):
            lines += [f"        self._lock = {lock_value(class_lock, '')}"]
        lines += ["        self._n = 0", "        self._data = {}", "        self._items = []", "        self._listeners = []",
                  "        self.on_change = on_change"]
        if draw(st.booleans()):
            lines += ["        type(self).created += 1"]
        if class_lock == "create_lock":
            lines += ["", "    def _create_lock(self):", f"        return threading.{factory_makes}()"]
        # the dunders and the property read the state, under the class's lock when it has one and the
        # draw says so: a fix that holds a non-reentrant lock across `len(self)` then deadlocks
        reads = [("__len__(self)", "len(self._data)"), ("__contains__(self, k)", "k in self._data"),
                 ("__repr__(self)", "f'Store(n={self._n}, items={len(self._items)})'"),
                 ("size(self)", "self._n + len(self._items)")]
        locked_reads = cls_lock is not None and draw(st.booleans())
        for signature, value in reads:
            lines += ["", "    @property"] if signature.startswith("size") else [""]
            lines += [f"    def {signature}:"]
            if locked_reads:
                lines += [f"        with {lock_words(*cls_lock)['read_with']}:", f"            return {value}"]
            else:
                lines += [f"        return {value}"]
        lines += ["", "    def add_listener(self, cb):", "        self._listeners.append(cb)"]
        methods: List[str] = []
        for index in range(draw(st.integers(1, 3))):
            body, _ = draw_body(draw, CLASS_OPS, cls_lock, "self.", methods)
            default = draw(st.sampled_from(CALLBACKS))
            lines += ["", f"    def m{index}(self, k, callback={default}):"]
            for statement in body:
                lines += indent(statement, 2)
            methods.append(f"m{index}")
            calls.append(f"obj.m{index}(k)" if draw(st.booleans()) else f"obj.m{index}(k, m.{draw(st.sampled_from(CALLBACKS))})")
        if spawn is not None and draw(st.booleans()):
            lines += ["", "    def fork_child(self, k):"]
            lines += indent(_fork_block(spawn, draw(st.sampled_from(CLASS_CHILD_OPS))), 2)
            forkers.append("obj.fork_child(k)")
        on_change = draw(st.sampled_from(CALLBACKS))
        if draw(st.sampled_from([True, True, False])):  # a module-level instance: the checker knows it is shared
            lines += ["", "", f"store = Store({on_change})", ""]
            setup.append("obj = m.store")
        else:
            setup.append(f"obj = m.Store(m.{on_change})")
        setup += [f"obj.add_listener(m.{cb})" for cb in draw(st.lists(st.sampled_from(CALLBACKS), max_size=2))]
        state += ["obj._n", "obj._data", "obj._items", "m.Store.registry", "m.Store.created", "len(obj)", "repr(obj)"]
    functions: List[str] = []
    lock = None if module_lock is None else (module_lock, "_cache.lock" if module_lock == "container_lock" else "_lock")
    for index in range(draw(st.integers(1, 4))):
        body, rebound = draw_body(draw, MODULE_OPS, lock, "", functions)
        lines += ["", "", f"def f{index}(k, callback={draw(st.sampled_from(CALLBACKS))}):"]
        lines += [f"    global {', '.join(rebound)}"] if rebound else []
        for statement in body:
            lines += indent(statement)
        functions.append(f"f{index}")
        calls.append(f"m.f{index}(k)" if draw(st.booleans()) else f"m.f{index}(k, m.{draw(st.sampled_from(CALLBACKS))})")
    if spawn is not None and not forkers:
        text, rebound = draw(st.sampled_from(CHILD_OPS))
        lines += ["", "", "def spawn(k):"] + ([f"    global {rebound}"] if rebound else [])
        lines += indent(_fork_block(spawn, text))
        forkers.append("m.spawn(k)")
    plan = dict(setup="\n".join(setup), calls=calls, forkers=forkers, fork_hooks=fork_hook, state=state,
                threads=4, iterations=8, seconds=6)
    return "\n".join(lines) + "\n", plan


def _fork_block(shape: str, child: str) -> str:
    """A child that touches the state and always leaves by os._exit; the parent waits for it."""
    body = "\n".join("        " + line for line in child.split("\n"))
    if shape == "fork_eq":
        return f"if os.fork() == 0:\n    try:\n{body}\n    finally:\n        os._exit(0)\nos.wait()\nreturn k"
    return f"pid = os.fork()\nif pid == 0:\n    try:\n{body}\n    finally:\n        os._exit(0)\nos.waitpid(pid, 0)\nreturn k"


def claimed_fixed_left(result, after) -> List[str]:
    """Findings `check` reports on the fixed program although `fix` claims to have fixed them:
    counted per (code, function, state), the identity that survives the fix's line shifts."""
    def identity(f) -> Tuple[str, str, str]:
        return f.code, f.function, f.state

    claimed = Counter(identity(f) for f in result.marked() if f.fixable)
    left = Counter(identity(f) for f in result.remaining)
    return [f"{code} {state!r} in {function or '<module>'}()"
            for (code, function, state), n in Counter(map(identity, after)).items()
            if claimed[(code, function, state)] and n > left[(code, function, state)]]


def single_threaded_part(stdout: str) -> str:
    return stdout.split("=== threads\n", 1)[0]


@dataclasses.dataclass
class RunFailure:
    """A fixed program that does not run like its original: what went wrong, and the evidence."""
    symptom: str  # "output" (single-threaded output changed) or "hang" (or died)
    message: str
    fixed: str


def run_failure(source: str, plan: dict, config: Config,
                amend: Optional[Callable[[str, str], str]] = None) -> Optional[RunFailure]:
    """The four properties of a fixed program.  Asserted here: it parses, a second fix changes
    nothing, `check` reports nothing `fix` claims it fixed.  Returned: how it fails to run like the
    original, single-threaded (the same output) or from threads and forks (it finishes).
    `amend(original, fixed)` edits the fixed program before it runs (a known bug mended by hand)."""
    result = fix_source(source, "gen.py", config)
    fixed = result.source
    ast.parse(fixed)
    diff = "".join(difflib.unified_diff(source.splitlines(True), fixed.splitlines(True), "original", "fixed"))
    shown = f"--- program\n{source}\n--- plan\n{plan}\n--- config\n{config.extend_select}\n--- diff\n{diff}"
    assert not fix_source(fixed, "gen.py", config).changed, f"a second fix changes the program:\n{shown}"
    claimed = claimed_fixed_left(result, check_source(fixed, "gen.py", config))
    assert not claimed, f"`check` still reports what `fix` claims it fixed: {claimed}\n{shown}"
    if amend is not None:
        fixed = amend(source, fixed)
    with tempfile.TemporaryDirectory() as tmp:
        (code0, out0, err0), (code1, out1, err1) = run_programs([source, fixed], plan, Path(tmp))
    # the generator's own guarantee (or a regression case's): the original runs and finishes
    assert code0 == 0 and out0.endswith("=== done\n"), f"the original failed (exit {code0}):\n{out0}{err0}\n{shown}"
    if not (code1 == 0 and out1.endswith("=== done\n")):
        return RunFailure("hang", f"the fixed program hangs or dies (exit {code1}):\n{out1}{err1}\n{shown}", fixed)
    if single_threaded_part(out1) != single_threaded_part(out0):
        changed = "".join(difflib.unified_diff(single_threaded_part(out0).splitlines(True),
                                               single_threaded_part(out1).splitlines(True), "original", "fixed"))
        return RunFailure("output", f"the fix changes the single-threaded output:\n{changed}\n{shown}", fixed)
    return None


def runs_like_the_original(source: str, plan: dict, config: Config) -> None:
    failure = run_failure(source, plan, config)
    assert failure is None, failure.message


# ---- fixer bugs these properties found (issue 24) -------------------------------------------
# Each is a minimal program, run by `test_known_fixer_bug` as a strict xfail: when the fixer is
# mended it passes, the xfail fails, and its entry moves to MENDED (its cases then must pass).
# Until then the generated test excuses an example only when it is exactly this bug: the fixed
# source has the bug's mark, the run fails with its symptom, and the same fixed program with only
# this bug mended by hand runs like the original.  Every other failure fails the test.

def _rwlocks(fixed: str) -> Set[str]:
    """The names and attributes bound to the runtime's RWLock (`_lock`, `self._lock`)."""
    return {ast.unparse(target) for node in ast.walk(ast.parse(fixed)) if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "RWLock" for target in node.targets}


def _rwlock_used_bare(fixed: str) -> bool:
    """The fix writes `with X:` for an X bound to the runtime's RWLock (it has .read()/.write(),
    no __enter__): every call of the fixed function raises TypeError."""
    bound = _rwlocks(fixed)
    return any(ast.unparse(item.context_expr) in bound for node in ast.walk(ast.parse(fixed))
               if isinstance(node, ast.With) for item in node.items)


def _runtime_container_in_forking_module(fixed: str) -> bool:
    """The fix swapped a container for a runtime Locked* in a module that forks: the container's
    own lock, held by another thread at the fork, stays held in the child (no at-fork re-creation)."""
    return bool(re.search(r"\bLocked(Dict|List|Set)\(\)", fixed)) and bool(
        re.search(r"\bos\.(fork|register_at_fork)\(", fixed))


# name -> (symptom, mark on the fixed source, the bug mended by hand in the fixed source)
KNOWN_FIXER_BUGS: Dict[str, Tuple[str, Callable[[str], bool], Callable[[str, str], str]]] = {}
# bugs these properties found that are mended since: their cases below must keep passing
MENDED = {"runtime_container_lock_held_in_forked_child": _runtime_container_in_forking_module,
          "rwlock_as_context_manager": _rwlock_used_bare}


def known_bug(failure: RunFailure, source: str, plan: dict, config: Config) -> Optional[str]:
    """The known bug this failure is, proved by mending it by hand and running again; else None."""
    for name, (symptom, mark, mend) in KNOWN_FIXER_BUGS.items():
        if failure.symptom == symptom and mark(failure.fixed) and run_failure(source, plan, config, mend) is None:
            return name
    return None


RUNS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)


@settings(max_examples=300 if STRESS else 40, **RUNS)
@given(runnable_programs(), st.booleans())
def test_fixed_programs_run_like_the_originals(program, every_mutation):
    source, plan = program
    # with SST105 (every unlocked mutation) too: its fixer replaces containers and locks lone mutations
    config = Config(extend_select=("SST105",)) if every_mutation else Config()
    failure = run_failure(source, plan, config)
    if failure is not None:
        bug = known_bug(failure, source, plan, config)
        assert bug is not None, failure.message
        event(f"excused: known fixer bug {bug}")


SST105 = Config(extend_select=("SST105",))
REGRESSIONS = {
    # the fix writes `with self._lock:` for the instance's RWLock: TypeError on every call (check is silent after)
    "rwlock_as_context_manager-instance": (
        "from safestate_lint.runtime import RWLock\n\n\nclass Store:\n    def __init__(self):\n"
        "        self._lock = RWLock()\n        self._n = 0\n\n    def add(self, k):\n        self._n += 1\n\n\n"
        "store = Store()\n",
        dict(setup="obj = m.store", calls=["obj.add(k)"], state=["obj._n"]), Config()),
    # the module guards `_cache` with `with _lock.write():` in one function; the fix reuses `_lock` as `with _lock:`
    "rwlock_as_context_manager-module": (
        "from safestate_lint.runtime import RWLock\n\n_lock = RWLock()\n_cache = {}\n\n\ndef put(k):\n"
        "    with _lock.write():\n        _cache[k] = _cache.get(k, 0) + 1\n\n\ndef hit(k):\n"
        "    _cache[k] = _cache.get(k, 0) + 1\n",
        dict(calls=["m.put(k)", "m.hit(k)"], state=["m._cache"]), Config()),
    # SST105 swaps `_cache` for a LockedDict; a thread inside `_cache[k] = k` when another forks leaves
    # the dict's RLock held in the child, and the after_in_child hook hangs on it
    "runtime_container_lock_held_in_forked_child-hook": (
        "import os\n\n_cache = {}\n\n\ndef put(k):\n    _cache[k] = k\n\n\ndef _after_fork_in_child():\n"
        "    _cache[0] = 0\n\n\nos.register_at_fork(after_in_child=_after_fork_in_child)\n",
        dict(calls=["m.put(k)"], fork_hooks=True, state=["m._cache"]), SST105),
    # the same in an `if os.fork() == 0:` child
    "runtime_container_lock_held_in_forked_child-branch": (
        "import os\n\n_cache = {}\n\n\ndef put(k):\n    _cache[k] = k\n\n\ndef spawn(k):\n"
        "    if os.fork() == 0:\n        try:\n            _cache[k] = 0\n        finally:\n            os._exit(0)\n"
        "    os.wait()\n",
        dict(calls=["m.put(k)"], forkers=["m.spawn(k)"], state=["m._cache"]), SST105),
}
REASONS: Dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=REASONS[name.split("-")[0]]))
    if name.split("-")[0] in REASONS else name for name in REGRESSIONS])
def test_known_fixer_bug(name):
    source, plan, config = REGRESSIONS[name]
    plan = dict(dict(setup="", forkers=[], fork_hooks=False, threads=4, iterations=8, seconds=6), **plan)
    if (plan["forkers"] or plan["fork_hooks"]) and not hasattr(os, "fork"):
        pytest.skip("no os.fork here")
    runs_like_the_original(source, plan, config)


def test_every_known_bug_has_a_regression_case():
    assert {name.split("-")[0] for name in REGRESSIONS} == set(KNOWN_FIXER_BUGS) | set(MENDED)
    assert set(KNOWN_FIXER_BUGS) == set(REASONS)


# ---- the properties fail when a fix breaks them ----------------------------------------------
PROBE = """import os
import threading

COUNT = 0
LOG = []


def bump(x):
    global COUNT
    COUNT += 1
    return x


def on_reenter(x):
    return bump(x)


def spawn(k):
    if os.fork() == 0:
        try:
            LOG.append(k)
        finally:
            os._exit(0)
    os.wait()
    return k
"""
PROBE_PLAN = dict(setup="", calls=["m.bump(k)", "m.on_reenter(k)"], forkers=["m.spawn(k)"], fork_hooks=False,
                  state=["m.COUNT", "m.LOG"], threads=4, iterations=4, seconds=2)
EVIL = "_evil = threading.Lock()\n\n\n"
BROKEN_FIXES = {
    # the fix changes what the program computes
    "output": lambda s: s.replace("COUNT += 1", "COUNT += 2"),
    # a non-reentrant lock around a callback that re-enters it: the single-threaded main hangs
    "hang": lambda s: s.replace("def bump(x):\n    global COUNT\n",
                                EVIL + "def bump(x):\n    global COUNT\n    with _evil:\n        pass\n").replace(
        "def on_reenter(x):\n    return bump(x)", "def on_reenter(x):\n    with _evil:\n        return bump(x)"),
    # a lock the forked child takes while another thread holds it
    "fork": lambda s: s.replace("def bump(x):", EVIL + "def bump(x):").replace(
        "        try:\n            LOG.append(k)", "        try:\n            with _evil:\n                LOG.append(k)"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_FIXES))
def test_a_broken_fix_fails_the_run_properties(monkeypatch, broken):
    if broken == "fork" and not hasattr(os, "fork"):
        pytest.skip("no os.fork here")
    real = fix_source

    def breaking(source, path, config, **kwargs):
        result = real(source, path, config, **kwargs)
        if "_evil" in result.source or "COUNT += 2" in result.source:  # broken already: a second fix keeps it
            return result
        return dataclasses.replace(result, source=BROKEN_FIXES[broken](result.source), changed=True)

    monkeypatch.setattr(sys.modules[__name__], "fix_source", breaking)
    assert BROKEN_FIXES[broken](PROBE) != PROBE
    failure = run_failure(PROBE, PROBE_PLAN, Config())
    assert failure is not None and failure.symptom == ("output" if broken == "output" else "hang"), failure
    assert known_bug(failure, PROBE, PROBE_PLAN, Config()) is None


def test_a_fix_that_claims_too_much_or_changes_twice_fails(monkeypatch):
    real = fix_source
    monkeypatch.setattr(sys.modules[__name__], "fix_source", lambda source, path, config, **kwargs: dataclasses.replace(
        real(source, path, config, **kwargs), source=source, changed=False, remaining=[]))
    with pytest.raises(AssertionError, match="still reports what `fix` claims it fixed"):
        run_failure(PROBE, PROBE_PLAN, Config())
    monkeypatch.setattr(sys.modules[__name__], "fix_source", lambda source, path, config, **kwargs: dataclasses.replace(
        real(source, path, config, **kwargs), source=source + "# fixed\n", changed=True))
    with pytest.raises(AssertionError, match="a second fix changes the program"):
        run_failure(PROBE, PROBE_PLAN, Config())
