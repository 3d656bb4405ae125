"""Two races on the registry the plugins module imports under an alias.

- `get()`: two threads miss the same plugin and both load it (the plugin is loaded twice
  and the threads hold different objects).
- `describe()` iterates the registry while `register()` inserts: `RuntimeError: dictionary
  changed size during iteration`.
"""
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


class Outcome:
    """The explorer's result for each race: `.failed` when any race shows (the program is
    wrong), `.all_failed` when every one does."""

    def __init__(self, **results):
        self.results = results
        self.failed = any(r.failed for r in results.values())
        self.all_failed = all(r.failed for r in results.values())
        self.schedule = {name: r.schedule for name, r in results.items()}

    def __str__(self):
        return "\n".join(f"[{name}] {result}" for name, result in self.results.items())


class State:
    def __init__(self, plugins):
        self.plugins = plugins
        self.got = []
        self.errors = []


def setup_get():
    return State(fresh("app.plugins"))


def get_csv(state):
    state.got.append(state.plugins.get("csv"))


def loaded_once(state):
    numbers = sorted({p.load_number for p in state.got} | {state.plugins.get("csv").load_number})
    assert numbers == [1], f"plugin 'csv' loaded more than once: loads {numbers}"


def setup_iterate():
    state = State(fresh("app.plugins"))
    state.plugins.get("csv")
    return state


def list_plugins(state):
    try:
        state.plugins.describe()
    except RuntimeError as error:
        state.errors.append(error)


def register_xlsx(state):
    state.plugins.register("xlsx", sys.modules["app.loader"].load("xlsx"))


def listing_survives(state):
    assert not state.errors, f"describe() failed: {state.errors[0]!r}"


def race():
    return Outcome(
        double_load=explore(setup_get, get_csv, get_csv, invariant=loaded_once),
        iteration=explore(setup_iterate, list_plugins, register_xlsx, invariant=listing_survives),
    )


if __name__ == "__main__":
    print(race())
