"""The store used for audit records: deletes are counted as writes too."""
from .base import BaseStore


class AuditedStore(BaseStore):
    def delete(self, key):
        with self._lock:
            self._items.pop(key, None)
        self.writes += 1
