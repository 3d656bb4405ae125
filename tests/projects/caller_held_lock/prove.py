"""`store.put()` is a read-modify-write, but every caller holds `api._LOCK`: two threads
recording at once never lose an update (the explorer finds no failing schedule)."""
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
    return fresh("app.api")  # the lock is made under the explorer


def one(api):
    api.record("visits", 1)


def two(api):
    api.record_many([("visits", 1)])


def nothing_lost(api):
    assert api.total("visits") == 2, f"visits == {api.total('visits')} after two records"


def race():
    return explore(setup, one, two, invariant=nothing_lost)


if __name__ == "__main__":
    print(race())
