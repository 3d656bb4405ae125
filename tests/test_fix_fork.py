"""Fixes in modules that fork, proven with real forks: threads of the parent hammer the locked
statements while it forks children that run the same statements; a child must never hang on a
lock a parent thread held at the fork.  The fixed golden programs re-create their new locks
in the child (os.register_at_fork); the same fix without that registration hangs, which shows
the test can fail.

Standard library only (the goldens are checked in): the free-threaded leg of `.ci/run` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fix_cases"
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")

PREFORK = r'''
import importlib.util, os, sys, threading, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads running
spec = importlib.util.spec_from_file_location("case_under_test", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
stop = threading.Event()
def hammer():
    while not stop.is_set():
        m.serve(); m.Stats.error()
threads = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
for t in threads:
    t.start()
hung = done = 0
for _ in range(int(sys.argv[2])):
    pid = m.fork_worker()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
        time.sleep(0.005)
    else:
        if time.monotonic() >= deadline:
            os.kill(pid, 9); os.waitpid(pid, 0); hung += 1
            break
    done += 1
stop.set()
print(hung, done)
'''

MULTIPROCESSING = r'''
import importlib.util, sys, threading, warnings
warnings.simplefilter("ignore", DeprecationWarning)
spec = importlib.util.spec_from_file_location("case_under_test", sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
stop = threading.Event()
def hammer():
    while not stop.is_set():
        m.record("job")
threads = [threading.Thread(target=hammer, daemon=True) for _ in range(3)]
for t in threads:
    t.start()
hung = done = 0
for i in range(int(sys.argv[2])):
    process = m.spawn(i)
    process.join(3)
    if process.is_alive():
        process.kill(); process.join(); hung += 1
        break
    done += process.exitcode == 0
stop.set()
print(hung, done)
'''


def run(driver: str, source: str, tmp_path: Path, forks: int) -> tuple:
    path = tmp_path / "case.py"
    path.write_text(source)
    done = subprocess.run([sys.executable, "-c", driver, str(path), str(forks)], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    assert done.returncode == 0, done.stderr
    hung, finished = map(int, done.stdout.split())
    return hung, finished


def without_registration(fixed: str) -> str:
    """The same fix, its locks not made anew in the child."""
    lines = [line for line in fixed.splitlines() if "os.register_at_fork(" not in line and "hasattr(os," not in line]
    assert len(lines) < len(fixed.splitlines())
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case,driver", [pytest.param("fork_prefork", PREFORK, id="os.fork"),
                                         pytest.param("fork_multiprocessing", MULTIPROCESSING, id="multiprocessing")])
def test_children_forked_while_threads_hold_the_new_locks_never_hang(tmp_path, case, driver):
    fixed = (CASES / f"{case}.fixed.py").read_text()
    assert "os.register_at_fork(after_in_child=_reinit_locks_after_fork)" in fixed
    assert run(driver, fixed, tmp_path, forks=30) == (0, 30)


@pytest.mark.parametrize("case,driver", [pytest.param("fork_prefork", PREFORK, id="os.fork"),
                                         pytest.param("fork_multiprocessing", MULTIPROCESSING, id="multiprocessing")])
def test_the_same_fix_without_the_after_fork_hook_hangs_a_child(tmp_path, case, driver):
    fixed = (CASES / f"{case}.fixed.py").read_text()
    hung, _ = run(driver, without_registration(fixed), tmp_path, forks=200)
    assert hung == 1


def test_only_modules_that_fork_get_the_hook():
    guarded = (CASES / "fork_multiprocessing.fixed.py").read_text()
    assert 'if hasattr(os, "register_at_fork"):' in guarded  # multiprocessing may run where nothing forks
    plain = (CASES / "fork_prefork.fixed.py").read_text()
    assert "hasattr(os" not in plain and "Stats._lock = threading." in plain and "global _served_lock" in plain
    for other in CASES.glob("*.fixed.py"):
        if not other.name.startswith("fork_"):
            assert "register_at_fork" not in other.read_text(), other.name
