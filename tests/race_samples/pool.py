import threading


class ConnectionPool:
    def __init__(self, size):
        self._lock = threading.Lock()
        self._in_use = 0
        self.size = size

    def _weight(self, conn):
        return 1

    def acquire(self, conn=None):
        with self._lock:
            self._in_use += self._weight(conn)

    def release(self, conn=None):
        self._in_use -= self._weight(conn)  # forgot the lock acquire() takes

    def in_use(self):
        with self._lock:
            return self._in_use
