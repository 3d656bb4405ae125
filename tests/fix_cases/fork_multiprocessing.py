"""Threads update a module counter while processes are started with the fork start method:
the lock the fix adds is made anew in each child, registered only where os.register_at_fork
exists (a module that only uses multiprocessing may run on Windows)."""

import multiprocessing

_jobs = 0


def _weight(job):
    return len(str(job)) // len(str(job))  # 1, after some work


def record(job):
    global _jobs
    _jobs = _jobs + _weight(job)


def run_in_child(job):
    record(job)
    return _jobs


def spawn(job):
    process = multiprocessing.get_context("fork").Process(target=run_in_child, args=(job,))
    process.start()
    return process
