"""Bait: a read-modify-write whose new value comes from a blocking queue.get(); the producer
needs the same lock to publish.  A lock held across get() blocks the producer forever."""
import queue
import threading


class Mailbox:
    def __init__(self):
        self._lock = threading.RLock()
        self._q = queue.Queue()
        self._received = 0
        self._posted = 0

    def post(self, n):
        with self._lock:
            self._posted += 1
        self._q.put(n)

    def _next(self):
        return self._q.get(timeout=2)

    def receive(self):
        # _received is written under the lock in reset(); _next() blocks for post()
        self._received = self._received + self._next()

    def reset(self):
        with self._lock:
            self._received = 0


def main():
    box = Mailbox()
    box.reset()
    t = threading.Thread(target=lambda: [box.receive() for _ in range(3)])
    t.start()
    for n in (1, 2, 3):
        box.post(n)
    t.join()
    print("received", box._received, "posted", box._posted)


if __name__ == "__main__":
    main()
