"""What the runtime's locked containers cost against the plain ones, measured in one run
(best of 5 repeats each): `python bench/runtime_costs.py`. The README quotes these ratios."""

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


if __name__ == "__main__":
    main()
