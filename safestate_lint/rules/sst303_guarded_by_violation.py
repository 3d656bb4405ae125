from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.guarded import unguarded
from safestate_lint.rules.base import Report, Rule


class GuardedByViolation(Rule):
    """
    ## What it does
    Checks the lock discipline you declare. A trailing `# guarded-by: _lock` comment on the
    assignment of an attribute (in `__init__` or the class body) or of a module global, or an
    annotation `Annotated[T, GuardedBy("_lock")]` (`GuardedBy` from
    `safestate_lint.runtime`, a marker with no run-time cost), names the lock that guards
    the state: `_lock` for the class's `self._lock` / `cls._lock`, or a module-level lock.
    Every read or write of that state outside the named lock is reported; so is a
    declaration that names no lock of the class or the module.

    Constructors (`__init__`, `__new__`, `__post_init__`) are not concurrent. The lock is
    held inside `with lock:`, between `lock.acquire()` and `lock.release()` in one block, and
    in a private helper every caller calls with it held.

    ## Why is this bad?
    Java has `@GuardedBy`, Clang `GUARDED_BY`: the lock that guards a field is written next
    to the field, and the tools hold every access to it. A read without the lock sees a
    half-applied update: the two entries a transfer moves between are read in between, and
    the total is wrong.

    ## Example
    ```python
    class Inventory:
        def __init__(self):
            self._lock = threading.Lock()
            self._stock = {"a": 100, "b": 0}  # guarded-by: _lock

        def total(self):
            return self._stock["a"] + self._stock["b"]
    ```

    ## Use instead
    ```python
        def total(self):
            with self._lock:
                return self._stock["a"] + self._stock["b"]
    ```

    ## Fix
    `safestate-lint fix` takes the named lock around the statement, under the usual fix
    rules (never across a `yield`, an `await` or a blocking call, never a non-reentrant lock
    around code that takes it again). An access in the test of an `if`/`while` or the header
    of a loop is left for a person.

    ## Options
    None: the declaration is the option.
    """

    code = "SST303"
    name = "guarded-by-violation"
    summary = "state declared guarded by a lock is used without it"
    fixable = True

    VALID = [
        "import threading\nclass Inventory:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._stock = {'a': 1}  # guarded-by: _lock\n    def total(self):\n        with self._lock:\n"
        "            return sum(self._stock.values())\n",
        "import threading\nfrom typing import Annotated\nfrom safestate_lint.runtime import GuardedBy\n"
        "_lock = threading.Lock()\n_seen: Annotated[set, GuardedBy('_lock')] = set()\ndef add(x):\n"
        "    _lock.acquire()\n    try:\n        _seen.add(x)\n    finally:\n        _lock.release()\n",
    ]
    INVALID = [
        "import threading\nclass Inventory:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self._stock = {'a': 1}  # guarded-by: _lock\n    def total(self):\n"
        "        return sum(self._stock.values())  # SST303\n",
        "import threading\nfrom typing import Annotated\nfrom safestate_lint.runtime import GuardedBy\n"
        "_lock = threading.Lock()\n_seen: Annotated[set, GuardedBy('_lock')] = set()\ndef add(x):\n"
        "    _seen.add(x)  # SST303\n",
        "import threading\nclass C:\n    def __init__(self):\n        self._lock = threading.Lock()\n"
        "        self.n = 0  # guarded-by: _lok  # SST303\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        guards = m.guards()
        for guard in guards:
            if not guard.resolved:
                where = f"a lock of '{guard.key[1]}' nor a module-level lock" if guard.key[0] == "c" \
                    else "a module-level lock"
                yield guard.decl, f"guarded-by names '{guard.lock}' for '{guard.describe()}', which is not {where}", None
        for access in unguarded(m, guards):
            guard = access.guard
            lock = guard.lock_expr(access.func) or guard.lock
            yield access.node, (
                f"'{guard.describe()}' is {'written' if access.write else 'used'} in '{access.func.qualname}()' "
                f"without '{lock}', which guards it (guarded-by, line {guard.decl.lineno})"
            ), None
