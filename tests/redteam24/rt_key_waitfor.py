"""Bait: Condition.wait_for() with a predicate that reads a property taking the instance lock;
the wait sits inside a read-modify-write of state guarded by that lock.  Holding the lock
across the wait blocks the thread that would make the predicate true."""
import threading

started = threading.Event()


class Pool:
    def __init__(self):
        self._lock = threading.RLock()
        self._cond = threading.Condition()
        self._free = 0
        self._waited = 0

    @property
    def free(self):
        with self._lock:
            return self._free

    def _ready(self):
        started.set()
        return self.free > 0

    def put(self):
        with self._lock:
            self._free += 1
        with self._cond:
            self._cond.notify_all()

    def reset(self):
        with self._lock:
            self._waited = 0

    def _wait_ready(self):
        with self._cond:
            return self._cond.wait_for(self._ready, timeout=3)

    def take(self):
        # _waited is written under the lock in reset(); the predicate waits for put()
        self._waited = self._waited + (1 if self._wait_ready() else 0)


def main():
    p = Pool()
    p.reset()
    t = threading.Thread(target=p.take)
    t.start()
    started.wait(2)
    p.put()
    t.join()
    print("free", p.free, "waited", p._waited)


if __name__ == "__main__":
    main()
