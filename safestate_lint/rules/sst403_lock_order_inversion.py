from __future__ import annotations

from typing import Iterator

from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.engine.locking import Order, inversions
from safestate_lint.rules.base import Report, Rule


def _site(order: Order) -> str:
    via = f" (through {order.via})" if order.via else ""
    return f"line {getattr(order.node, 'lineno', '?')} in '{order.func.qualname}()'{via}"


class LockOrderInversion(Rule):
    """
    ## What it does
    Flags two locks taken in opposite orders in one module: `with a: with b:` in one place
    and `with b: with a:` in another, directly or through the functions a locked region
    calls (the module's call graph). One finding names both acquisition sites.

    ## Why is this bad?
    Thread 1 holds `a` and waits for `b`; thread 2 holds `b` and waits for `a`. Neither
    ever continues: the classic deadlock, which shows up only under load.

    ## Example
    ```python
    def transfer():
        with accounts_lock:
            with audit_lock:
                ...

    def report():
        with audit_lock:
            with accounts_lock:
                ...
    ```

    ## Use instead
    Take the locks in one global order everywhere (here: `accounts_lock`, then
    `audit_lock`), or merge them into one lock.

    ## Fix
    No automatic fix: the right order is a design decision.

    ## Options
    `lock-names`.
    """

    code = "SST403"
    name = "lock-order-inversion"
    summary = "two locks are taken in opposite orders"

    VALID = [
        "import threading\na = threading.Lock()\nb = threading.Lock()\ndef f():\n    with a:\n        with b:\n            pass\ndef g():\n    with a:\n        with b:\n            pass\n",
        "import threading\na = threading.RLock()\ndef f():\n    with a:\n        with a:\n            pass\n",
        # a helper called with both locks held takes neither (concurrent.futures' submit())
        "import threading\na = threading.Lock()\nb = threading.Lock()\nitems = []\ndef submit(x):\n    with a, b:\n"
        "        _helper(x)\ndef _helper(x):\n    items.append(x)\n",
        # nor does the helper's helper
        "import threading\na = threading.Lock()\nb = threading.Lock()\nitems = []\ndef submit(x):\n    with a, b:\n"
        "        _helper(x)\ndef _helper(x):\n    _store(x)\ndef _store(x):\n    items.append(x)\n",
    ]
    INVALID = [
        "import threading\na = threading.Lock()\nb = threading.Lock()\ndef f():\n    with a:\n        with b:\n            pass\ndef g():\n    with b:\n        with a:  # SST403\n            pass\n",
        "import threading\na = threading.Lock()\nb = threading.Lock()\ndef _audit():\n    with b:\n        pass\ndef f():\n    with a:\n        _audit()\ndef g():\n    with b:\n        with a:  # SST403\n            pass\n",
    ]

    @classmethod
    def check(cls, m: ModuleAnalysis) -> Iterator[Report]:
        for first, second in inversions(m.lock_usage()):
            later, earlier = (first, second) if getattr(first.node, "lineno", 0) >= getattr(second.node, "lineno", 0) \
                else (second, first)
            yield later.node, (
                f"'{later.inner}' is taken while '{later.outer.ident}' is held: two threads can deadlock"
                f"\n{_site(earlier)} takes '{earlier.inner}' while holding '{earlier.outer.ident}'"
            ), None
