from __future__ import annotations

import asyncio
import threading
import time

import pytest

from safestate_lint.runtime import AsyncRWLock, AtomicCounter, LockTimeout, RWLock, Singleton, singleton
from safestate_lint.runtime.testing import hammer

from .harness import python_call, races


class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value = python_call(self.value) + 1


def test_atomic_counter_loses_nothing():
    counter = AtomicCounter()
    hammer(counter.increment, threads=8, iterations=20_000).raise_first()
    assert counter.value == 160_000 and int(counter) == 160_000
    assert counter.decrement(60_000) == 100_000 and counter.get_and_set(0) == 100_000 and counter.value == 0


def test_naive_counter_loses_increments():
    def attempt():
        counter = Counter()
        hammer(counter.increment, threads=8, iterations=5_000)
        return counter.value < 40_000

    assert races(attempt)


def make_slow(created):
    lock = threading.Lock()

    class Slow:
        def __init__(self):
            time.sleep(0.01)
            with lock:
                created.append(self)

    return Slow


def test_singleton_creates_once_under_32_threads():
    created = []
    Slow = make_slow(created)

    @singleton
    def get():
        return Slow()

    outcome = hammer(get, threads=32, iterations=2)
    outcome.raise_first()
    assert len(created) == 1 and all(r is created[0] for r in outcome.results)
    get.reset()
    assert get() is not created[0] and len(created) == 2


def test_naive_module_singleton_creates_twice():
    def attempt():
        created, state = [], {"instance": None}
        Slow = make_slow(created)

        def get():
            if state["instance"] is None:
                state["instance"] = Slow()
            return state["instance"]

        hammer(get, threads=32, iterations=1)
        return len(created) > 1

    assert races(attempt, tries=3)


def test_singleton_error_reaches_every_waiter_and_next_call_retries():
    attempts = []

    @singleton
    def get():
        attempts.append(1)
        time.sleep(0.05)
        if len(attempts) == 1:
            raise ValueError("boom")
        return "ok"

    outcome = hammer(get, threads=8, iterations=1)
    assert len(attempts) == 1 and len(outcome.exceptions) == 8
    assert all(isinstance(e, ValueError) for e in outcome.exceptions)
    assert get() == "ok" and len(attempts) == 2


def test_async_singleton_once_across_threads_and_event_loops():
    created = []
    lock = threading.Lock()

    @singleton
    async def get():
        await asyncio.sleep(0.01)
        with lock:
            created.append(object())
        return created[-1]

    async def many():
        return await asyncio.gather(*(get() for _ in range(20)))

    results = []
    outcome = hammer(lambda: results.extend(asyncio.run(many())), threads=8, iterations=1)
    outcome.raise_first()
    assert len(created) == 1 and len(results) == 160 and all(r is created[0] for r in results)


def test_singleton_base_class_one_instance_per_subclass():
    created = []

    class Service(Singleton):
        def __init__(self):
            time.sleep(0.01)
            created.append(type(self))

    class Other(Service):
        pass

    outcome = hammer(Service.instance, threads=16, iterations=1)
    outcome.raise_first()
    assert created == [Service] and Other.instance() is not Service.instance() and created == [Service, Other]
    Service.reset_instance()
    Other.reset_instance()


class Tracker:
    def __init__(self):
        self.lock = threading.Lock()
        self.readers = self.writers = self.violations = 0

    def enter(self, writer):
        with self.lock:
            if writer:
                self.writers += 1
                if self.writers > 1 or self.readers:
                    self.violations += 1
            else:
                self.readers += 1
                if self.writers:
                    self.violations += 1

    def leave(self, writer):
        with self.lock:
            if writer:
                self.writers -= 1
            else:
                self.readers -= 1


def exercise(read_ctx, write_ctx, iterations=300):
    tracker, i = Tracker(), [0]
    counter_lock = threading.Lock()

    def work():
        with counter_lock:
            i[0] += 1
            writer = i[0] % 4 == 0
        with (write_ctx() if writer else read_ctx()):
            tracker.enter(writer)
            python_call(None)
            time.sleep(0)
            tracker.leave(writer)

    hammer(work, threads=8, iterations=iterations).raise_first()
    return tracker.violations


def test_rwlock_never_lets_a_writer_overlap():
    lock = RWLock()
    assert exercise(lock.read, lock.write) == 0


def test_a_lock_that_does_not_exclude_shows_overlaps():
    import contextlib

    assert races(lambda: exercise(contextlib.nullcontext, contextlib.nullcontext) > 0, tries=5)


def stream_readers(acquire_read, release_read, stop):
    def reader():
        while not stop.is_set():
            acquire_read()
            time.sleep(0.002)
            release_read()

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.001)  # staggered: there is always a reader inside
    return threads


def test_waiting_writer_is_not_starved_by_readers():
    lock, stop = RWLock(), threading.Event()
    threads = stream_readers(lock.acquire_read, lock.release_read, stop)
    try:
        time.sleep(0.05)
        assert lock.acquire_write(timeout=2.0)
        lock.release_write()
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_reader_preferring_lock_starves_the_writer():
    class ReaderPreferring:
        def __init__(self):
            self.cond = threading.Condition()
            self.readers = 0

        def acquire_read(self):
            with self.cond:
                self.readers += 1

        def release_read(self):
            with self.cond:
                self.readers -= 1
                self.cond.notify_all()

        def acquire_write(self, timeout):
            with self.cond:
                return self.cond.wait_for(lambda: self.readers == 0, timeout)

    lock, stop = ReaderPreferring(), threading.Event()
    threads = stream_readers(lock.acquire_read, lock.release_read, stop)
    try:
        time.sleep(0.05)
        assert not lock.acquire_write(timeout=0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_rwlock_timeouts():
    lock = RWLock()

    def write_briefly():
        with pytest.raises(LockTimeout):
            with lock.write(timeout=0.05):
                pass

    def read_briefly():
        with lock.read(timeout=0.05):  # no writer waits any more: readers share
            return lock.readers

    with lock.read():
        _in_thread(write_briefly)
        assert _in_thread(read_briefly) == 2
    with lock.write():
        assert lock.writer_active
        assert _in_thread(lambda: lock.acquire_read(timeout=0.05)) is False
    with pytest.raises(RuntimeError):
        lock.release_read()


def test_async_rwlock():
    async def main():
        lock, tracker = AsyncRWLock(), Tracker()

        async def task(writer):
            async with (lock.write() if writer else lock.read()):
                tracker.enter(writer)
                await asyncio.sleep(0.001)
                tracker.leave(writer)

        await asyncio.gather(*(task(i % 3 == 0) for i in range(60)))
        async def write_briefly():
            with pytest.raises(LockTimeout):
                async with lock.write(timeout=0.05):
                    pass

        async def read_briefly():
            with pytest.raises(LockTimeout):
                async with lock.read_lock(timeout=0.05):
                    pass

        async with lock.read():
            await asyncio.ensure_future(write_briefly())  # another task
        async with lock.write_lock():
            await asyncio.ensure_future(read_briefly())
        return tracker.violations

    assert asyncio.run(main()) == 0


def test_runtime_names_load_lazily_and_correctly():
    import subprocess
    import sys

    code = ("import sys\nfrom safestate_lint.runtime import Singleton\nfrom safestate_lint.runtime import singleton\n"
            "assert callable(singleton) and not isinstance(singleton, type(sys)), singleton\n"
            "from safestate_lint.runtime import LockedDict\nassert 'asyncio' not in sys.modules or True\n"
            "import safestate_lint.runtime as r\nassert set(r.__all__) >= {'LockedDict', 'singleton', 'TTLCache'}\n"
            "assert 'libcst' not in sys.modules\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    only_dict = "import sys\nfrom safestate_lint.runtime import LockedDict\nassert 'asyncio' not in sys.modules\n"
    assert subprocess.run([sys.executable, "-c", only_dict]).returncode == 0


def _in_thread(fn, timeout=5.0):
    """Run fn in a thread; fail (never hang) if it does not finish in time."""
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: B902 - reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "deadlocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_rwlock_nested_read_while_a_writer_waits_does_not_deadlock():
    lock = RWLock()
    inner_entered = threading.Event()
    writer_started = threading.Event()

    def writer():
        writer_started.set()
        with lock.write():
            pass

    def reader():
        with lock.read():
            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            writer_started.wait()
            while not lock._writers_waiting:  # the writer is queued behind this reader
                time.sleep(0.001)
            with lock.read():  # a nested read section
                inner_entered.set()
        thread.join(5)
        return not thread.is_alive()

    assert _in_thread(reader) is True
    assert inner_entered.is_set()


def test_rwlock_write_is_reentrant_and_may_read_inside():
    lock = RWLock()

    def nested():
        with lock.write():
            with lock.write():
                with lock.read():
                    assert lock.writer_active and lock.readers == 1
        return lock.writer_active, lock.readers

    assert _in_thread(nested) == (False, 0)


def test_rwlock_upgrade_raises_at_once():
    lock = RWLock()

    def upgrade():
        with lock.read():
            with pytest.raises(RuntimeError, match="upgrad"):
                lock.acquire_write()
        return lock.readers

    assert _in_thread(upgrade) == 0


def test_rwlock_release_by_a_non_owner_raises():
    lock = RWLock()
    lock.acquire_write()
    with pytest.raises(RuntimeError):
        _in_thread(lock.release_write)
    lock.release_write()
    with pytest.raises(RuntimeError):
        lock.release_read()


def test_async_rwlock_is_reentrant_per_task_and_refuses_upgrade():
    lock = AsyncRWLock()

    async def main():
        async def writer():
            async with lock.write():
                return "wrote"

        async with lock.read():
            task = asyncio.ensure_future(writer())
            while not lock._writers_waiting:
                await asyncio.sleep(0)
            async with lock.read():  # nested read while a writer waits
                pass
            with pytest.raises(RuntimeError):
                async with lock.write():
                    pass
        async with lock.write():
            async with lock.write():
                async with lock.read():
                    pass
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(asyncio.wait_for(main(), 10)) == "wrote"
