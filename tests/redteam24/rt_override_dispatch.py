"""Bait: the base reads self.weight() inside an update of lock-guarded state; the base's
weight() is trivial, but the subclass's override takes the lock."""
import threading


class Scale:
    def __init__(self):
        self._lock = threading.Lock()
        self._sum = 0

    def weight(self, x):
        return x

    def reset(self):
        with self._lock:
            self._sum = 0

    def add(self, x):
        self._sum = self._sum + self.weight(x)  # virtual call: the subclass takes self._lock


class TaredScale(Scale):
    def __init__(self):
        super().__init__()
        self._tare = 1

    def weight(self, x):
        with self._lock:
            return x - self._tare


def main():
    s = TaredScale()
    s.reset()
    ts = [threading.Thread(target=lambda: [s.weight(1) for _ in range(100)]) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for x in range(10):
        s.add(x)
    print("sum", s._sum)


if __name__ == "__main__":
    main()
