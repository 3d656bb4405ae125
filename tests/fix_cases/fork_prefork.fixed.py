"""A prefork server: threads of the master count requests while it forks workers, which count
their own.  The locks the fix adds are made anew in each child (os.register_at_fork), so a
child forked while a thread of the master holds one does not hang on it."""

import os
import threading


def _reinit_locks_after_fork():
    # the child of a fork runs only the thread that forked: a lock another thread held then stays held
    global _served_lock
    _served_lock = threading.RLock()
    Stats._lock = threading.RLock()


os.register_at_fork(after_in_child=_reinit_locks_after_fork)

_served = 0
_served_lock = threading.RLock()


def _cost():
    return sum(range(2000)) // 1999000  # some work while the count is being updated: 1


class Stats:
    _lock = threading.RLock()
    errors = 0

    @classmethod
    def error(cls):
        with Stats._lock:
            cls.errors = cls.errors + _cost()


def serve():
    global _served
    with _served_lock:
        _served = _served + _cost()


def start_workers(threads=2):
    for _ in range(threads):
        threading.Thread(target=serve, daemon=True).start()


def fork_worker():
    """The child serves one request and exits; the parent gets its pid."""
    pid = os.fork()
    if pid == 0:
        serve()
        Stats.error()
        os._exit(0)
    return pid
