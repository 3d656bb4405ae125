"""Two requests resolve the container's `db` singleton at once: both see no instance and
both build one, so two database handles exist (two connects) and the requests use different
ones."""
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


class State:
    def __init__(self, handlers):
        self.handlers = handlers
        self.used = []


def setup():
    return State(fresh("app.handlers"))


def request(state):
    state.used.append(state.handlers.invoice("c-1")["db"])


def one_database(state):
    assert len(set(state.used)) == 1, f"requests used database handles {state.used}"


def race():
    return explore(setup, request, request, invariant=one_database)


if __name__ == "__main__":
    print(race())
