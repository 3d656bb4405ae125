"""Bait: len(self) runs __len__, which takes the instance lock."""
import threading


class Queue:
    def __init__(self):
        self._lock = threading.Lock()
        self._items = []
        self._peak = 0

    def __len__(self):
        with self._lock:
            return len(self._items)

    def push(self, x):
        with self._lock:
            self._items.append(x)
            self._peak = max(self._peak, len(self._items))

    def pop(self):
        with self._lock:
            return self._items.pop()

    def observe(self):
        # _peak is written under the lock in push(); len(self) takes it again
        self._peak = max(self._peak, len(self))


def main():
    q = Queue()
    ts = [threading.Thread(target=lambda: [q.push(i) for i in range(100)]) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for _ in range(10):
        q.pop()
    q.observe()
    print("peak", q._peak, "len", len(q))


if __name__ == "__main__":
    main()
