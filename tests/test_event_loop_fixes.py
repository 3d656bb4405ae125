"""The event-loop fixes decide from the code: when an await may move out of an update, when a
single flight is the fix, and when the finding is left with its reason."""

from __future__ import annotations

import textwrap

import pytest

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.fixers import fix_source

ONE_LOOP = Config(assume_single_event_loop=True)


def fixed(source: str, config: Config = ONE_LOOP):
    result = fix_source(textwrap.dedent(source), "svc.py", config)
    return result, {f.code: result.why(f) for f in result.remaining}


def test_an_await_that_writes_the_state_does_not_move():
    """`total += await bump()` where bump() writes total: moving the await would change what is added."""
    result, left = fixed("""
        import asyncio
        total = 0
        async def bump():
            global total
            total = 0
            await asyncio.sleep(0)
            return 1
        async def add():
            global total
            total += await bump()
    """)
    assert not result.changed  # and no lock either: bump() would take it again under add()'s
    assert "not reentrant" in left["SST101"]


@pytest.mark.parametrize("statement", ["total += 1 if flag else await size()", "total += f(await size())"])
def test_a_conditional_or_foreign_call_keeps_the_await_where_it_is(statement):
    result, left = fixed(f"""
        import asyncio
        total = 0
        flag = True
        def f(n):
            print(n)
            return n
        async def size():
            await asyncio.sleep(0)
            return 1
        async def add():
            global total
            {statement}
    """)
    assert "size_result" not in result.source


def test_a_queue_wait_inside_the_window_is_left_with_the_reason():
    result, left = fixed("""
        import asyncio
        seen = 0
        async def take(q):
            global seen
            before = seen
            await q.get()
            seen = before + 1
    """)
    assert not result.changed
    assert "waits for other tasks" in left["SST101"] and "await q.get()" in left["SST101"]


def test_a_build_that_waits_for_a_queue_is_no_single_flight():
    result, left = fixed("""
        _jobs = {}
        async def job(name, q):
            if name not in _jobs:
                _jobs[name] = await q.get()
            return _jobs[name]
    """)
    assert not result.changed and "neither a lock nor a single flight" in left["SST103"]


def test_a_build_that_needs_its_own_getter_is_no_single_flight():
    result, left = fixed("""
        import asyncio
        _nodes = {}
        async def node(name):
            if name not in _nodes:
                _nodes[name] = await build(name)
            return _nodes[name]
        async def build(name):
            await asyncio.sleep(0)
            return [await node(p) for p in name[:-1]]
    """)
    assert not result.changed and "again" in left["SST103"]


def test_without_the_runtime_a_single_flight_is_left_and_a_moved_await_still_fixes():
    source = """
        import asyncio
        _pages = {}
        total = 0
        async def fetch(url):
            await asyncio.sleep(0)
            return url
        async def page(url):
            if url not in _pages:
                _pages[url] = await fetch(url)
            return _pages[url]
        async def add(url):
            global total
            total += await fetch(url)
    """
    result, left = fixed(source, Config(assume_single_event_loop=True, runtime_module="none"))
    assert "fetch_result = await fetch(url)\n    total += fetch_result" in result.source
    assert "LoopLock" not in result.source and "runtime-module is 'none'" in left["SST103"]
    assert [f.code for f in check_source(result.source, "svc.py", ONE_LOOP)] == ["SST103"]


def test_the_single_flight_needs_the_same_key_at_the_test_and_the_store():
    result, left = fixed("""
        import asyncio
        _pages = {}
        async def fetch(url):
            await asyncio.sleep(0)
            return url
        async def page(url):
            if url not in _pages:
                _pages[url.lower()] = await fetch(url)
            return _pages[url]
    """)
    assert "_pages_locks" not in result.source


def test_a_later_single_flight_takes_the_loop_lock_an_earlier_fix_declared():
    source = """
        import asyncio

        from safestate_lint.runtime import LoopLock

        _pages = {}
        _pages_locks = LoopLock()


        async def fetch(url):
            await asyncio.sleep(0)
            return url


        async def page(url):
            if url not in _pages:
                async with _pages_locks[url]:
                    if url not in _pages:
                        _pages[url] = await fetch(url)
            return _pages[url]


        async def preview(url):
            if url not in _pages:
                _pages[url] = await fetch(url)
            return _pages[url][:10]
    """
    result, left = fixed(source)
    assert result.source.count("async with _pages_locks[url]:") == 2 and "LoopLock()" in result.source
    assert result.source.count("LoopLock()") == 1 and not left
