"""The project index: roots, module names, summaries, views, the cache, and file independence.

Each test builds a small project in tmp_path and runs the real CLI (or the index's one door,
`view_for`), so what is tested is what users run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, List

import pytest
from helpers import run_cli

from safestate_lint.config import discover
from safestate_lint.index import EMPTY_VIEW, view_for
from safestate_lint.index.roots import module_name, project_root, resolve_relative, source_roots

CLIENT = ("class Client:\n    def __init__(self):\n        self.calls = 0\n\n"
          "    def call(self):\n        self.calls += 1\n")


def write(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def check(root: Path, *args: str) -> List[dict]:
    done = run_cli(["check", "--format", "json", "--exit-zero", *args], cwd=root)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def lines_of(findings: List[dict], path: str) -> List[tuple]:
    return sorted((f["line"], f["code"]) for f in findings if f["path"] == path)


def test_root_is_the_nearest_marker_and_a_bare_directory_is_its_own_project(tmp_path):
    write(tmp_path, {"proj/pyproject.toml": "", "proj/src/app/x.py": "", "loose/y.py": ""})
    assert project_root(str(tmp_path / "proj" / "src" / "app")) == (str(tmp_path / "proj"), True)
    assert project_root(str(tmp_path / "loose"))[1] is False
    roots = source_roots(str(tmp_path / "proj"))
    assert roots[0] == str(tmp_path / "proj" / "src")  # the deepest root names modules first
    assert module_name(str(tmp_path / "proj/src/app/x.py"), roots) == ("app.x", False)
    assert module_name(str(tmp_path / "proj/src/app/__init__.py"), roots) == ("app", True)
    assert resolve_relative("app.sub.mod", False, 2, "other") == "app.other"
    assert resolve_relative("app.sub", True, 1, None) == "app.sub"
    assert resolve_relative("app", False, 3, "x") is None  # beyond the top: not resolved


def test_a_file_is_reported_the_same_alone_as_in_the_whole_project(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/client.py": CLIENT,
                     "app/state.py": "from .client import Client\n\nclient = Client()\n"})
    whole = check(tmp_path, ".")
    alone = check(tmp_path, "app/client.py")
    assert lines_of(whole, "app/client.py") == lines_of(alone, "app/client.py") == [(6, "SST101")]
    assert "(app/state.py:3)" in alone[0]["message"]  # it says which module shares the instance


def test_a_change_elsewhere_that_changes_the_view_rechecks_the_module_and_only_then(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/client.py": CLIENT,
                     "app/state.py": "from .client import Client\n\nclient = Client()\n"})
    assert lines_of(check(tmp_path, "."), "app/client.py") == [(6, "SST101")]  # fills both caches
    state = tmp_path / "app" / "state.py"
    time.sleep(0.01)
    state.write_text("from .client import Client\n\n\ndef make():\n    return Client()\n")
    assert lines_of(check(tmp_path, "."), "app/client.py") == []  # no longer shared: the cached finding goes
    state.write_text("from .client import Client\n\nclient = Client()\n# a comment\n")
    assert lines_of(check(tmp_path, "app/client.py"), "app/client.py") == [(6, "SST101")]


def test_an_unparsable_module_is_reported_and_the_others_still_see_the_project(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/client.py": CLIENT,
                     "app/state.py": "from .client import Client\n\nclient = Client()\n",
                     "app/broken.py": "def (:\n"})
    done = run_cli(["check", "."], cwd=tmp_path)
    out = done.stdout.decode() + done.stderr.decode()
    assert "app/broken.py" in out and "syntax error" in out
    assert "app/client.py:6:" in out


def test_no_cache_leaves_no_index_cache_and_a_cache_is_written_otherwise(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/client.py": CLIENT})
    check(tmp_path, "--no-cache", ".")
    assert not (tmp_path / ".safestate_cache").exists()
    check(tmp_path, ".")
    assert list((tmp_path / ".safestate_cache").rglob("index-*.json"))


def test_a_path_that_is_no_file_has_no_project(tmp_path):
    assert view_for(str(tmp_path / "missing.py"), discover(str(tmp_path))) is EMPTY_VIEW
    assert view_for("<stdin>", discover(str(tmp_path))) is EMPTY_VIEW


def test_shared_classes_config_and_src_roots(tmp_path):
    write(tmp_path, {
        "pyproject.toml": "[tool.safestate-lint]\nshared-classes = ['*.Handler']\nsrc = ['lib']\n",
        "lib/svc/__init__.py": "",
        "lib/svc/handler.py": "class Handler:\n    def __init__(self):\n        self.n = 0\n\n"
                              "    def handle(self):\n        self.n += 1\n",
        "lib/svc/client.py": CLIENT,
        "app.py": "from svc.client import Client\n\nclient = Client()\n",  # `svc` resolves through the `src` root
    })
    found = check(tmp_path, ".")
    assert lines_of(found, "lib/svc/handler.py") == [(6, "SST101")]
    assert "matches shared-classes '*.Handler'" in found[[f["path"] for f in found].index("lib/svc/handler.py")]["message"]
    assert lines_of(found, "lib/svc/client.py") == [(6, "SST101")]


def test_a_public_function_every_other_module_calls_under_a_lock_is_locked(tmp_path):
    store = "_DATA = {}\n\n\ndef put(k, v):\n    _DATA[k] = _DATA.get(k, 0) + v\n"
    locked = "import threading\nfrom app import store\n\n_LOCK = threading.Lock()\n\n\ndef handle(k):\n" \
             "    with _LOCK:\n        store.put(k, 1)\n"
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/store.py": store, "app/api.py": locked})
    assert lines_of(check(tmp_path, "app/store.py"), "app/store.py") == []
    (tmp_path / "app" / "worker.py").write_text("from app.store import put\n\n\ndef work():\n    put('k', 2)\n")
    assert lines_of(check(tmp_path, "app/store.py"), "app/store.py") == [(5, "SST101")]  # one caller holds nothing


def test_single_threaded_test_modules_do_not_unlock_a_function(tmp_path):
    store = "_DATA = {}\n\n\ndef put(k, v):\n    _DATA[k] = _DATA.get(k, 0) + v\n"
    locked = "import threading\nfrom app import store\n\n_LOCK = threading.Lock()\n\n\ndef handle(k):\n" \
             "    with _LOCK:\n        store.put(k, 1)\n"
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/store.py": store, "app/api.py": locked,
                     "tests/test_store.py": "from app.store import put\n\n\ndef test_put():\n    put('k', 1)\n"})
    assert lines_of(check(tmp_path, "app/store.py"), "app/store.py") == []


@pytest.mark.skipif(os.name == "nt", reason="mtime resolution")
def test_a_warm_run_reads_no_unchanged_module_again(tmp_path, monkeypatch):
    from safestate_lint.index import project as project_mod

    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/client.py": CLIENT,
                     "app/state.py": "from .client import Client\n\nclient = Client()\n"})
    config = discover(str(tmp_path))
    first = project_mod.ProjectIndex(str(tmp_path), True, config)
    first.scan()
    project_mod.fill(first)
    second = project_mod.ProjectIndex(str(tmp_path), True, config)
    assert second.scan() == []  # every summary comes from the cache file, by size and mtime
    assert second.view(str(tmp_path / "app" / "client.py")).shared


def test_a_public_method_no_other_module_names_takes_its_callers_lock(tmp_path):
    channel = ("import threading\n\n\nclass Channel:\n    def __init__(self):\n        self.lock = threading.Lock()\n"
               "        self.sent = 0\n\n    def received(self):\n        with self.lock:\n            self.send()\n\n"
               "    def service(self):\n        with self.lock:\n            self.sent += 2\n\n"
               "    def send(self):\n        self.sent += 1\n")
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/channel.py": channel})
    assert lines_of(check(tmp_path, "."), "app/channel.py") == []  # every caller holds the lock
    (tmp_path / "app" / "server.py").write_text("def flush(channel):\n    channel.send()\n")
    assert lines_of(check(tmp_path, "."), "app/channel.py") == [(18, "SST302")]  # now it is called from outside


def test_a_summary_is_the_same_whichever_pass_made_it():
    """The runner summarises a module it checks from its analysis' module-level pass: the summary
    must be the one a fresh pass makes, or findings would depend on which files were named."""
    from safestate_lint.config import Config
    from safestate_lint.engine import analyse_tree, decode_source, parse_source
    from safestate_lint.engine.syntax import physical_lines
    from safestate_lint.index.project import summary_of_tree
    from helpers import ROOT

    paths = sorted((ROOT / "tests" / "projects").rglob("*.py")) + sorted((ROOT / "safestate_lint").rglob("*.py"))
    for path in paths:
        source = decode_source(path.read_bytes())
        lines = physical_lines(source)
        _, analysis = analyse_tree(parse_source(source, str(path)), lines, str(path), Config(), view=EMPTY_VIEW)
        reused = summary_of_tree(parse_source(source, str(path)), lines, str(path), "m", False, Config(), built=analysis)
        fresh = summary_of_tree(parse_source(source, str(path)), lines, str(path), "m", False, Config())
        assert reused == fresh, path


NET = ("import time\n\n\ndef fetch(url):\n    time.sleep(1)\n    return url\n\n\n"
       "def fetch_twice(url):\n    return fetch(url) + fetch(url)\n\n\ndef quick(x):\n    return x + 1\n")
CACHE = ("import threading\n\nfrom app import net\nfrom app.net import fetch_twice, quick\n\n"
         "_lock = threading.Lock()\n_cache = {}\n\n\n"
         "def refresh(url):\n    with _lock:\n        _cache[url] = net.fetch(url)\n\n\n"
         "def refresh2(url):\n    with _lock:\n        _cache[url] = fetch_twice(url)\n\n\n"
         "def fast(url):\n    with _lock:\n        _cache[url] = quick(url)\n\n\n"
         "def get(url):\n    with _lock:\n        return _cache.get(url)\n")


def test_a_function_of_another_module_that_blocks_blocks_under_the_lock(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/net.py": NET, "app/cache.py": CACHE})
    whole = check(tmp_path, ".")
    alone = check(tmp_path, "app/cache.py")
    # through `net.fetch` and through `fetch_twice`, which calls it; `quick` does not block
    assert lines_of(whole, "app/cache.py") == lines_of(alone, "app/cache.py") == [(12, "SST404"), (17, "SST404")]
    assert "'time.sleep()' in 'app.net.fetch()'" in alone[0]["message"]
    (tmp_path / "app" / "net.py").write_text(NET.replace("    time.sleep(1)\n", ""))
    assert lines_of(check(tmp_path, "app/cache.py"), "app/cache.py") == []  # the view changed: checked again


IOLOOP = "class IOLoop:\n    _for_loop = dict()\n\n    @staticmethod\n    def current(loop):\n        return IOLoop._for_loop[loop]\n"
ASYNCIO = ("from app.ioloop import IOLoop\n\n\nclass AsyncLoop(IOLoop):\n    def initialize(self, loop):\n"
           "        if loop in IOLoop._for_loop:\n            raise RuntimeError(loop)\n"
           "        IOLoop._for_loop[loop] = self\n\n    def close(self):\n        del IOLoop._for_loop[self.loop]\n")


def test_a_class_level_container_of_another_module_is_that_modules_state(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/ioloop.py": IOLOOP, "app/aio.py": ASYNCIO})
    alone = check(tmp_path, "app/aio.py")
    assert lines_of(check(tmp_path, "."), "app/aio.py") == lines_of(alone, "app/aio.py") == [(6, "SST103")]
    done = run_cli(["fix", "--diff", "app/aio.py"], cwd=tmp_path)
    assert b"bound in another module" in done.stdout + done.stderr  # no lock made here: left with the reason


RUC = ('import threading\n\n\nclass Pools:\n    """A thread-safe mapping."""\n\n    def __init__(self):\n'
       "        self._lock = threading.Lock()\n        self._d = {}\n\n    def get(self, k):\n"
       "        with self._lock:\n            return self._d.get(k)\n\n    def __setitem__(self, k, v):\n"
       "        with self._lock:\n            self._d[k] = v\n")
MANAGER = ("from app.pools import Pools\n\n\nclass Manager:\n    def __init__(self):\n        self.pools = Pools()\n"
           "        self.hits = 0\n\n    def pool(self, host):\n        self.hits += 1\n        pool = self.pools.get(host)\n"
           "        if pool:\n            return pool\n        pool = object()\n        self.pools[host] = pool\n"
           "        return pool\n")


def test_a_class_that_keeps_a_thread_safe_object_shares_that_part(tmp_path):
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/pools.py": RUC, "app/manager.py": MANAGER})
    alone = check(tmp_path, "app/manager.py")
    # the test-then-act on the thread-safe part; `hits` is the class's own business
    assert lines_of(check(tmp_path, "."), "app/manager.py") == lines_of(alone, "app/manager.py") == [(12, "SST304")]
    assert "documented thread-safe" in alone[0]["context"]
    (tmp_path / "app" / "pools.py").write_text(RUC.replace('    """A thread-safe mapping."""\n\n', ""))
    assert lines_of(check(tmp_path, "app/manager.py"), "app/manager.py") == []


def test_what_a_main_block_binds_is_not_shared(tmp_path):
    script = "from app.client import Client\n\nif __name__ == '__main__':\n    client = Client()\n    client.call()\n"
    write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "app/client.py": CLIENT, "app/cli.py": script})
    assert lines_of(check(tmp_path, "app/client.py"), "app/client.py") == []  # a script runs once, on one thread
    (tmp_path / "app" / "state.py").write_text("from .client import Client\n\nclient = Client()\n")
    assert lines_of(check(tmp_path, "app/client.py"), "app/client.py") == [(6, "SST101")]
