"""The watchdog's scan iterates `started_at` while the job runner's threads insert and
delete jobs: the watchdog thread dies with `RuntimeError: dictionary changed size during
iteration`."""
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
    def __init__(self, runner):
        self.runner = runner
        self.errors = []


def setup():
    service = fresh("app.service")
    runner = service.JobRunner(limit=30.0)  # not started: the explorer runs the watchdog's body itself
    runner.monitor.track("nightly-report")
    return State(runner)


def watchdog(state):
    try:
        state.runner.monitor._watch()  # what start()'s thread runs
    except RuntimeError as error:
        state.errors.append(error)


def jobs(state):
    state.runner.run("resize-1", lambda: None)
    state.runner.run("resize-2", lambda: None)
    state.runner.monitor.stop()


def watchdog_survives(state):
    assert not state.errors, f"watchdog thread died: {state.errors[0]!r}"


def race():
    return explore(setup, watchdog, jobs, invariant=watchdog_survives)


if __name__ == "__main__":
    print(race())
