"""Bait: sum(self) runs __iter__, which takes the instance lock to copy the items."""
import threading


class Bag:
    def __init__(self):
        self._lock = threading.Lock()
        self._items = []
        self._total = 0

    def __iter__(self):
        with self._lock:
            return iter(list(self._items))

    def put(self, x):
        with self._lock:
            self._items.append(x)
            self._total += x

    def recount(self):
        # _total is updated under the lock in put(); sum(self) iterates, taking the lock
        self._total += sum(self) - self._total


def main():
    b = Bag()
    ts = [threading.Thread(target=lambda k=k: [b.put(k) for _ in range(100)]) for k in range(1, 5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    b.recount()
    print("total", b._total)


if __name__ == "__main__":
    main()
