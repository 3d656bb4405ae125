"""Two threads sign a link while the module-level key ring has no key yet: both derive one,
and the two links carry signatures made with different keys."""
import importlib
import sys
from pathlib import Path

from safestate_lint.runtime.testing import explore

SRC = Path(__file__).resolve().parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def fresh(module):
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    return importlib.import_module(module)


class State:
    def __init__(self, views):
        self.views = views
        self.links = []


def setup():
    return State(fresh("app.views"))


def request(state):
    state.links.append(state.views.signed_link("/reports/q3.pdf"))


def one_key(state):
    signatures = {link.split("sig=")[1] for link in state.links}
    assert len(signatures) == 1, f"links signed with {len(signatures)} different keys: {sorted(signatures)}"


def race():
    return explore(setup, request, request, invariant=one_key)


if __name__ == "__main__":
    print(race())
