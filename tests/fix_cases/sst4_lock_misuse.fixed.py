"""SST401 and SST402 fixes: a per-call lock becomes one module lock; acquire()/release()
becomes `with`. What is left alone says why."""
import threading

_totals = {}
_totals_lock = threading.Lock()
_hits = 0
_hits_lock = threading.Lock()
_log = []
_lock = threading.Lock()
_pending = []


def add(key, n):
    with _totals_lock:
        _totals[key] = _totals.get(key, 0) + n


def hit():
    global _hits
    guard = _hits_lock
    with guard:
        _hits += 1


def record(item):
    with _lock:
        if item is None:
            raise ValueError("no item")  # the lock used to stay held
        _log.append(item)


def drain():
    _lock.acquire()  # no path between acquire and release skips the release: left alone
    items = list(_pending)
    del _pending[:]
    _lock.release()
    return items


def try_record(item):
    _lock.acquire(timeout=1)  # left: its result should decide what happens next
    _pending.append(item)
    _lock.release()
