"""SST402: an exception between acquire() and release() leaves the lock held: the next
caller waits forever."""
import threading

_lock = threading.Lock()
_log = []


def record(item):
    _lock.acquire()
    if item is None:
        raise ValueError("no item")
    _log.append(item)
    _lock.release()
