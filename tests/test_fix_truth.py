"""Property test of truthful fixes, over every generated program (the space is small enough
to enumerate, so no example is left to chance): a counter, a get-or-create, or a lazy
initialisation, with early exits, reads after the lock, a read through a local, a lock
already present, a half-built object, and slow work in the window or not. After `fix`,
either `check` still reports the shape, or a thread hammer of the fixed function shows no
lost update, no duplicate id, no duplicate creation and no half-built object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.fixers import fix_source

STRESS = os.environ.get("SAFESTATE_STRESS") == "1"
THREADS, ITERATIONS = 8, 150

HEADER = """\
import collections
import threading

_lock = threading.Lock()
_made = collections.deque()  # thread-safe: records every creation
_n = 0
_d = {}
_obj = None


def spin():
    for _ in range(5000):  # long enough for threads woken by the barrier to arrive
        pass


class Obj:
    def __init__(self):
        _made.append(1)
        self.ready = False

    def finish(self):
        spin()
        self.ready = True


def make(k):
    _made.append(k)
    return object()
"""

# shape -> (body templates of op(k); {spin} is an optional slow step), oracle
COUNTERS = [
    "global _n\n{spin}_n += 1\nreturn _n",
    "global _n\nwith _lock:\n    _n += 1\n{spin}return _n",
    "global _n\nv = _n\n{spin}_n = v + 1\nreturn _n",
    "global _n\nif _n >= 100000:\n    return None\n{spin}_n += 1\nreturn _n",
    "global _n\nwith _lock:\n    _n = _n + 1\nreturn f'id-{_n}'",
]
GET_OR_CREATE = [
    "if k in _d:\n    return _d[k]\n{spin}_d[k] = make(k)\nreturn _d[k]",
    "if k not in _d:\n    {spin}_d[k] = make(k)\nreturn _d[k]",
    "v = _d.get(k)\nif v is None:\n    {spin}v = _d[k] = make(k)\nreturn v",
    "if k in _d:\n    raise KeyError(k)\n{spin}_d[k] = make(k)\nreturn _d[k]",
    "if k not in _d:\n    {spin}with _lock:\n        _d[k] = make(k)\nreturn _d[k]",
    # EAFP and through a local: single flight (get_or_create) when nothing else runs in between
    "try:\n    return _d[k]\nexcept KeyError:\n    {spin}v = make(k)\n    _d[k] = v\n    return v",
    "try:\n    v = _d[k]\nexcept KeyError:\n    {spin}v = _d[k] = make(k)\nreturn v",
    "if k not in _d:\n    {spin}v = make(k)\n    _d[k] = v\nreturn _d[k]",
]
LAZY = [
    "global _obj\nif _obj is None:\n    _obj = Obj()\n    _obj.finish()\nreturn _obj",
    "global _obj\nif _obj is None:\n    {spin}_obj = Obj()\nreturn _obj",
    "global _obj\nif _obj is not None:\n    return _obj\n{spin}_obj = Obj()\n_obj.finish()\nreturn _obj",
    "global _obj\nif _obj is None:\n    with _lock:\n        if _obj is None:\n            _obj = Obj()\n            _obj.finish()\nreturn _obj",
]

DRIVER = r"""
import importlib.util, json, sys, threading
sys.setswitchinterval(1e-6)
spec = importlib.util.spec_from_file_location("m", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
kind, threads, iterations = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
barrier = threading.Barrier(threads)
results, errors = [], []
def run():
    barrier.wait()
    for _ in range(iterations):
        try:
            r = m.op("k")
            results.append((id(r), getattr(r, "ready", True), r if isinstance(r, (int, str)) else None))
        except KeyError:
            results.append(None)
        except Exception as exc:
            errors.append(repr(exc))
workers = [threading.Thread(target=run) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print(json.dumps({"n": m._n, "made": len(m._made), "results": results, "errors": errors[:3]}))
"""


def program(body: str, slow: bool) -> str:
    lines = []
    for line in body.splitlines():
        if "{spin}" in line:
            indent = line[:len(line) - len(line.lstrip())]
            if slow:
                lines.append(indent + "spin()")
            line = line.replace("{spin}", "")
        lines.append(line)
    return HEADER + "\n\ndef op(k):\n" + textwrap.indent("\n".join(lines), "    ") + "\n"


def violated(kind: str, body: str, data: dict) -> str:
    results = [r for r in data["results"] if r is not None]
    if data["errors"]:
        return f"errors: {data['errors']}"
    total = THREADS * ITERATIONS
    if kind == "counter":
        if data["n"] != total:
            return f"lost updates: {data['n']} != {total}"
        values = [r[2] for r in results]
        if len(set(values)) != len(values):
            return "duplicate ids returned"
    elif kind == "get_or_create":
        if data["made"] != 1:
            return f"created {data['made']} times"
    else:
        if data["made"] != 1 or len({r[0] for r in results}) != 1:
            return f"created {data['made']} times"
        if "finish" in body and not all(r[1] for r in results):
            return "a caller got a half-built object"
    return ""


PROGRAMS = [(kind, body, slow) for kind, bodies in (("counter", COUNTERS), ("get_or_create", GET_OR_CREATE),
                                                    ("lazy", LAZY))
            for body in bodies for slow in (False, True)]


@pytest.mark.parametrize("kind,body,slow", PROGRAMS)
def test_after_fix_the_finding_remains_or_the_race_is_gone(tmp_path, kind, body, slow):
    source = program(body, slow)
    compile(source, "generated.py", "exec")
    fixed = fix_source(source, "generated.py", Config()).source
    if check_source(fixed, "generated.py", Config()):
        return  # the finding stays: the user is told
    path = tmp_path / "generated.py"
    path.write_text(fixed)
    for _ in range(5 if STRESS else 1):
        problem = violated(kind, body, run_driver(path, kind))
        assert not problem, f"{problem} after fix, and check is silent:\n{fixed}"


def run_driver(path, kind):
    run = subprocess.run([sys.executable, "-c", DRIVER, str(path), kind, str(THREADS), str(ITERATIONS)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("kind,body", [("counter", COUNTERS[2]), ("counter", COUNTERS[4]),
                                       ("get_or_create", GET_OR_CREATE[0]), ("lazy", LAZY[0])])
def test_the_oracle_catches_the_unfixed_races(tmp_path, kind, body):
    """The harness can fail: the unfixed programs race (within a few runs)."""
    path = tmp_path / "generated.py"
    path.write_text(program(body, slow=True))
    assert any(violated(kind, body, run_driver(path, kind)) for _ in range(5))
