"""Smaller runtime defects, each reproduced first and now pinned by a test."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from safestate_lint.runtime import StateManager, TTLCache, singleton


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
