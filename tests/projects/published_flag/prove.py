"""The format object sets its `_imported` flag before it stores the codec: a second thread
sees the flag, skips the import and calls `.dumps` on None (AttributeError)."""
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
    def __init__(self, export):
        self.export = export
        self.errors = []


def setup():
    return State(fresh("app.export"))


def request(state):
    try:
        state.export.export({"total": 3})
    except AttributeError as error:
        state.errors.append(error)


def every_export_works(state):
    assert not state.errors, f"export failed: {state.errors[0]!r}"


def race():
    return explore(setup, request, request, invariant=every_export_works)


if __name__ == "__main__":
    print(race())
