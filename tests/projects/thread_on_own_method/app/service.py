"""The job runner: every job is tracked by the watchdog while it runs."""
from .monitor import Monitor


class JobRunner:
    def __init__(self, limit=30.0):
        self.monitor = Monitor(limit=limit)

    def start(self):
        self.monitor.start()

    def run(self, job_id, work):
        self.monitor.track(job_id)
        try:
            return work()
        finally:
            self.monitor.untrack(job_id)


def make_runner(limit=30.0):
    runner = JobRunner(limit)
    runner.start()
    return runner
