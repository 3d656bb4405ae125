"""A prefork server: threads of the master count requests while it forks workers, which count
their own.  The locks the fix adds are made anew in each child (os.register_at_fork), so a
child forked while a thread of the master holds one does not hang on it."""

import os
import threading

_served = 0


def _cost():
    return sum(range(2000)) // 1999000  # some work while the count is being updated: 1


class Stats:
    errors = 0

    @classmethod
    def error(cls):
        cls.errors = cls.errors + _cost()


def serve():
    global _served
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
