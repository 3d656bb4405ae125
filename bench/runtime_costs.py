"""What the runtime's locked containers cost against the plain ones, measured in one run
(best of 5 repeats each): `python bench/runtime_costs.py`. The README quotes these ratios.
Then issue 15's cost targets, each the ratio of two measurements of the same run."""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from safestate_lint.runtime import LockedDict, LockedList, LockedSet  # noqa: E402

OPERATIONS = [
    ("d[k]", "d[500]"), ("d.get(k)", "d.get(500)"), ("k in d", "500 in d"), ("len(d)", "len(d)"),
    ("l[i]", "l[500]"), ("x in s", "500 in s"), ("d[k] = v", "d[1] = 1"), ("l.append(x); l.pop()", "l.append(1); l.pop()"),
]


def main(number: int = 1_000_000) -> None:
    plain = {"d": {i: i for i in range(1000)}, "l": list(range(1000)), "s": set(range(1000))}
    locked = {"d": LockedDict(plain["d"]), "l": LockedList(plain["l"]), "s": LockedSet(plain["s"])}
    print(f"{'operation':<22} {'plain ns':>9} {'locked ns':>10} {'ratio':>6}  (CPython {sys.version.split()[0]})")
    for name, stmt in OPERATIONS:
        a = min(timeit.repeat(stmt, globals=plain, number=number, repeat=5)) / number * 1e9
        b = min(timeit.repeat(stmt, globals=locked, number=number, repeat=5)) / number * 1e9
        print(f"{name:<22} {a:>9.1f} {b:>10.1f} {b / a:>5.2f}x")
    print()
    print("issue 15's targets: each a ratio of two measurements of this run")
    for name, (stmt_a, setup_a), (stmt_b, setup_b), target in TARGETS:
        a = _ns(stmt_a, setup_a, number // 10)
        b = _ns(stmt_b, setup_b, number // 10)
        print(f"{name:<44} {b:>8.1f} / {a:>8.1f} ns = {b / a:>5.2f}x  (target <= {target}x)")


SETUP = ("from safestate_lint.runtime import LockedDict, StateManager, RWLock\nimport threading\n"
         "d = {i: i for i in range(1000)}\nld = LockedDict(d)\n"
         "m10 = StateManager({str(i): i for i in range(10)})\nm10k = StateManager({str(i): i for i in range(10000)})\n"
         "rw = RWLock()\nrl = threading.RLock()\n")
TARGETS = [
    ("StateManager.get / LockedDict.get", ("ld.get(5)", SETUP), ("m10.get('5')", SETUP), 5),
    ("StateManager.set at 10,000 keys / at 10 keys", ("m10.set('5', 1)", SETUP), ("m10k.set('5', 1)", SETUP), 2),
    ("uncontended `with rw.read()` / `with RLock`", ("with rl: pass", SETUP), ("with rw.read(): pass", SETUP), 4),
    ("`k in LockedDict.keys()` / `k in dict.keys()`", ("500 in d.keys()", SETUP), ("500 in ld.keys()", SETUP), 3),
]


def _ns(stmt: str, setup: str, number: int) -> float:
    return min(timeit.repeat(stmt, setup=setup, number=number, repeat=15)) / number * 1e9  # best of 15: less noise


if __name__ == "__main__":
    main()
