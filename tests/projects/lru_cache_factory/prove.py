"""Every thread gets the one Cache that the lru_cache'd factory built; two cache hits at
once read the same `hits` and both store hits + 1: a hit goes uncounted."""
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
    views = fresh("app.views")
    views.product_page(7)  # warm: the page is cached, hits == 0
    return views


def request(views):
    views.product_page(7)


def both_hits_counted(views):
    assert views.cache_stats()["hits"] == 2, f"hits == {views.cache_stats()['hits']} after two hits"


def race():
    return explore(setup, request, request, invariant=both_hits_counted)


if __name__ == "__main__":
    print(race())
