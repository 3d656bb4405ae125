"""Bait: a property that takes the instance lock, read inside an unlocked update."""
import threading


class Buffer:
    def __init__(self):
        self._lock = threading.Lock()
        self._items = []
        self._n = 0

    @property
    def size(self):
        with self._lock:
            return self._n

    def add(self, x):
        with self._lock:
            self._items.append(x)
            self._n += 1

    def bump(self):
        # written under the lock in add(); here read through the property, which takes it
        self._n += 1 if self.size >= 0 else 0


def main():
    b = Buffer()

    def work(k):
        for i in range(200):
            b.add((k, i))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    b.bump()
    print("size", b.size)


if __name__ == "__main__":
    main()
