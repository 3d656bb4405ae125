"""The false findings seen on real code (issue 23), each quiet now, each beside a sibling that
must still be reported: a test that fails if the rule went quiet altogether."""

from __future__ import annotations

import textwrap

import pytest

from safestate_lint.config import Config
from safestate_lint.engine import check_source


def codes(source: str, path: str = "app.py", **config) -> list:
    return sorted({f.code for f in check_source(textwrap.dedent(source), path, Config(**config))})


SOCKET = """
import socket, threading
class Client:
    def __init__(self):
        self._lock = threading.Lock()
        self.sock = socket.socket()
        {setup}
        self.buf = []
    def send(self, data):
        with self._lock:
            self.sock.send(data)
    def pending(self):
        with self._lock:
            return len(self.buf)
"""


@pytest.mark.parametrize("setup,expected", [
    ("self.sock.setblocking(False)", []),
    ("self.sock.settimeout(0)", []),
    ("self.sock.settimeout(5)", ["SST404"]),
])
def test_a_non_blocking_socket_does_not_block(setup, expected):
    assert codes(SOCKET.format(setup=setup)) == expected


@pytest.mark.parametrize("call,expected", [
    ("requests.Session()", []),
    ("urllib3.PoolManager()", []),
    ("requests.get(url)", ["SST404"]),
])
def test_constructors_are_not_io(call, expected):
    source = f"""
    import threading, requests, urllib3
    _lock = threading.Lock()
    _clients = {{}}
    def make(url):
        with _lock:
            _clients[url] = {call}
    def get(url):
        with _lock:
            return _clients.get(url)
    """
    assert codes(source) == expected


def test_a_fork_child_hook_runs_on_one_thread():
    source = """
    import os
    _count = 0
    def _reset_in_child():
        global _count
        _count += 1
    os.register_at_fork(after_in_child=_reset_in_child)
    def handle():
        global _count
        _count += 1
    """
    found = check_source(textwrap.dedent(source), "app.py", Config())
    assert [(f.code, f.line) for f in found] == [("SST101", 10)]  # the request handler, not the hook


def test_the_child_branch_after_fork_runs_on_one_thread():
    source = """
    import os
    _served = 0
    def serve():
        global _served
        pid = os.fork()
        if pid == 0:
            _served += 1
        else:
            _served += 2
    """
    found = check_source(textwrap.dedent(source), "app.py", Config())
    assert [(f.code, f.line) for f in found] == [("SST101", 10)]  # the parent's branch only


@pytest.mark.parametrize("body,expected", [
    ("    _lock.acquire()\n    _jobs.append(job)\n    _lock.release()\n", []),  # nothing can leave between
    ("    _lock.acquire()\n", []),  # never released here: held on purpose (a hand-off)
    ("    _lock.acquire()\n    if not job:\n        return\n    _jobs.append(job)\n    _lock.release()\n", ["SST402"]),
])
def test_acquire_without_release_needs_a_path_that_skips_the_release(body, expected):
    source = "import threading\n_lock = threading.Lock()\n_jobs = []\ndef put(job):\n" + body
    assert [c for c in codes(source) if c == "SST402"] == expected


def test_a_lock_that_serialises_io_is_quiet_and_one_that_guards_state_is_not():
    io_only = """
    import threading, time
    _write_lock = threading.Lock()
    def write(f, data):
        with _write_lock:
            f.write(data)
            time.sleep(0.01)
    """
    assert codes(io_only) == []
    shared = io_only + """
    _stats = {}
    def stats():
        with _write_lock:
            return dict(_stats)
    """
    found = check_source(textwrap.dedent(shared), "app.py", Config())
    assert [f.code for f in found] == ["SST404"]
    assert "'stats()'" in found[0].context


@pytest.mark.parametrize("path,single,expected", [
    ("tests/test_app.py", True, []),
    ("test_app.py", True, []),
    ("app_test.py", True, []),
    ("conftest.py", True, []),
    ("tests/test_app.py", False, ["SST101"]),
    ("app.py", True, ["SST101"]),
])
def test_test_modules_are_single_threaded_unless_they_start_threads(path, single, expected):
    source = "count = 0\ndef test_count():\n    global count\n    count += 1\n"
    assert codes(source, path, single_threaded_tests=single) == expected
    threaded = "import threading\n" + source
    assert codes(threaded, path, single_threaded_tests=single) == ["SST101"]


@pytest.mark.parametrize("decorator,field", [
    ("@attrs.define", "attrs.field(factory=dict)"),
    ("@attrs.define", "attrs.Factory(dict)"),
    ("@dataclass", "field(default_factory=dict)"),
    ("@attr.s", "attr.ib(factory=dict)"),
])
def test_fields_of_attrs_and_dataclasses_are_instance_state(decorator, field):
    source = f"""
    import attr, attrs
    from dataclasses import dataclass, field
    {decorator}
    class Jobs:
        tasks: dict = {field}
        def add(self, k):
            self.tasks[k] = 1
            del self.tasks[k]
            self.tasks.setdefault(k, []).append(1)
    """
    assert codes(source, extend_select=("SST105",)) == []


def test_a_lone_atomic_operation_is_no_race_but_the_policy_rule_still_sees_it():
    source = "_seen = set()\ndef see(x):\n    _seen.add(x)\n"
    assert codes(source) == []
    assert codes(source, extend_select=("SST105",)) == ["SST105"]
    assert codes(source, select=("SST1",)) == []  # a prefix does not select the policy
    assert codes(source, select=("ALL",)) == ["SST105"]


def test_one_race_one_finding_test_then_mutate():
    source = "_cache = {}\ndef drop(k):\n    if k in _cache:\n        del _cache[k]\n"
    assert codes(source) == ["SST103"]


def test_a_fix_that_adds_a_lock_hazard_is_detected_line_numbers_aside():
    from safestate_lint.finding import Finding
    from safestate_lint.fixers import introduced

    before = [Finding("a.py", 3, 1, "SST403", "'a' then 'b' (line 3), 'b' then 'a' (line 9)")]
    moved = [Finding("a.py", 5, 1, "SST403", "'a' then 'b' (line 5), 'b' then 'a' (line 11)")]
    assert introduced(before, moved) == []  # the same finding, shifted by the fix
    new = Finding("a.py", 7, 1, "SST404", "'time.sleep()' can block while '_lock' is held: 'g()' (line 9) waits for it")
    assert introduced(before, moved + [new]) == [new]
    race = Finding("a.py", 8, 1, "SST101", "global 'n' is read and rebound without a lock in 'f()'")
    assert introduced(before, [race]) == []  # only lock misuse counts as a hazard the fix added


def test_the_fix_summary_counts_what_the_marks_count():
    from safestate_lint.fixers import fix_source

    source = textwrap.dedent("""
    _n = 0
    _cache = {}
    def bump():
        global _n
        _n += 1
    def get(k):
        if k not in _cache:
            _cache[k] = object()
        return _cache[k]
    """)
    result = fix_source(source, "app.py", Config())
    assert len(result.before) == 2
    assert result.fixed == sum(f.fixable for f in result.marked()) == 2


def test_a_rebinding_for_the_type_checker_is_no_write():
    source = """
    from typing import cast, Optional
    _config: Optional[dict] = None
    def load():
        global _config
        _config = cast(dict, _config)
        return _config
    def bump():
        global _config
        _config = dict(_config or {})
    """
    found = check_source(textwrap.dedent(source), "app.py", Config())
    assert [(f.code, f.line) for f in found] == [("SST101", 10)]


def test_a_one_permit_semaphore_is_the_mutex_a_fix_reuses():
    from safestate_lint.fixers import fix_source

    source = textwrap.dedent("""
    import threading
    _sem = threading.Semaphore(1)
    _count = 0
    def count():
        global _count
        with _sem:
            _count += 1
    def count_fast():
        global _count
        _count += 1
    """)
    result = fix_source(source, "app.py", Config())
    assert "with _sem:\n        _count += 1" in result.source.split("def count_fast")[1]
    assert "threading.Lock()" not in result.source


def test_a_wait_on_a_condition_built_on_the_held_lock_releases_it():
    source = """
    import threading
    class Dispatcher:
        def __init__(self):
            self.lock = threading.Lock()
            self.queue_cv = threading.Condition(self.lock)
            self.other = threading.Condition()
            self.queue = []
        def take(self):
            with self.lock:
                while not self.queue:
                    self.queue_cv.wait()
                return self.queue.pop()
        def take_badly(self):
            with self.lock:
                with self.other:
                    self.other.wait()
        def add(self, task):
            with self.lock:
                self.queue.append(task)
                self.queue_cv.notify()
    """
    found = check_source(textwrap.dedent(source), "app.py", Config())
    assert [(f.code, f.line) for f in found] == [("SST404", 17)]  # waiting on another condition keeps 'lock'


def test_taking_a_reentrant_lock_again_is_no_lock_order():
    source = """
    import threading
    class Metrics:
        def __init__(self):
            self._lock = threading.RLock()
            self._sensor_lock = threading.Lock()
        def remove_sensor(self):
            with self._lock:
                with self._sensor_lock:
                    self.remove_metric()
        def remove_metric(self):
            with self._lock:
                pass
        def add(self):
            with self._lock:
                with self._sensor_lock:
                    pass
    """
    assert codes(source) == []


LOCKED_CONTEXT = """
import contextlib, threading
class Store:
    def __init__(self):
        self._lock = threading.RLock()
        self._n = 0
    @contextlib.contextmanager
    def _locked(self):
        {body}
    def add(self):
        with self._locked():
            self._n += 1
    def sub(self):
        with self._lock:
            self._n -= 1
"""


@pytest.mark.parametrize("body,expected", [
    ("with self._lock:\n            yield self", []),
    ("got = self._lock.acquire(timeout=5)\n        if not got:\n            raise TimeoutError\n"
     "        try:\n            yield\n        finally:\n            self._lock.release()", []),
    ("yield self", ["SST302"]),  # holds nothing
    ("with self._lock:\n            pass\n        yield self", ["SST302"]),  # released before the yield
])
def test_a_context_manager_method_that_holds_the_lock_around_its_yield_locks(body, expected):
    assert codes(LOCKED_CONTEXT.format(body=body)) == expected


def test_an_annotation_without_a_value_declares_the_instances_attribute():
    source = """
    from typing import ClassVar, Dict
    class Facts:
        names: Dict[str, int]
        registry: ClassVar[Dict[str, int]] = {}
        def fill(self, k):
            if k not in self.names:
                self.names[k] = 1
        def register(self, k):
            if k not in self.registry:
                self.registry[k] = 1
    """
    assert codes(source) == ["SST202"]  # the ClassVar's test-then-set; `names` is each instance's own


def test_blocking_calls_under_one_acquisition_are_one_finding():
    source = """
    import threading, time
    _lock = threading.Lock()
    def resize():
        with _lock:
            time.sleep(1)
            time.sleep(2)
        with _lock:
            time.sleep(3)
    def submit():
        with _lock:
            return 0
    """
    found = check_source(textwrap.dedent(source), "app.py", Config())
    assert [(f.code, f.line) for f in found] == [("SST404", 6), ("SST404", 9)]  # one per acquisition
    assert "1 more blocking call under the same lock (line 7)" in found[0].context


@pytest.mark.parametrize("release,expected", [
    ("", []),  # never released here: a hand-off (an exit handshake another process releases)
    ("    _exit_lock.release()\n", ["SST404"]),  # a critical section around the join
])
def test_a_lock_acquired_and_handed_off_holds_no_critical_section(release, expected):
    source = ("import threading\n_exit_lock = threading.Lock()\ndef worker(t):\n"
              "    clean = _exit_lock.acquire(True, timeout=30)\n    t.join()\n" + release +
              "def release_worker():\n    _exit_lock.release()\ndef status():\n    with _exit_lock:\n        return 0\n")
    assert codes(source) == expected


@pytest.mark.parametrize("write,expected", [
    ("self._stats.append(stat)", []),  # appends move no element: the loop sees one moment of the list
    ("self._stats.remove(stat)", ["SST302"]),  # a removal shifts what the loop has yet to read
])
def test_an_append_does_not_tear_a_loop_over_the_list(write, expected):
    source = f"""
    import threading
    class Sensor:
        def __init__(self):
            self._lock = threading.Lock()
            self._stats = []
        def record(self, value):
            with self._lock:
                for stat in self._stats:
                    stat.record(value)
        def add(self, stat):
            with self._lock:
                self._stats.append(stat)
        def change(self, stat):
            {write}
    """
    assert codes(source) == expected


@pytest.mark.parametrize("write,expected", [
    ("self._states[k].error = e", []),  # an attribute of an element: the dict does not change
    ("self._states[k] = e", ["SST302"]),  # an insert: the loop raises 'changed size during iteration'
])
def test_setting_an_attribute_of_an_element_does_not_tear_a_loop_over_the_container(write, expected):
    source = f"""
    import threading
    class Monitor:
        def __init__(self):
            self._lock = threading.Lock()
            self._states = {{}}
        def new(self, k, state):
            with self._lock:
                self._states[k] = state
        def fail(self, k, e):
            {write}
        def cancel_all(self):
            with self._lock:
                for state in self._states.values():
                    state.cancel()
    """
    assert codes(source) == expected


RESERVOIR = """
import threading
class Reservoir:
    def __init__(self):
        self._lock = threading.Lock()
    def collect(self):
        with self._lock:
            self._reset()
    def offer(self, v):
        with self._lock:
            self._find(v)
    def _reset(self):
        pass
    def _find(self, v):
        pass
class Simple(Reservoir):
    def __init__(self):
        super().__init__()
        self._seen = 0
    def _reset(self):
        super()._reset()
        self._seen = 0
    def _find(self, v):
        self._seen += 1
"""


@pytest.mark.parametrize("extra,expected", [
    ("", []),  # `super()._reset()` in the override runs the base's: every caller of the override holds the lock
    ("    def clear(self):\n        self._reset()\n", ["SST302"]),  # a caller without the lock
])
def test_a_super_call_is_no_unknown_caller_of_the_override(extra, expected):
    assert codes(RESERVOIR + extra) == expected


CONNECTION = """
import threading
class Connection:
    def __init__(self):
        self._lock = threading.Lock()
        self._reason = None
        def _run():
            try:
                pass
            except Exception as exc:
{call}
        self._thread = threading.Thread(target=_run)
    def close(self, reason):
        with self._lock:
            if self._reason is None:
                self._record(reason)
    def _record(self, reason):
        self._reason = reason
"""


@pytest.mark.parametrize("call,expected", [
    ("                with self._lock:\n                    self._record(exc)", []),  # a closure calls it under the lock
    ("                self._record(exc)", ["SST302"]),
])
def test_a_closure_over_self_is_a_caller_the_graph_knows(call, expected):
    assert codes(CONNECTION.format(call=call)) == expected


SELECTOR = """
import threading
class Selector:
    def __init__(self):
        self._lock = threading.Lock()
        self._thread = None
        self._ready = []
    def start(self):
        if self._thread is not None:
            return
        t = threading.Thread(target=self._run, daemon=True)
        self._thread = t
        t.start()
        {after}
    def stop(self):
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
    def _run(self):
        with self._lock:
            self._ready.clear()
{extra}"""


@pytest.mark.parametrize("after,extra,expected", [
    # before `t.start()` no thread of the class runs, and only its owner calls start(): like `__init__`
    ("pass", "", {"stop"}),
    # a test and write after the start runs beside the class's thread
    ("if self._thread is None:\n            self._thread = t", "", {"start", "stop"}),
    # a method that may run once the object is shared calls start() again: after sharing too
    ("pass", "    def restart(self):\n        self.stop()\n        self.start()\n", {"start", "stop"}),
])
def test_a_start_method_before_it_starts_the_thread_is_like_the_constructor(after, extra, expected):
    found = check_source(textwrap.dedent(SELECTOR).format(after=after, extra=extra), "app.py", Config())
    assert {f.function.rsplit(".", 1)[-1] for f in found if f.code == "SST304"} == expected


OBSERVER = """
import threading
class Observer(threading.Thread):
    def __init__(self):
        super().__init__()
        self._lock = threading.RLock()
        self._emitters = {}
    def start(self):
        for key in list(self._emitters):
            try:
                self._emitters[key].start()
            except Exception:
                self._remove(key)
                raise
        super().start()
    def schedule(self, key, emitter):
        with self._lock:
            self._emitters[key] = emitter
    def unschedule(self, key):
        with self._lock:
            self._remove(key)
    def _remove(self, key):
        if key in self._emitters:
            del self._emitters[key]
{extra}"""


@pytest.mark.parametrize("extra,expected", [
    ("", []),  # the only unlocked call is in start() before super().start(): as from the constructor
    ("    def forget(self, key):\n        self._remove(key)\n", ["SST302"]),
])
def test_a_helper_called_before_the_thread_starts_is_called_as_from_the_constructor(extra, expected):
    assert codes(OBSERVER.replace("{extra}", extra)) == expected


@pytest.mark.parametrize("store,expected", [
    ("self._agg = cast(Sum, self._agg)", []),  # the same object, for the type checker
    ("self._agg = Sum(self._agg)", ["SST304"]),  # a new object, after a test of the old one
])
def test_an_attribute_rebound_for_the_type_checker_is_no_write(store, expected):
    source = f"""
    import threading
    from typing import cast
    class Sum:
        def __init__(self, other=None):
            self.n = 0
    class Match:
        def __init__(self):
            self._lock = threading.Lock()
            self._agg = Sum()
        def conflicts(self):
            if isinstance(self._agg, Sum):
                {store}
            return self._agg.n
    """
    assert codes(source) == expected


@pytest.mark.parametrize("guard,expected", [
    # the raise states the contract (start once): racing past it takes two callers that break it
    ("if self._running:\n            raise RuntimeError('not reentrant')", []),
    # a decision the method relies on: two callers both run the loop
    ("if self._running:\n            return", ["SST304"]),
])
def test_a_precondition_that_raises_is_no_check_then_act(guard, expected):
    source = """
    import threading
    class Poller:
        def __init__(self):
            self._lock = threading.Lock()
            self._running = False
        def start(self):
            {guard}
            self._running = True
            self.poll()
        def poll(self):
            with self._lock:
                pass
    """
    assert codes(textwrap.dedent(source).replace("{guard}", guard)) == expected


@pytest.mark.parametrize("guard,expected", [
    ("if _METHOD is not None and not force:\n        raise RuntimeError('already set')", []),
    ("if _METHOD is not None and not force:\n        return", ["SST201"]),
])
def test_a_setter_that_rejects_a_second_call_is_no_lazy_initialisation(guard, expected):
    source = "_METHOD = None\ndef set_method(method, force=False):\n    global _METHOD\n    " + guard + \
             "\n    _METHOD = method\n"
    assert codes(source) == expected


NOTIFIER = """
class Notifier:
    \"\"\"Safe to call from any thread: notify() routes through the loop's thread-safe call_soon.\"\"\"
    def __init__(self, loop):
        self._loop = loop
        self._fut = None
        self._pending = False
    def _wakeup(self):
        if self._fut is not None:
            self._fut.set_result(None)
        else:
            self._pending = True
    async def wait(self):
        if self._fut is not None:
            return
        self._fut = self._loop.create_future()
        if self._pending:
            self._pending = False
            self._fut.set_result(None)
        try:
            await self._fut
        finally:
            self._fut = None
    def notify(self):
        self._loop.call_soon_threadsafe(self._wakeup)
{extra}"""


@pytest.mark.parametrize("extra,expected", [
    # only its coroutine and the callback it schedules on its loop touch the state: one loop runs both
    ("", []),
    # a method any thread calls writes the state too
    ("    def reset(self):\n        if self._pending:\n            self._pending = False\n", ["SST304"]),
])
def test_state_of_an_object_bound_to_one_event_loop_lives_on_that_loop(extra, expected):
    assert codes(NOTIFIER.replace("{extra}", extra)) == expected


POLLER = '''
import threading
class Poller:
    {doc}
    def __init__(self):
        self._mutex = threading.Lock()
        self._events = {{}}
        self._waker = object()
    def wake_threadsafe(self):
        with self._mutex:
            if self._waker is not None:
                self._send()
    def _send(self):
        pass
    def close(self):
        with self._mutex:
            self._remove(0)
            if self._waker is not None:
                self._waker = None
    def add_handler(self, fd):
        self._events[fd] = 1
        self._remove(fd)
    def poll_once(self):
        if self._waker is not None:
            self._waker = None
    def _remove(self, fd):
        if fd in self._events:
            del self._events[fd]
'''


@pytest.mark.parametrize("doc,expected", [
    # `wake_threadsafe` is what other threads may call: the handler map is the loop thread's alone,
    # while the waker it touches stays shared
    ('"""An I/O loop\'s poller."""', [("SST302", 25)]),
    # the class says all of it is safe for threads: every method is an entry from any thread
    ('"""A poller that is safe to use from multiple threads."""', [("SST302", 25), ("SST302", 28)]),
])
def test_a_class_that_names_its_thread_safe_methods_keeps_the_rest_on_its_owner_thread(doc, expected):
    found = check_source(textwrap.dedent(POLLER.format(doc=doc)), "app.py", Config())
    assert [(f.code, f.line) for f in found] == expected


@pytest.mark.parametrize("doc,expected", [
    ('"""Needs to be called before any other methods."""', []),  # the object's one-time set-up
    ('"""Begin a transaction."""', ["SST304"]),
])
def test_a_method_documented_as_the_one_time_set_up_runs_before_sharing(doc, expected):
    source = f'''
    import threading
    class Producer:
        """Thread-safe: share one producer."""
        def __init__(self):
            self._lock = threading.Lock()
            self._init_result = None
        def init_transactions(self):
            {doc}
            if self._init_result is None:
                self._init_result = object()
            return self._init_result
    '''
    assert codes(source) == expected


@pytest.mark.parametrize("update,expected", [
    ("self.running += [work_id]", []),  # a list extended in place: the same object is stored back
    ("self.count += 1", ["SST304"]),  # a number: read, add, store (a lost update)
])
def test_extending_a_list_in_place_is_no_read_modify_write(update, expected):
    source = f"""
    import threading
    class Manager(threading.Thread):
        def __init__(self):
            super().__init__()
            self.running = []
            self.count = 0
        def run(self):
            self.add(0)
        def add(self, work_id):
            {update}
    """
    assert codes(source) == expected


REGISTRY = """
import threading
class Registry:
    def __init__(self):
        self._lock = threading.Lock()
        self._items = {}
    def add(self, k, v):
        with self._lock:
            self._items[k] = v
    def _pairs(self):
        for k in self._items:
            yield k, self._items[k]
    def dump(self):
        with self._lock:
            for k, v in self._pairs():
                print(k, v)
            return sorted(self._pairs())
{extra}"""


@pytest.mark.parametrize("extra,expected", [
    ("", []),  # the generator helper is iterated only under the lock: caller-locked, as a function is
    # made under the lock, iterated after it is released: its loop runs unlocked
    ("    def snapshot(self):\n        with self._lock:\n            pairs = self._pairs()\n        return list(pairs)\n",
     ["SST104"]),
])
def test_a_generator_helper_is_locked_where_it_is_iterated(extra, expected):
    assert codes(REGISTRY.replace("{extra}", extra)) == expected


@pytest.mark.parametrize("make,expected", [
    ("self._job_lock = zk.Lock('/jobs/lock')", []),  # a ZooKeeper lock: it excludes other processes, not threads
    ("self._job_lock = filelock.FileLock(path)", []),
    ("self._job_lock = threading.Lock()", ["SST404"]),  # an in-process lock held across the request
])
def test_a_lock_outside_the_process_is_no_critical_section(make, expected):
    source = f"""
    import threading, time, filelock
    class Jobs:
        def __init__(self, zk, path):
            {make}
            self.done = []
        def run(self, job):
            with self._job_lock:
                time.sleep(1)
        def finished(self):
            with self._job_lock:
                return len(self.done)
    """
    assert codes(source) == expected


def test_a_named_lock_made_in_the_with_is_no_thread_lock():
    source = """
    import time
    def run(zk, job):
        with zk.Lock("/jobs/run"):
            time.sleep(1)
    def status(zk):
        with zk.Lock("/jobs/status"):
            return 0
    """
    assert codes(source) == []
    assert codes(source.replace('zk.Lock("/jobs/run")', "_run_lock")
                 .replace('zk.Lock("/jobs/status")', "_run_lock")
                 .replace("import time", "import threading, time\n    _run_lock = threading.Lock()")) == ["SST404"]
