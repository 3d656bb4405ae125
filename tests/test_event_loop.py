"""Event-loop confinement (issue 14): each piece of state's execution context from the call
graph, findings across an await in every mode, `assume-single-event-loop`, the context in
every message, and bad input that must never crash."""

from __future__ import annotations

import re
import textwrap

import pytest
from helpers import FIXTURES, expected_findings, run_cli

from safestate_lint.config import Config, parse_table
from safestate_lint.engine import check_source
from safestate_lint.finding import UserError

GOLDEN = FIXTURES / "asyncio_contexts.py"
TAG = re.compile(r"#.*\b(SST\d{3})\b\s*\[(\w+)\]")
PHRASES = {
    "await": "across an await (line",
    "coroutines": "only from coroutines (safe on one event loop; a race once threads or several loops call it)",
    "threads": "reachable from threads via",
}
ON = Config(assume_single_event_loop=True)


def tags(source: str):
    found = {}
    for number, line in enumerate(source.splitlines(), 1):
        match = TAG.search(line)
        if match:
            found[(number, match.group(1))] = match.group(2)
    return found


def test_golden_contexts_with_the_option_off_and_on():
    source = GOLDEN.read_text()
    tagged = tags(source)
    assert set(tagged) == expected_findings(source) and set(tagged.values()) == set(PHRASES)
    off = {(f.line, f.code): f"{f.message}; {f.context}" for f in check_source(source, "asyncio_contexts.py", Config())}
    assert set(off) == set(tagged)
    for where, tag in tagged.items():
        assert PHRASES[tag] in off[where], (where, off[where])
    on = {(f.line, f.code): f"{f.message}; {f.context}" for f in check_source(source, "asyncio_contexts.py", ON)}
    assert set(on) == {where for where, tag in tagged.items() if tag != "coroutines"}
    assert all(on[where] == off[where] for where in on)  # the option hides; it never rewords


def test_messages_name_the_thread_entry_point():
    off = {f.line: f"{f.message}; {f.context}" for f in check_source(GOLDEN.read_text(), "asyncio_contexts.py", Config())}
    text = GOLDEN.read_text().splitlines()
    line = text.index("def _count(n):") + 2
    assert off[line].endswith("reachable from threads via '_count()' (run via run_in_executor in 'submit()')")
    renders = next(i for i, l in enumerate(text, 1) if "_renders += 1" in l)
    assert "'_render()' (run via Thread in 'start_renderer()')" in off[renders]


def messages(source: str, config: Config = Config()):
    return [(f.code, "; ".join(p for p in (f.message, f.context) if p)) for f in check_source(textwrap.dedent(source), "m.py", config)]


def test_a_sync_module_keeps_its_messages():
    # no coroutine in the module: everything runs in threads and messages are as before
    assert messages("n = 0\ndef f():\n    global n\n    n += 1\n") == [
        ("SST101", "global 'n' is read and rebound without a lock in 'f()'")]


def test_public_sync_function_and_sync_route_handler_are_threads():
    source = """
        import fastapi
        app = fastapi.FastAPI()
        hits = {}
        seen = []

        @app.get("/")
        def index():
            hits["index"] = hits.get("index", 0) + 1

        def record(x):
            seen.insert(0, x)  # not atomic (a lone append would be)

        async def handler(x):
            hits["h"] = hits.get("h", 0) + 1
            seen.insert(0, x)
    """
    found = messages(source, ON)
    assert any("via 'index()' (a sync route handler, run in a thread pool)" in m for _, m in found)
    assert any("via 'record()' (callable from outside the module)" in m for _, m in found)
    assert len(found) == 4  # nothing hidden: threads touch both



def test_a_sync_function_returning_a_coroutine_does_not_run_its_body():
    # discord.py's AsyncWebhookAdapter: public sync methods `return self.request(...)`; the
    # coroutine's body runs on the loop that awaits it, not in the sync caller's thread
    source = """
        import asyncio

        class Adapter:
            def __init__(self):
                self._locks = {}

            async def request(self, bucket):
                try:
                    lock = self._locks[bucket]
                except KeyError:
                    self._locks[bucket] = lock = asyncio.Lock()
                async with lock:
                    await asyncio.sleep(0)

            def delete(self, bucket):
                return self.request(bucket)

        adapter = Adapter()
    """
    off = messages(source)
    assert off and all("only from coroutines" in m and "reachable from threads" not in m for _, m in off), off
    assert messages(source, ON) == []

def test_asyncio_run_in_a_thread_runs_its_coroutines_in_that_thread():
    source = """
        import asyncio
        import threading
        count = 0

        async def work():
            global count
            count += 1

        def _worker():
            asyncio.run(work())

        def start():
            threading.Thread(target=_worker, daemon=True).start()

        async def main():
            global count
            count += 1
    """
    found = messages(source, ON)
    assert len(found) == 2 and all("run on its own event loop in a thread, by '_worker()'" in m for _, m in found)


@pytest.mark.parametrize("source", [
    # coroutines passed around as values
    "import asyncio\nn = 0\nasync def f():\n    global n\n    n += 1\nCALLBACKS = [f]\n"
    "async def run(cb=f):\n    await asyncio.gather(cb(), *(c() for c in CALLBACKS))\n",
    # functools.partial into an executor, a lambda into to_thread, a method into submit
    "import asyncio, functools\nfrom concurrent.futures import ThreadPoolExecutor\nn = {}\n"
    "def _w(k):\n    n[k] = n.get(k, 0) + 1\nclass S:\n    def _m(self):\n        n['m'] = n.get('m', 0) + 1\n"
    "    async def go(self, loop):\n        await loop.run_in_executor(None, functools.partial(functools.partial(_w, 1)))\n"
    "        await asyncio.to_thread(lambda: self._m())\n        ThreadPoolExecutor().submit(self._m)\n"
    "        await loop.run_in_executor(None)\n        await asyncio.to_thread()\n",
    # callbacks registered with call_soon_threadsafe, nested loops, asyncio.run of a non-call
    "import asyncio\nn = 0\ndef _cb():\n    global n\n    n += 1\nasync def f(loop):\n    loop.call_soon_threadsafe(_cb)\n"
    "def g():\n    loop = asyncio.new_event_loop()\n    loop.run_until_complete(f(loop))\n    asyncio.run(f)\n"
    "    asyncio.run()\n    loop.run_until_complete(*[])\n",
    # a thread target that is not a function of the module, or not a name at all
    "import threading, asyncio\nn = []\nasync def f():\n    n.append(1)\n"
    "threading.Thread(target=print).start()\nthreading.Thread(target=(lambda: 1)()).start()\n"
    "threading.Thread(target=n[0]).start()\nasyncio.to_thread(f)\n",
])
def test_bad_input_never_crashes_and_undecided_context_counts_as_threads(source):
    for config in (Config(), ON):
        for code, message in messages(source, config):
            assert code.startswith("SST") and ("threads" in message or "coroutines" in message or "await" in message)


def test_a_function_used_as_a_value_counts_as_reachable_from_threads():
    source = "n = 0\ndef _bump():\n    global n\n    n += 1\nasync def f(callbacks):\n    callbacks.append(_bump)\n"
    assert [m for _, m in messages(source, ON)] == [
        "global 'n' is read and rebound without a lock in '_bump()'; "
        "reachable from threads via '_bump()' (used as a value: where it runs cannot be followed)"]


def test_a_callback_scheduled_on_the_loop_runs_on_the_loop():
    source = "n = 0\ndef _bump():\n    global n\n    n += 1\nasync def f(loop):\n    loop.call_soon_threadsafe(_bump)\n"
    assert messages(source, ON) == []  # call_soon_threadsafe runs it on the loop, among its tasks
    assert [m for _, m in messages(source)] == [
        "global 'n' is read and rebound without a lock in '_bump()'; only from coroutines (safe on one event loop; "
        "a race once threads or several loops call it)"]


def test_config_key_and_flag(tmp_path):
    assert parse_table({"assume-single-event-loop": True}, "pyproject.toml", str(tmp_path)).assume_single_event_loop
    with pytest.raises(UserError, match=r"pyproject.toml: error: .*'assume-single-event-loop' must be true or false"):
        parse_table({"assume-single-event-loop": "yes"}, "pyproject.toml", str(tmp_path))
    (tmp_path / "svc.py").write_text("n = {}\nasync def hit():\n    n['x'] = n.get('x', 0) + 1\n")
    assert run_cli(["check", "--no-cache", "-q", "svc.py"], cwd=tmp_path).returncode == 1
    assert run_cli(["check", "--no-cache", "-q", "--assume-single-event-loop", "svc.py"], cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nassume-single-event-loop = true\n")
    assert run_cli(["check", "--no-cache", "-q", "svc.py"], cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nassume-single-event-loop = 1\n")
    bad = run_cli(["check", "--no-cache", "-q", "svc.py"], cwd=tmp_path)
    assert bad.returncode == 2 and b"assume-single-event-loop" in bad.stderr and b"pyproject.toml" in bad.stderr


@pytest.mark.parametrize("binding, shared", [
    ("EMPTY: Final[Reader] = EmptyReader()", False),  # aiohttp's EMPTY_PAYLOAD: a constant of a subclass
    ("current: ContextVar[Reader] = ContextVar('current')", False),  # textual's active_worker: one per context
    ("current: ContextVar[Reader] = ContextVar('current', default=Reader())", True),  # discord.py: a shared default
    ("_reader: Optional[Reader] = None", True),  # a lazy module instance
    ("EMPTY: Final = Reader()", False),  # textual's EMPTY_CONTENT: a value constant
    ("READER: Reader = Reader()", True),  # cfn-lint's PROVIDER_SCHEMA_MANAGER: a typed service
])
def test_annotated_module_globals_share_an_instance_only_when_one_object_is_shared(binding, shared):
    source = f"""
        from contextvars import ContextVar
        from typing import Final, Optional

        class Reader:
            def __init__(self):
                self._size = 0

            def feed(self, n):
                self._size += n

        class EmptyReader(Reader):
            def feed(self, n):
                return None

        {binding}
    """
    found = messages(source)
    assert bool(found) == shared, found


def test_a_private_override_called_through_the_base_class_runs_where_its_callers_do():
    # aiohttp's IOBasePayload._close(): only `self._close()` in coroutines of the base class and
    # of the subclass call it; dispatch through the base is followed, so only coroutines reach it
    source = """
        import asyncio
        _closing = []

        class Payload:
            def _close(self):
                pass

            async def close(self):
                self._close()

        class FilePayload(Payload):
            def _close(self):
                _closing.insert(0, asyncio.get_running_loop().create_future())  # not atomic

            async def aclose(self):
                self._close()
    """
    off = messages(source)
    assert off and all("only from coroutines" in m for _, m in off), off
    assert messages(source, ON) == []
