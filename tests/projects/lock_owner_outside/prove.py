"""Two races outside a lock its class owns.

- `LRU.get()` counts a miss after leaving its `with self._lock:` block: two misses at once
  read the same `misses` and both store misses + 1 (a miss goes uncounted).
- `AuditedStore.delete()` (a subclass in another module) bumps the base's `writes` outside
  the base's lock, while `BaseStore.set()` bumps it under the lock: a write goes uncounted.
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


def setup_api():
    return fresh("app.api")


def look_up_alice(api):
    api.profile("alice")  # not cached yet: a miss


def look_up_bob(api):
    api.profile("bob")  # not cached yet: a miss


def misses_counted(api):
    assert api.miss_count() == 2, f"misses == {api.miss_count()} after two misses"


def setup_store():
    store = fresh("app.api").make_audit_store()
    store.set("old", 1)
    store.writes = 0
    return store


def set_key(store):
    store.set("new", 2)


def delete_key(store):
    store.delete("old")


def writes_counted(store):
    assert store.writes == 2, f"writes == {store.writes} after a set and a delete"


def race():
    return Outcome(
        lru_misses=explore(setup_api, look_up_alice, look_up_bob, invariant=misses_counted),
        subclass_writes=explore(setup_store, set_key, delete_key, invariant=writes_counted),
    )


if __name__ == "__main__":
    print(race())
