"""SST3 (shared objects): bad input never crashes and either resolves or stays quiet, every
finding goes through the CLI and flake8 alike, and `rule SST30x` documents each rule."""

from __future__ import annotations

import textwrap

import pytest
from helpers import run_cli

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.fixers import fix_source


def found(source: str):
    return sorted((f.line, f.code) for f in check_source(textwrap.dedent(source), "m.py", Config()))


LOCKED_CLASS = """
    import threading
    class C:
        def __init__(self):
            self._lock = threading.Lock()
            self.n = 0{decl}
        def inc(self):
            with self._lock:
                self.n += 1
"""

BAD_INPUT = {
    # a guarded-by that names a missing attribute: one finding at the declaration
    "missing lock": (LOCKED_CLASS.format(decl="  # guarded-by: _nope"), [(6, "SST303")]),
    # two declarations naming different locks: the first wins, the other's accesses are checked against it
    "two locks": ("""
        import threading
        class C:
            def __init__(self):
                self._a = threading.Lock()
                self._b = threading.Lock()
                self.n = 0  # guarded-by: _a
            def f(self):
                with self._b:
                    self.n = 1
            def g(self):
                with self._a:
                    self.n = 2
        """, [(10, "SST303")]),
    # the lock rebound later (a new lock per reset): still a lock, still checked
    "lock rebound": ("""
        import threading
        class C:
            def __init__(self):
                self._lock = threading.Lock()
                self.items = []  # guarded-by: _lock
            def reset(self):
                self._lock = threading.Lock()
            def add(self, x):
                self.items.append(x)
        """, [(10, "SST303")]),
    # attrs and slotted dataclasses: annotated class attributes are fields; a metaclass's registry
    # is filled when classes are defined (import time)
    "attrs and slots": ("""
        import attr, dataclasses
        @attr.s
        class A:
            tags: list = attr.ib(factory=list)
            def tag(self, t):
                self.tags.append(t)
        @dataclasses.dataclass(slots=True)
        class B:
            tags: list = dataclasses.field(default_factory=list)
            def tag(self, t):
                self.tags.append(t)
        class Meta(type):
            registry = {}
            def __new__(mcs, name, bases, ns):
                cls = super().__new__(mcs, name, bases, ns)
                mcs.registry[name] = cls
                return cls
        """, []),
    # properties, descriptors and __slots__ never crash; a property setter is a method like any other
    "properties and slots": ("""
        import threading
        class C:
            __slots__ = ("_lock", "_v")
            def __init__(self):
                self._lock = threading.Lock()
                self._v = 0
            @property
            def v(self):
                return self._v
            @v.setter
            def v(self, value):
                self._v = value
            def bump(self):
                with self._lock:
                    self._v += 1
        class Desc:
            cache = {}
            def __get__(self, obj, owner):
                return self.cache.setdefault(id(obj), 0)
        """, [(13, "SST302")]),  # setdefault on a builtin dict is atomic: no race by itself
    # conditional acquisition, a lock passed in, an alias, a lock in a dict: resolve or stay quiet
    "odd locks": ("""
        import threading
        class C:
            def __init__(self, lock):
                self._lock = threading.Lock()
                self._given = lock
                self._locks = {"a": threading.Lock()}
                self.n = 0
            def a(self):
                if self._lock.acquire(False):
                    try:
                        self.n += 1
                    finally:
                        self._lock.release()
            def b(self):
                lock = self._lock
                with lock:
                    self.n += 1
            def c(self):
                with self._locks["a"], self._given:
                    self.n = 0
        """, None),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_input_resolves_or_stays_quiet(name):
    source, expected = BAD_INPUT[name]
    result = found(source)
    if expected is not None:
        assert result == expected
    fix_source(textwrap.dedent(source), "m.py", Config())  # the fixer never crashes on it either


def test_fix_removes_the_findings_and_check_agrees(tmp_path):
    source = textwrap.dedent(LOCKED_CLASS.format(decl="")) + "    def dec(self):\n        self.n -= 1\n"
    (tmp_path / "m.py").write_text(source)
    assert run_cli(["check", "--no-cache", "m.py"], cwd=tmp_path).returncode == 1
    assert run_cli(["fix", "--no-cache", "m.py"], cwd=tmp_path).returncode == 0
    assert "        with self._lock:\n            self.n -= 1\n" in (tmp_path / "m.py").read_text()
    assert run_cli(["check", "--no-cache", "m.py"], cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("code", ["SST301", "SST302", "SST303"])
def test_rule_command_documents_each_rule(code, tmp_path):
    result = run_cli(["rule", code], cwd=tmp_path)
    assert result.returncode == 0 and b"## What it does" in result.stdout and b"## Fix" in result.stdout
