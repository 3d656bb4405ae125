"""A class that locks its containers: a loop elsewhere walks one without the lock (the fix
iterates a copy, never only the writer), and a write made under the class's other lock."""
import threading


class Observer:
    def __init__(self):
        self._lock = threading.Lock()
        self._emitters = set()
        self.stopped = 0

    def add(self, e):
        with self._lock:
            self._emitters.add(e)

    def remove(self, e):
        self._emitters.discard(e)

    def stop_all(self):
        count = 0
        for e in list(self._emitters):
            count += len(str(e))
        return count


class Scheduler:
    def __init__(self):
        self._executors_lock = self._create_lock()
        self._jobs_lock = self._create_lock()
        self._executors = {}
        self._jobs = {}

    def add_executor(self, alias, executor):
        with self._executors_lock:
            if alias in self._executors:
                raise ValueError(alias)
            self._executors[alias] = executor

    def remove_executor(self, alias):
        with self._jobs_lock:
            with self._executors_lock:
                if alias not in self._executors:
                    return None
                executor = self._executors[alias]
                del self._executors[alias]
            self._jobs.pop(alias, None)
        return executor

    def add_job(self, alias, job):
        with self._jobs_lock:
            self._jobs[alias] = job

    def _create_lock(self):
        return threading.RLock()

