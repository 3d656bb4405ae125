"""Bait: a counter bound in both branches of a module-level `if` (a config switch).  A lock
declared after the assignment in the first branch is missing when the other branch runs, and
the fixed module raises NameError."""
import os
import threading

if os.environ.get("RT24_NEVER_SET"):
    _count = 100
else:
    _count = 0


def add():
    global _count
    _count = _count + 1


def main():
    ts = [threading.Thread(target=lambda: [add() for _ in range(2000)]) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("count", _count)


if __name__ == "__main__":
    main()
