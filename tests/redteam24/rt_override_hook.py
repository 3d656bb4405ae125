"""Bait: the base class calls self.on_item() under its (non-reentrant) lock; a subclass's
override updates state the base guards with that lock."""
import threading


class Collector:
    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._items = []

    def on_item(self, x):
        pass

    def add(self, x):
        with self._lock:
            self._items.append(x)
            self._count += 1
            self.on_item(x)


class CountingCollector(Collector):
    def __init__(self):
        super().__init__()
        self._big = 0

    def on_item(self, x):
        # runs with the base's lock already held
        self._count = self._count + (1 if x > 50 else 0)


def main():
    c = CountingCollector()
    ts = [threading.Thread(target=lambda k=k: [c.add(i) for i in range(k, 100, 4)]) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("count", c._count, "items", len(c._items))


if __name__ == "__main__":
    main()
