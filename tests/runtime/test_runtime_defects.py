"""Smaller runtime defects, each reproduced first and now pinned by a test."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from safestate_lint.runtime import AsyncRWLock, StateManager, TTLCache, singleton
from safestate_lint.runtime.testing import hammer


def test_reset_during_an_inflight_creation_is_not_lost():
    release = threading.Event()
    made = []

    @singleton
    def slow():
        obj = object()
        made.append(obj)
        if len(made) == 1:
            release.wait(5)
        return obj

    first = []
    t = threading.Thread(target=lambda: first.append(slow()))
    t.start()
    while not made:
        time.sleep(0.001)
    slow.reset()  # while the first creation still runs
    release.set()
    t.join(5)
    later = slow()
    assert first == [made[0]]  # its caller gets the object it was creating
    assert later is made[1]  # a call after the reset gets a new one


def test_persisted_state_keeps_the_file_mode_and_cleans_crashed_temporaries(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{}")
    os.chmod(path, 0o644)
    stale = tmp_path / ".state.json.abc123.tmp"
    stale.write_text("half a write")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = tmp_path / ".state.json.def456.tmp"  # another writer may be using it: kept
    fresh.write_text("in progress")
    m = StateManager(path=str(path))
    assert not stale.exists() and fresh.exists()
    m.set("a", 1)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert json.loads(path.read_text()) == {"a": 1}


@pytest.mark.parametrize("key,value,message", [
    (1, "x", "keys must be str"),
    ("t", (1, 2), "would not reload the same"),
    ("d", {1: "a"}, "would not reload the same"),
    ("o", object(), "cannot be persisted as JSON"),
])
def test_persistence_refuses_what_json_would_change(tmp_path, key, value, message):
    m = StateManager(path=str(tmp_path / "s.json"))
    with pytest.raises(TypeError, match=message):
        m.set(key, value)
    m.set("ok", [1, {"a": None}])  # later writes still work
    assert StateManager(path=str(tmp_path / "s.json")).get("ok") == [1, {"a": None}]


def test_without_persistence_any_key_and_value_work():
    m = StateManager()
    m.set(1, (1, 2))  # type: ignore[arg-type]
    assert m.get(1) == (1, 2)  # type: ignore[arg-type]


def test_healthy_reflects_recent_timeouts_only():
    m = StateManager(lock_timeout=0.01)
    holding = threading.Event()
    done = threading.Event()

    def hold():
        with m.transaction():
            holding.set()
            done.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(5)
    with pytest.raises(Exception):
        m.get_many(["a"])
    done.set()
    t.join(5)
    assert not m.healthy()
    assert m.healthy(window=0.0) or m.stats["timeouts"] == 1
    time.sleep(0.02)
    assert m.healthy(window=0.01) and m.stats["timeouts"] == 1


def test_ttl_cache_len_and_delete_ignore_expired_entries():
    now = [0.0]
    cache = TTLCache(default_ttl=10, clock=lambda: now[0])
    cache.set("a", 1)
    cache.set("b", 2, ttl=1)
    now[0] = 5
    assert len(cache) == 1
    assert cache.delete("b") is False and cache.delete("a") is True and len(cache) == 0


def test_cancelling_the_first_awaiting_caller_lets_another_waiter_create_it():
    """A request timeout cancels the task creating an async singleton: the other waiters do
    not fail; one of them runs the factory again and all get its object."""
    runs = []

    @singleton
    async def connect():
        runs.append(1)
        await asyncio.sleep(0.05)
        return object()

    async def main():
        first = asyncio.ensure_future(connect())
        await asyncio.sleep(0.01)  # the first caller is creating it
        others = [asyncio.ensure_future(connect()) for _ in range(3)]
        await asyncio.sleep(0.01)
        first.cancel()
        results = await asyncio.gather(*others)
        with pytest.raises(asyncio.CancelledError):
            await first
        return results

    results = asyncio.run(asyncio.wait_for(main(), 5))
    assert len({id(r) for r in results}) == 1 and len(runs) == 2


def test_a_cancelled_waiting_writer_does_not_strand_the_readers_behind_it():
    lock = AsyncRWLock()

    async def main():
        entered = []

        async def reader(name):
            async with lock.read():
                entered.append(name)
                await asyncio.sleep(0.05 if name == "first" else 0)

        async def writer():
            async with lock.write():
                entered.append("writer")

        first = asyncio.ensure_future(reader("first"))
        await asyncio.sleep(0.01)
        waiting_writer = asyncio.ensure_future(writer())  # waits for the first reader
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(reader("queued"))  # waits behind the writer
        await asyncio.sleep(0.01)
        waiting_writer.cancel()
        await asyncio.wait_for(asyncio.gather(first, queued), 2)  # before the fix: stranded until timeout
        return entered

    assert asyncio.run(main()) == ["first", "queued"]


def test_listeners_see_changes_in_commit_order():
    m = StateManager({"n": 0})
    seen = []
    m.add_listener(lambda key, old, new: seen.append(new))
    hammer(lambda: m.update(lambda state: {"n": state["n"] + 1}), threads=8, iterations=300).raise_first()
    assert seen == list(range(1, 8 * 300 + 1))


def test_a_listener_that_writes_sees_its_change_after_every_listener_got_the_first():
    m = StateManager()
    log = []

    def first(key, old, new):
        log.append(("first", key))
        if key == "a":
            m.set("b", 1)

    m.add_listener(first)
    m.add_listener(lambda key, old, new: log.append(("second", key)))
    m.set("a", 1)
    assert log == [("first", "a"), ("second", "a"), ("first", "b"), ("second", "b")]


def test_a_submodule_import_never_shadows_the_function_of_the_same_name():
    """`ttl.py` imports `singleton.py`, which set the package attribute `singleton` to the
    module: `from safestate_lint.runtime import TTLCache, singleton` gave a module."""
    import subprocess
    import sys

    code = ("from safestate_lint.runtime import TTLCache, singleton\n"
            "import safestate_lint.runtime.singleton\n"
            "from safestate_lint.runtime import Singleton\n"
            "assert callable(singleton) and not hasattr(singleton, '__file__'), singleton\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert result.returncode == 0, result.stderr
