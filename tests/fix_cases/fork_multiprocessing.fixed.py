"""Threads update a module counter while processes are started with the fork start method:
the lock the fix adds is made anew in each child, registered only where os.register_at_fork
exists (a module that only uses multiprocessing may run on Windows)."""

import multiprocessing
import os
import threading


def _reinit_locks_after_fork():
    # the child of a fork runs only the thread that forked: a lock another thread held then stays held
    global _jobs_lock
    _jobs_lock = threading.RLock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reinit_locks_after_fork)

_jobs = 0
_jobs_lock = threading.RLock()


def _weight(job):
    return len(str(job)) // len(str(job))  # 1, after some work


def record(job):
    global _jobs
    with _jobs_lock:
        _jobs = _jobs + _weight(job)


def run_in_child(job):
    record(job)
    return _jobs


def spawn(job):
    process = multiprocessing.get_context("fork").Process(target=run_in_child, args=(job,))
    process.start()
    return process
