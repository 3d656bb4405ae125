"""The runtime's locks in a forked child: a child forked while another thread holds a
container's lock must not hang on it (real threads, a real fork, a timeout)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from safestate_lint.runtime import AtomicCounter, LockedDict, LockedList, LockedSet
from safestate_lint.runtime import _fork

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")


def _child_status(pid: int, seconds: float) -> str:
    """'ok', 'failed' or 'hung' (the child is killed after `seconds`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "ok" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return "hung"


def _fork_while_held(lock, use, seconds: float = 10) -> str:
    """Fork while another thread holds `lock`; the child calls `use()`."""
    held, release = threading.Event(), threading.Event()

    def holder():
        with lock:
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: one thread; exit without running the parent's cleanup
            code = 1
            try:
                use()
                code = 0
            finally:
                os._exit(code)
        return _child_status(pid, seconds)
    finally:
        release.set()
        thread.join(10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork() of a multi-threaded process
@pytest.mark.parametrize("make,use", [
    (LockedDict, lambda d: d.__setitem__("k", 1)),
    (LockedList, lambda items: items.append(1)),
    (LockedSet, lambda s: s.add(1)),
    (AtomicCounter, lambda c: c.increment()),
])
def test_a_child_forked_while_another_thread_holds_the_lock_does_not_hang(make, use):
    obj = make()
    lock = obj.lock if hasattr(obj, "lock") else obj._lock
    assert _fork_while_held(lock, lambda: use(obj)) == "ok"
    use(obj)  # the parent's lock was released by its holder and still works


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_hazard_is_real_for_a_plain_lock():
    """What the re-creation prevents: a plain lock held by another thread at the fork hangs the child."""
    lock = threading.Lock()

    def use():
        with lock:
            pass

    assert _fork_while_held(lock, use, seconds=2) == "hung"


def test_tracking_never_keeps_a_container_alive():
    before = len(_fork._owners)
    made = [LockedDict(a=1) for _ in range(100)] + [LockedList([1]) for _ in range(100)]
    assert len(_fork._owners) >= before + 200
    del made
    gc.collect()
    assert len(_fork._owners) <= before


def test_without_register_at_fork_the_runtime_still_works():
    """Windows has no os.register_at_fork: the containers are made and used as usual."""
    program = textwrap.dedent("""
        import os
        del os.register_at_fork
        from safestate_lint.runtime import LockedDict, AtomicCounter
        from safestate_lint.runtime import _fork
        d = LockedDict(a=1); d["b"] = 2
        c = AtomicCounter(); c.increment()
        assert not _fork.FORKS_TRACKED and not _fork._owners and dict(d) == {"a": 1, "b": 2} and c.value == 1
        print("ok")
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
