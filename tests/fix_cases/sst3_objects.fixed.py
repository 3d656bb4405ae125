"""SST3 shapes: class attributes every instance shares, and classes that forget their own lock."""
import threading
import time


class RequestStats:
    """Counts requests across every handler object."""
    _lock = threading.Lock()

    total = 0
    by_path = {}

    def record(self, path):
        with RequestStats._lock:
            RequestStats.total += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1


class PluginRegistry:
    _plugins = {}

    @classmethod
    def register(cls, name, plugin):
        cls._plugins[name] = plugin

    @classmethod
    def names(cls):
        return sorted(cls._plugins)


class ConnectionPool:
    def __init__(self, size):
        self._lock = threading.Lock()
        self._in_use = 0
        self._free = list(range(size))

    def acquire(self):
        with self._lock:
            self._in_use += 1
            return self._free.pop() if self._free else None

    def release(self, conn):
        with self._lock:
            self._in_use -= 1  # forgot the lock
        if conn is not None:
            self._free.append(conn)  # list.append is atomic: no race of its own


class TTLCache:
    def __init__(self):
        self._lock = threading.RLock()
        self._data = {}
        self.misses = 0

    def get(self, key, make):
        with self._lock:
            if key not in self._data:
                self._data[key] = make(key)
            return self._data[key]

    def note_miss(self):
        with self._lock:
            self.misses += 1
        with self._lock:
            self.misses = self.misses

    def put_if_absent(self, key, value):
        with self._lock:
            if key not in self._data:  # tested and set without the lock the other methods hold
                self._data[key] = value

    def refresh(self, key):
        self._data[key] = self._slow(key)  # left: the lock would be held across the sleep

    def _slow(self, key):
        time.sleep(0.001)
        return key
