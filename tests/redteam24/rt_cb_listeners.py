"""Bait: listeners called while state is updated; a listener calls back into the object."""
import threading


class Bus:
    def __init__(self):
        self._lock = threading.Lock()
        self._listeners = []
        self._sent = 0
        self._log = []

    def subscribe(self, fn):
        with self._lock:
            self._listeners.append(fn)
            self._sent += 0

    def count(self):
        with self._lock:
            return self._sent

    def emit(self, msg):
        # _sent is updated under the lock in subscribe(); each listener may call back
        self._sent = self._sent + sum(1 for fn in list(self._listeners) if fn(self, msg) is not False)


def main():
    bus = Bus()
    out = []
    bus.subscribe(lambda b, m: out.append((m, b.count())))
    bus.subscribe(lambda b, m: None)
    ts = [threading.Thread(target=bus.emit, args=(f"m{i}",)) for i in range(4)]
    for t in ts:
        t.start()
        t.join()
    print("sent", bus._sent, "out", out)


if __name__ == "__main__":
    main()
