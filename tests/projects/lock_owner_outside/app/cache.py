"""A small thread-safe LRU cache."""
import threading
from collections import OrderedDict


class LRU:
    def __init__(self, maxsize=256):
        self._lock = threading.Lock()
        self._data = OrderedDict()
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
        self.misses += 1
        return default

    def put(self, key, value):
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.maxsize:
                self._data.popitem(last=False)
