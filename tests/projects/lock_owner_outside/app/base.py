"""A key-value store that serialises its writes."""
import threading


class BaseStore:
    def __init__(self):
        self._lock = threading.Lock()
        self._items = {}
        self.writes = 0

    def set(self, key, value):
        with self._lock:
            self._items[key] = value
            self.writes += 1

    def get(self, key):
        with self._lock:
            return self._items.get(key)
