"""A watchdog: a background thread that notices jobs running longer than allowed."""
import logging
import threading
import time

log = logging.getLogger(__name__)


class Monitor:
    def __init__(self, limit=30.0, interval=1.0):
        self.limit = limit
        self.interval = interval
        self.started_at = {}
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._watch, name="monitor", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()

    def track(self, job_id):
        self.started_at[job_id] = time.monotonic()

    def untrack(self, job_id):
        self.started_at.pop(job_id, None)

    def _watch(self):
        while not self._stop.is_set():
            now = time.monotonic()
            for job_id, started in self.started_at.items():
                if now - started > self.limit:
                    log.warning("job %s has run for %.0fs", job_id, now - started)
            self._stop.wait(self.interval)
