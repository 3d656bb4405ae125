"""The core proof: each unsafe sample races under real threads, and after `safestate-lint fix`
on a copy it never does.  The unfixed half proves the harness can fail.

Runs on the default interpreter and, in CI, on a free-threaded CPython (the fix itself is
run by the real CLI of an interpreter that has libcst: $SAFESTATE_FIX_PYTHON).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from safestate_lint.runtime.testing import explore, hammer

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "race_samples"
REPETITIONS = 100 if os.environ.get("SAFESTATE_STRESS") == "1" else 8
_ids = itertools.count()


@pytest.fixture(scope="module")
def fixed_dir(tmp_path_factory):
    target = tmp_path_factory.mktemp("fixed")
    for sample in SAMPLES.glob("*.py"):
        shutil.copy(sample, target / sample.name)
    python = os.environ.get("SAFESTATE_FIX_PYTHON", sys.executable)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([python, "-m", "safestate_lint", "fix", "--no-cache", str(target)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr  # everything fixed, nothing left
    check = subprocess.run([python, "-m", "safestate_lint", "check", "--no-cache", str(target)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert check.returncode == 0, check.stdout
    return target


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"race_sample_{next(_ids)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def counter_race(module) -> bool:
    hammer(lambda: module.add("abc"), threads=8, iterations=2000).raise_first()
    return module.total != 8 * 2000 * 3


def cache_race(module) -> bool:
    outcome = hammer(lambda: module.get("key"), threads=16, iterations=2)
    outcome.raise_first()
    return len(module.calls) != 1 or len({id(r) for r in outcome.results}) != 1


def module_singleton_race(module) -> bool:
    outcome = hammer(module.get, threads=16, iterations=1)
    outcome.raise_first()
    return len(module.created) != 1 or len({id(r) for r in outcome.results}) != 1


def class_singleton_race(module) -> bool:
    outcome = hammer(module.Config.instance, threads=16, iterations=1)
    outcome.raise_first()
    return len(module.created) != 1 or len({id(r) for r in outcome.results}) != 1


def async_singleton_race(module) -> bool:
    async def many():
        monitors = await asyncio.gather(*(module.get_health_monitor() for _ in range(5)))
        dbs = await asyncio.gather(*(module.get_db() for _ in range(5)))
        return monitors + dbs

    outcome = hammer(lambda: asyncio.run(many()), threads=8, iterations=1)
    outcome.raise_first()
    return len(module.created) != 1 or len(module.connections) != 1


def early_exit_race(module) -> bool:
    def create():
        try:
            module.create("bob", "secret")
        except ValueError:
            pass

    hammer(create, threads=8, iterations=1).raise_first()
    return len(module.created) != 1


def read_after_race(module) -> bool:
    outcome = hammer(module.next_id, threads=8, iterations=500)
    outcome.raise_first()
    return len(set(outcome.results)) != len(outcome.results)


def publish_race(module) -> bool:
    def get():
        manager = module.get_manager()
        return manager, manager.ready  # ready when the caller got it, not later

    outcome = hammer(get, threads=16, iterations=3)
    outcome.raise_first()
    return len({id(m) for m, _ in outcome.results}) != 1 or not all(ready for _, ready in outcome.results)


def per_call_lock_race(module) -> bool:
    hammer(lambda: module.add("k", "abc"), threads=8, iterations=2000).raise_first()
    return module._totals["k"] != 8 * 2000 * 3


def unreleased_race(module) -> bool:
    """Whether a caller waits forever after another one raised between acquire() and release()."""
    def record():
        for item in (None, "x", "y"):
            try:
                module.record(item)
            except ValueError:
                pass

    try:
        hammer(record, threads=4, iterations=50, timeout=5).raise_first()
    except TimeoutError:
        return True  # the stuck daemon threads stay parked on the abandoned module's lock
    return len(module._log) != 4 * 50 * 2


def pool_race(module) -> bool:
    """SST302: `release()` skips the lock `acquire()` takes: the pool loses `in_use` counts."""
    pool = module.ConnectionPool(8)

    def borrow():
        pool.acquire()
        pool.release()

    hammer(borrow, threads=8, iterations=2000).raise_first()
    return pool.in_use() != 0


def registry_race(module) -> bool:
    """SST301: a class-level registry rebuilt without a lock loses registrations."""
    module.PluginRegistry._plugins.clear()
    hammer(lambda: module.PluginRegistry.register("codec", object()), threads=8, iterations=500).raise_first()
    return module.PluginRegistry.count("codec") != 8 * 500


def torn_read_race(module) -> bool:
    """SST303: a reader without the declared lock sees a transfer half applied."""
    inventory = module.Inventory()

    def step():
        inventory.move(3)
        return inventory.total()

    outcome = hammer(step, threads=8, iterations=2000)
    outcome.raise_first()
    return any(total != 1000 for total in outcome.results)


CASES = {
    "counter": counter_race,
    "cache": cache_race,
    "module_singleton": module_singleton_race,
    "class_singleton": class_singleton_race,
    "async_singleton": async_singleton_race,
    "early_exit": early_exit_race,  # a test under a lock whose act came after it
    "read_after": read_after_race,  # a read after the lock that updated the value
    "publish": publish_race,  # a lazy init that published the object before it was ready
    "per_call_lock": per_call_lock_race,  # SST401: `with threading.Lock():` excludes nothing
    "unreleased": unreleased_race,  # SST402: a raise before release() leaves the lock held
    "pool": pool_race,  # SST302: a method that forgets the class's own lock
    "class_registry": registry_race,  # SST301: a class attribute every instance shares
    "guarded_dict": torn_read_race,  # SST303: a read outside the declared lock
}


def _calls(fn):
    """A worker that records what `fn(state)` returned."""
    def worker(state):
        state.results.append(fn(state))
    return worker


def _ignoring_value_error(fn):
    def call(state):
        try:
            return fn(state)
        except ValueError:
            return None
    return call


def _same(results) -> bool:
    return len({id(r) for r in results}) == 1


# Each sample under the explorer: (what setup adds to the state, the two workers, the invariant
# that holds after any schedule of the fixed version).  The explorer finds the race on every run
# of this test, on any interpreter and machine load: no luck involved.
EXPLORED = {
    "counter": (None, [_calls(lambda s: s.module.add("abc"))] * 2, lambda s: s.module.total == 6),
    "cache": (None, [_calls(lambda s: s.module.get("key"))] * 2,
              lambda s: len(s.module.calls) == 1 and _same(s.results)),
    "module_singleton": (None, [_calls(lambda s: s.module.get())] * 2,
                         lambda s: len(s.module.created) == 1 and _same(s.results)),
    "class_singleton": (None, [_calls(lambda s: s.module.Config.instance())] * 2,
                        lambda s: len(s.module.created) == 1 and _same(s.results)),
    "early_exit": (None, [_calls(_ignoring_value_error(lambda s: s.module.create("bob", "secret")))] * 2,
                   lambda s: len(s.module.created) == 1),
    "read_after": (None, [_calls(lambda s: s.module.next_id())] * 2, lambda s: len(set(s.results)) == 2),
    "publish": (None, [_calls(lambda s: (lambda m: (m, m.ready))(s.module.get_manager()))] * 2,
                lambda s: _same([m for m, _ in s.results]) and all(ready for _, ready in s.results)),
    "per_call_lock": (None, [_calls(lambda s: s.module.add("k", "abc"))] * 2, lambda s: s.module._totals["k"] == 6),
    "unreleased": (None, [_calls(lambda s: [_ignoring_value_error(lambda s: s.module.record(item))(s)
                                            for item in (None, "x")])] * 2,
                   lambda s: len(s.module._log) == 2),
    "pool": (lambda s: setattr(s, "pool", s.module.ConnectionPool(8)),
             [_calls(lambda s: (s.pool.acquire(), s.pool.release()))] * 2, lambda s: s.pool.in_use() == 0),
    "class_registry": (None, [_calls(lambda s: s.module.PluginRegistry.register("codec", object()))] * 2,
                       lambda s: s.module.PluginRegistry.count("codec") == 2),
    "guarded_dict": (lambda s: setattr(s, "inventory", s.module.Inventory()),
                     [_calls(lambda s: s.inventory.move(3)), _calls(lambda s: s.inventory.total())],
                     lambda s: s.results.count(1000) == 1 and None in s.results),
}
STRESS_ONLY = {"async_singleton"}  # asyncio's event loop does real I/O (a self-pipe): not the explorer's to schedule


def explore_sample(path: Path, name: str, **options):
    prepare, workers, holds = EXPLORED[name]

    def setup():
        state = SimpleNamespace(module=load(path), results=[])
        if prepare is not None:
            prepare(state)
        return state

    def invariant(state):
        assert holds(state), f"{name}: the invariant does not hold; results {state.results!r}"

    return explore(setup, *workers, invariant=invariant, **options)


def test_every_sample_but_the_async_one_is_explored():
    assert set(EXPLORED) | STRESS_ONLY == set(CASES) and not set(EXPLORED) & STRESS_ONLY


@pytest.mark.parametrize("name", sorted(EXPLORED))
def test_unfixed_sample_races_under_the_explorer_every_time(name):
    result = explore_sample(SAMPLES / f"{name}.py", name)
    expected = "deadlock" if name == "unreleased" else ("exception", "invariant")
    assert result.failed and result.kind in expected, result
    again = explore_sample(SAMPLES / f"{name}.py", name, replay=result.schedule)
    assert again.failed and again.kind == result.kind and again.runs == 1


@pytest.mark.parametrize("name", sorted(EXPLORED))
def test_fixed_sample_never_races_under_the_explorer(name, fixed_dir):
    for strategy in ("pct", "random"):
        result = explore_sample(fixed_dir / f"{name}.py", name, strategy=strategy, runs=40)
        assert not result.failed, result


@pytest.mark.parametrize("name", sorted(STRESS_ONLY))
def test_unfixed_sample_races(name):
    """The stress proof, for the sample the explorer cannot schedule."""
    race = CASES[name]
    assert any(race(load(SAMPLES / f"{name}.py")) for _ in range(20)), f"{name}: the race never showed"


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixed_sample_never_races(name, fixed_dir):
    race = CASES[name]
    source = (fixed_dir / f"{name}.py").read_text()
    assert source != (SAMPLES / f"{name}.py").read_text()
    for _ in range(REPETITIONS):
        assert not race(load(fixed_dir / f"{name}.py"))


# What 0.1's fixes made of these three samples: each still races, so `check` must still report it.
HALF_FIXED = {
    "early_exit": ("SST103", "import hashlib\nimport threading\n\nusers = {}\n_users_lock = threading.Lock()\n\n"
                   "def create(name, password):\n    with _users_lock:\n        if name in users:\n"
                   "            raise ValueError(name)\n    digest = password[::-1]\n    with _users_lock:\n"
                   "        users[name] = digest\n    return digest\n"),
    "read_after": ("SST101", (SAMPLES / "read_after.py").read_text()),
    "publish": ("SST203", "import threading\n\nclass Manager:\n    def validate(self):\n        self.ready = True\n\n"
                "_m = None\n_m_lock = threading.Lock()\n\ndef get_manager():\n    global _m\n    if _m is None:\n"
                "        with _m_lock:\n            if _m is None:\n                _m = Manager()\n"
                "                _m.validate()\n    return _m\n"),
}


@pytest.mark.parametrize("name", sorted(HALF_FIXED))
def test_half_fixed_shapes_are_still_reported(name, tmp_path):
    code, source = HALF_FIXED[name]
    (tmp_path / f"{name}.py").write_text(source)
    python = os.environ.get("SAFESTATE_FIX_PYTHON", sys.executable)
    result = subprocess.run([python, "-m", "safestate_lint", "check", "--no-cache", "-q", f"{name}.py"], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 1 and f" {code} " in result.stdout, result.stdout


def _finishes(fn, timeout: float = 5.0) -> bool:
    try:
        hammer(fn, threads=8, iterations=200, timeout=timeout).raise_first()
    except TimeoutError:
        return False
    return True


def test_inverted_lock_order_deadlocks_and_is_reported(tmp_path):
    """SST403 is about something real: the inverted program deadlocks under the explorer (every
    time, at once), the same program with one order does not (explorer and real threads), and
    `check` names both acquisition sites."""
    sample = ROOT / "tests" / "data" / "inverted_locks.py"
    # the explorer finds the deadlock on every run of this test, at once and without a timeout
    found = explore(lambda: load(sample), lambda m: m.transfer("a", "b", 1), lambda m: m.report())
    assert found.kind == "deadlock", found
    assert any("accounts_lock" in stack for stack in found.stacks) and any("audit_lock" in s for s in found.stacks)
    assert explore(lambda: load(sample), lambda m: m.transfer("a", "b", 1), lambda m: m.report(),
                   replay=found.schedule).kind == "deadlock"
    ordered_source = sample.read_text().replace(
        "    with audit_lock:\n        entries = len(audit)\n        with accounts_lock:",
        "    with accounts_lock:\n        entries = len(audit)\n        with audit_lock:")
    assert ordered_source != sample.read_text()
    (tmp_path / "ordered.py").write_text(ordered_source)
    for strategy in ("pct", "exhaustive"):
        assert not explore(lambda: load(tmp_path / "ordered.py"), lambda m: m.transfer("a", "b", 1),
                           lambda m: m.report(), strategy=strategy, runs=300).failed
    # and under real threads (the stress half: real scheduling, a free-threaded build's own)
    ordered = load(tmp_path / "ordered.py")
    ordered_calls = itertools.count()
    assert _finishes(lambda: ordered.transfer("a", "b", 1) if next(ordered_calls) % 2 else ordered.report(), 60)

    shutil.copy(sample, tmp_path / "inverted_locks.py")
    python = os.environ.get("SAFESTATE_FIX_PYTHON", sys.executable)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    found = subprocess.run([python, "-m", "safestate_lint", "check", "--no-cache", "-q", "inverted_locks.py", "ordered.py"],
                           cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120).stdout.splitlines()
    assert found == ["inverted_locks.py:22:9: SST403 'accounts_lock' is taken while 'audit_lock' is held: two "
                     "threads can deadlock"], found


def across_await_race(module) -> bool:
    """One event loop, no threads: 100 tasks update a total across an await, and 100 ask for one
    connection that is opened across an await."""
    async def many():
        await asyncio.gather(*(module.add("abc") for _ in range(100)))
        return await asyncio.gather(*(module.connection("db") for _ in range(100)))

    connections = asyncio.run(many())
    return module.total != 100 * 3 or len(module.opened) != 1 or len({id(c) for c in connections}) != 1


def test_across_await_races_on_one_loop_and_the_event_loop_fix_removes_them(tmp_path):
    """`total += await size(m)` and `if k not in d: d[k] = await open(k)` race between tasks of
    one event loop.  `fix --assume-single-event-loop` moves the await out of the read-modify-write
    and makes the slow open a single flight per key (a LoopLock per key, never one lock held across
    every open); without the option the findings stay, with the reason (several loops would share
    the lock)."""
    sample = ROOT / "tests" / "data" / "across_await.py"
    assert across_await_race(load(sample))  # every time: the tasks switch at each await
    python = os.environ.get("SAFESTATE_FIX_PYTHON", sys.executable)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    target = tmp_path / "across_await.py"
    shutil.copy(sample, target)
    plain = subprocess.run([python, "-m", "safestate_lint", "fix", "--no-cache", "--runtime", "none", str(target)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert plain.returncode == 1 and "only coroutines touch 'total'" in plain.stdout + plain.stderr
    result = subprocess.run([python, "-m", "safestate_lint", "fix", "--no-cache", "--assume-single-event-loop",
                             str(target)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    fixed = target.read_text()
    assert "size_result = await size(message)\n    total += size_result" in fixed
    assert "_connections_locks = LoopLock()" in fixed and "async with _connections_locks[key]:" in fixed
    for _ in range(REPETITIONS):
        assert not across_await_race(load(target))
