"""`LoopLock`: one asyncio lock per running loop (never bound at import time), and a lock per
key for the single-flight shape.  Real loops, real tasks, real threads."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import textwrap
import threading
import weakref
from pathlib import Path

import pytest

from safestate_lint.runtime import LoopLock

ROOT = Path(__file__).resolve().parents[2]
MODULE_LOCK = LoopLock()  # made at import time, as a fixed module makes it


async def _contend(lock, tasks=20):
    """Tasks that each hold the lock across an await; returns how many ever overlapped."""
    inside, overlaps = [0], [0]

    async def task():
        async with lock:
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            await asyncio.sleep(0)
            inside[0] -= 1

    await asyncio.gather(*(task() for _ in range(tasks)))
    return overlaps[0]


def test_a_module_level_lock_serves_several_asyncio_runs():
    # an asyncio.Lock made at import time fails the second run under contention; this does not
    assert asyncio.run(_contend(MODULE_LOCK)) == 1
    assert asyncio.run(_contend(MODULE_LOCK)) == 1
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(_contend(MODULE_LOCK)) == 1
    finally:
        loop.close()


def test_an_import_time_asyncio_lock_is_what_fails():
    """The hazard the class exists for, shown with asyncio's own lock."""
    loop = asyncio.new_event_loop()  # the loop current at import time: 3.9 binds the lock to it
    asyncio.set_event_loop(loop)
    try:
        lock = asyncio.Lock()
    finally:
        asyncio.set_event_loop(None)
    try:
        with pytest.raises(RuntimeError, match="different event loop|attached to a different loop"):
            for _ in range(2):  # 3.10+: the second run; 3.9: already the first
                asyncio.run(_contend(lock))
    finally:
        loop.close()


def test_loops_in_threads_each_get_their_own_lock():
    lock = LoopLock()
    results, errors = [], []
    barrier = threading.Barrier(6)

    def run():
        try:
            barrier.wait()
            results.append(asyncio.run(_contend(lock, tasks=30)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and results == [1] * 6 and not any(t.is_alive() for t in threads)


def test_acquire_release_locked_as_asyncio_lock():
    lock = LoopLock()

    async def main():
        assert not lock.locked()
        assert await lock.acquire() is True
        assert lock.locked()
        waiter = asyncio.ensure_future(lock.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()
        lock.release()
        assert await asyncio.wait_for(waiter, 5) is True
        lock.release()
        assert not lock.locked()
        with pytest.raises(RuntimeError):
            lock.release()

    asyncio.run(main())
    assert not lock.locked() and "unlocked" in repr(lock)
    with pytest.raises(RuntimeError):  # no running loop: as asyncio refuses
        lock.release()


def test_a_closed_loop_is_not_kept_alive():
    lock = LoopLock()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_contend(lock, tasks=3))  # contended: asyncio's lock now refers to the loop
    loop.close()
    ref = weakref.ref(loop)
    del loop
    asyncio.run(_contend(lock, tasks=3))  # the next loop to use it drops the closed one
    gc.collect()
    assert ref() is None and len(lock._loops) == 1


def test_key_locks_single_flight_per_key_and_never_across_keys():
    lock = LoopLock()
    cache, builds = {}, []

    async def build(key):
        builds.append(key)
        await asyncio.sleep(0.05)
        return key * 2

    async def get(key):
        if key not in cache:
            async with lock[key]:
                if key not in cache:
                    cache[key] = await build(key)
        return cache[key]

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        got = await asyncio.gather(*(get(k % 10) for k in range(60)))
        return got, loop.time() - start

    got, seconds = asyncio.run(main())
    assert got == [(k % 10) * 2 for k in range(60)]
    assert sorted(builds) == list(range(10))  # each key built once
    assert seconds < 0.4  # 10 keys in parallel (~0.05 s), not one after another (0.5 s)
    assert not lock._loops or all(not state.keys for state in lock._loops.values())  # entries dropped


def test_a_failed_build_is_not_cached_and_the_next_task_builds():
    lock = LoopLock()
    cache, attempts = {}, []

    async def build(key):
        attempts.append(key)
        await asyncio.sleep(0.01)
        if len(attempts) == 1:
            raise ValueError("first build fails")
        return key

    async def get(key):
        if key not in cache:
            async with lock[key]:
                if key not in cache:
                    cache[key] = await build(key)
        return cache[key]

    async def main():
        return await asyncio.gather(*(get("k") for _ in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert sum(isinstance(r, ValueError) for r in results) == 1 and results.count("k") == 4
    assert attempts == ["k", "k"]


def test_a_cancelled_waiter_leaves_no_entry_and_no_held_lock():
    lock = LoopLock()

    async def main():
        async with lock["a"]:
            waiter = asyncio.ensure_future(_enter(lock, "a"))
            await asyncio.sleep(0)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        state = lock._here()
        assert state.keys == {}
        await asyncio.wait_for(_enter(lock, "a"), 5)  # free again
        hold = lock["b"]
        async with hold:
            with pytest.raises(RuntimeError, match="already entered"):
                async with hold:
                    pass  # pragma: no cover

    asyncio.run(main())


async def _enter(lock, key):
    async with lock[key]:
        await asyncio.sleep(0)


PY39 = Path("/root/.pyenv/versions/3.9.18/bin/python3.9")


@pytest.mark.skipif(not PY39.exists(), reason="no Python 3.9 interpreter here")
def test_on_python_39_a_module_level_loop_lock_serves_two_runs():
    """3.9 binds `asyncio.Lock()` to a loop when it is made; `LoopLock` makes it in the loop."""
    program = textwrap.dedent("""
        import asyncio
        from safestate_lint.runtime import LoopLock
        LOCK = LoopLock()
        PLAIN = asyncio.Lock()
        async def contend(lock):
            async def task():
                async with lock:
                    await asyncio.sleep(0)
            await asyncio.gather(*(task() for _ in range(5)))
        for _ in range(2):
            asyncio.run(contend(LOCK))
        try:
            asyncio.run(contend(PLAIN))
        except RuntimeError:
            print("plain lock fails")
        print("ok")
    """)
    done = subprocess.run([str(PY39), "-c", program], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain", "lock", "fails", "ok"]
