"""One thread releases the last idle connection of a shard while another checks a
connection in: `release()` sees the bucket empty, the other thread appends to that bucket,
then `release()` pops the whole bucket and the connection just checked in is lost."""
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
    def __init__(self, handlers, pool, broken, returned):
        self.handlers = handlers
        self.pool = pool
        self.broken = broken
        self.returned = returned


def setup():
    handlers = fresh("app.handlers")
    pool_module = sys.modules["app.pool"]
    pool = sys.modules["app.registry"].get_pool("orders")
    broken = pool_module.Connection("shard-1", 1)
    pool.checkin(broken)
    return State(handlers, pool, broken, pool_module.Connection("shard-1", 2))


def fail(state):
    state.handlers.connection_failed(state.broken)


def finish(state):
    state.handlers.finish_request(state.returned)


def nothing_lost(state):
    assert state.pool.checkout("shard-1") is state.returned, "the connection checked in was dropped with the shard"


def race():
    return explore(setup, fail, finish, invariant=nothing_lost)


if __name__ == "__main__":
    print(race())
