"""`crawl()` hands one Stats' bound `add` to several threads: two of them read the same
count and both store count + 1, so a page goes uncounted."""
import importlib
import sys
from pathlib import Path

from safestate_lint.runtime.testing import explore

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fresh(module):
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]
    return importlib.import_module(module)


def setup():
    fresh("app.run")
    return sys.modules["app.stats"].Stats()  # the one object crawl() hands to its threads


def thread_body(stats):
    stats.add(1)  # what Thread(target=stats.add, args=(1,)) runs


def every_page_counted(stats):
    assert stats.count == 2, f"count == {stats.count} after two pages"


def race():
    return explore(setup, thread_body, thread_body, invariant=every_page_counted)


if __name__ == "__main__":
    print(race())
