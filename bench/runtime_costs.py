"""What the runtime's locked containers cost against the plain ones, measured in one run
(best of 5 repeats each): `python bench/runtime_costs.py`. The README quotes these ratios.
Then issue 15's cost targets, each the ratio of two measurements of the same run, and issue
25's contended `update_item` against the plain locked increment (2 threads on one key; run it
on a free-threaded build too, where the threads really contend)."""

from __future__ import annotations

import sys
import threading
import time
import timeit
from typing import Any, Callable, List
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
    print()
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"issue 25's target: contended increments of one key, {THREADS} threads, Mops/s "
          f"(best of {ROUNDS} alternating rounds; {'GIL' if gil else 'free-threaded'} build)")
    locked_rate, update_rate = contended_rates()
    print(f"{'update_item(k, fn) / with d.lock: d[k] += 1':<44} {update_rate:>8.2f} / {locked_rate:>8.2f} Mops/s "
          f"= {update_rate / locked_rate:>5.2f}x  (target >= 1.0x)")


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


THREADS = 2
ROUNDS = 9


def _increment_locked(d: Any, n: int) -> None:
    for _ in range(n):
        with d.lock:
            d["k"] += 1


def _increment_update_item(d: Any, n: int) -> None:
    for _ in range(n):
        d.update_item("k", lambda v: v + 1)


def _rate(body: Callable[[Any, int], None], threads: int, n: int) -> float:
    """Million increments a second, `threads` threads started together on one LockedDict key."""
    d: "LockedDict[str, int]" = LockedDict({"k": 0})
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        start.wait()
        body(d, n)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    assert d["k"] == threads * n, "an increment was lost"
    return threads * n / elapsed / 1e6


def contended_rates(threads: int = THREADS, n: int = 50_000, rounds: int = ROUNDS) -> List[float]:
    """[plain locked increment, update_item]: best of `rounds`, the two alternating so that
    both see the same machine (contended rates swing by 2-3x between runs)."""
    best = [0.0, 0.0]
    for _ in range(rounds):
        for i, body in enumerate((_increment_locked, _increment_update_item)):
            best[i] = max(best[i], _rate(body, threads, n))
    return best


def _ns(stmt: str, setup: str, number: int) -> float:
    return min(timeit.repeat(stmt, setup=setup, number=number, repeat=15)) / number * 1e9  # best of 15: less noise


if __name__ == "__main__":
    main()
