"""Which modules fork (their new locks are made anew in the child), and which do not."""

from __future__ import annotations

import ast
import textwrap

import pytest

from safestate_lint.config import Config
from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.fixers.forks import fork_site, renewed_in_child


def site(source: str):
    source = textwrap.dedent(source)
    return fork_site(ModuleAnalysis(ast.parse(source), Config(), source.splitlines(True)))


@pytest.mark.parametrize("source,what,posix_only", [
    ("import os\ndef f():\n    return os.fork()\n", "os.fork()", True),
    ("import pty\ndef f():\n    return pty.fork()\n", "pty.fork()", True),
    ("import multiprocessing as mp\ndef f():\n    mp.set_start_method('fork')\n",
     "multiprocessing.set_start_method('fork')", False),
    ("import multiprocessing\ndef f():\n    return multiprocessing.Process(target=print)\n",
     "multiprocessing.Process() (fork is the default start method on Linux before Python 3.14)", False),
    ("from concurrent.futures import ProcessPoolExecutor\ndef f():\n    return ProcessPoolExecutor(2)\n",
     "concurrent.futures.ProcessPoolExecutor() (fork is the default start method on Linux before Python 3.14)", False),
    ("import multiprocessing\nclass Worker(multiprocessing.Process):\n    pass\n",
     "class Worker, a multiprocessing.Process", False),
    ("def post_fork(server, worker):\n    worker.log.info('forked')\n", "the prefork server hook 'post_fork()'", False),
    ("from uwsgidecorators import postfork\n@postfork\ndef reconnect():\n    pass\n",
     "the post-fork hook 'reconnect()'", False),
])
def test_modules_that_fork(source, what, posix_only):
    found = site(source)
    assert found is not None and (found.what, found.posix_only) == (what, posix_only)


@pytest.mark.parametrize("source", [
    "import threading\ndef f():\n    threading.Thread(target=print).start()\n",
    "import multiprocessing\nctx = multiprocessing.get_context('spawn')\ndef f():\n    return multiprocessing.Process()\n",
    "import multiprocessing\nfrom concurrent.futures import ProcessPoolExecutor\n"
    "def f():\n    return ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('forkserver'))\n",
    "def post_fork():\n    pass\n",  # not a server hook's signature
])
def test_modules_that_do_not_fork(source):
    assert site(source) is None


def test_locks_a_module_hook_already_makes_anew():
    source = textwrap.dedent("""
        import os, threading
        _lock = threading.Lock()
        class C:
            _lock = threading.Lock()
        def _renew():
            global _lock
            _lock = threading.Lock()
            C._lock = threading.Lock()
        os.register_at_fork(after_in_child=_renew)
    """)
    analysis = ModuleAnalysis(ast.parse(source), Config(), source.splitlines(True))
    assert renewed_in_child(analysis) == {"_lock", "C._lock"}
