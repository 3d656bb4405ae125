"""Two pool threads ask the module-level client for its token at once: both see no token,
both fetch one, and the batches go out under two different tokens (two fetches)."""
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
    def __init__(self, workers):
        self.workers = workers
        self.sent = []


def setup():
    return State(fresh("app.workers"))


def worker(state):
    state.sent.extend(state.workers.push(["order-1"]))


def fetched_once(state):
    tokens = {auth for _, auth in state.sent}
    assert len(tokens) == 1, f"fetched {len(tokens)} tokens: {sorted(tokens)}"


def race():
    return explore(setup, worker, worker, invariant=fetched_once)


if __name__ == "__main__":
    print(race())
