"""SST101-SST103 on the attributes of an instance every thread shares: a class-level lock, or the class's own."""
import threading


class IncidentManager:
    _lock = threading.Lock()

    def __init__(self):
        self.incidents = {}
        self.count = 0

    def report(self, key, text):
        with IncidentManager._lock:
            if key not in self.incidents:
                self.incidents[key] = []
            self.incidents[key].append(text)
            self.count += 1


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.hits = 0

    def hit(self):
        with self._lock:
            self.hits += 1


manager = IncidentManager()
stats = Stats()
