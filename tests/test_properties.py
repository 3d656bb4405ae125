"""Property tests: programs generated from the grammar (hypothesmith) never crash the checker
or the fixer, and every fix parses, re-checks clean of what it fixed, and is idempotent.

A few hundred examples by default; `-m stress` (or SAFESTATE_STRESS=1) runs thousands."""

from __future__ import annotations

import ast
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

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
