"""Bait: a class-level total updated with the result of Executor.map, whose workers take the
class lock.  A lock held across map() waits for workers that wait for the lock."""
import threading
from concurrent.futures import ThreadPoolExecutor


class Ledger:
    _lock = threading.RLock()  # re-entrant, but map() runs _rate in other threads
    _rates = {"a": 2, "b": 3, "c": 5}
    total = 0

    @classmethod
    def _rate(cls, k):
        with cls._lock:
            return cls._rates[k]

    @classmethod
    def set_rate(cls, k, v):
        with cls._lock:
            cls._rates[k] = v
            cls.total = cls.total

    @classmethod
    def settle(cls, keys, pool):
        cls.total = cls.total + sum(pool.map(cls._rate, keys))  # workers take cls._lock


def main():
    Ledger.set_rate("d", 7)
    with ThreadPoolExecutor(3) as pool:
        Ledger.settle(["a", "b", "c", "d"], pool)
        Ledger.settle(["a", "a"], pool)
    print("total", Ledger.total)


if __name__ == "__main__":
    main()
