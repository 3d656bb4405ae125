"""Bait: a module whose imports isort already sorts (`from typing import ...` last among the
standard library).  The fixed module must still pass isort: a new `import threading` goes
before the from-imports of its section, not after them."""
import json
import subprocess
import sys
from typing import Dict

_counts: Dict[str, int] = {}


def bump(key):
    _counts[key] = _counts.get(key, 0) + 1


def main():
    import threading as t

    ts = [t.Thread(target=lambda: [bump("k") for _ in range(2000)]) for _ in range(4)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    check = subprocess.run([sys.executable, "-m", "isort", "--check-only", "-q", __file__], capture_output=True)
    print("counts", json.dumps(_counts), "isort", "ok" if check.returncode == 0 else "FAILS")


if __name__ == "__main__":
    main()
