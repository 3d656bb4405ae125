"""Property test of fix safety: generated programs with a lock, helpers that call each other
(recursion included), and listeners that call back into the module.  After `fix`, the program
run single-threaded prints exactly what the original printed and never hangs.

The original is run first; an example whose original itself hangs or fails says nothing
about the fix and is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from safestate_lint.config import Config  # noqa: E402
from safestate_lint.fixers import fix_source  # noqa: E402

STRESS = os.environ.get("SAFESTATE_STRESS") == "1"
FUNCTIONS = ["f0", "_f1", "_f2", "f3"]

# statements of a function body; {call} is another module function, called with depth + 1
STATEMENTS = st.sampled_from([
    "n += 1",
    "n = n * 2 + len(items)",
    "items.append(x)",
    "if x not in seen:\n    seen[x] = len(seen)",
    "if x not in seen:\n    seen[x] = {call}(x, depth + 1)",
    "with _lock:\n    items.append(x)",
    "with _lock:\n    od[x] = depth",
    "od[x] = {call}(x, depth + 1)",
    "od.pop(x + 1, None)",
    "with _lock:\n    {call}(x, depth + 1)",
    "{call}(x, depth + 1)",
    "_notify(x)",
    "log = log + [x] + _notify(x)",
    "if n > 3:\n    n = 0",
    "if cache is None:\n    cache = {call}(x, depth + 1)",
])


@st.composite
def programs(draw):
    lock = draw(st.sampled_from(["threading.Lock()", "threading.RLock()"]))
    lines = ["import collections", "import threading", "", f"_lock = {lock}", "od = collections.OrderedDict()", "n = 0", "items = []", "seen = {}", "log = []",
             "cache = None", "listeners = []", "", "",
             "def subscribe(fn):", "    listeners.append(fn)", "", "",
             "def _notify(x):", "    out = []", "    for fn in list(listeners):", "        out.append(fn(x))",
             "    return out", ""]
    for name in FUNCTIONS:
        lines += ["", f"def {name}(x, depth=0):", "    global n, log, cache", "    if depth > 2:", "        return 0"]
        for template in draw(st.lists(STATEMENTS, min_size=1, max_size=4)):
            body = template.format(call=draw(st.sampled_from(FUNCTIONS)))
            lines += textwrap.indent(body, "    ").splitlines()
        lines += ["    return len(items)", ""]
    listener = draw(st.sampled_from(FUNCTIONS))
    calls = draw(st.lists(st.sampled_from(FUNCTIONS), min_size=1, max_size=4))
    lines += ["", "if __name__ == '__main__':",
              f"    subscribe(lambda x: {listener}(x + 10, 2) if x < 2 else 0)"]
    lines += [f"    {fn}({i})" for i, fn in enumerate(calls)]
    lines += ["    print(n, list(items), dict(seen), list(log), cache, dict(od))"]
    return "\n".join(lines) + "\n"


def run(source: str, tmp_path, name: str) -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_text(source)
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=10, env=env)


@settings(max_examples=400 if STRESS else 30, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(programs())
def test_fixed_program_prints_the_same_and_never_hangs(tmp_path_factory, source):
    tmp_path = tmp_path_factory.mktemp("prog")
    try:
        original = run(source, tmp_path, "original.py")
    except subprocess.TimeoutExpired:
        return  # the original itself deadlocks: nothing to compare
    if original.returncode != 0:
        return
    result = fix_source(source, "prog.py", Config())
    if not result.changed:
        return
    try:
        fixed = run(result.source, tmp_path, "fixed.py")
    except subprocess.TimeoutExpired:
        pytest.fail(f"the fixed program hangs:\n{result.source}")
    assert fixed.returncode == 0, f"{fixed.stderr}\n{result.source}"
    assert fixed.stdout == original.stdout, result.source
