"""SST401 and SST402 fixes: a per-call lock becomes one module lock; acquire()/release()
becomes `with`. What is left alone says why."""
import threading

_totals = {}
_hits = 0
_log = []
_lock = threading.Lock()
_pending = []


def add(key, n):
    with threading.Lock():
        _totals[key] = _totals.get(key, 0) + n


def hit():
    global _hits
    guard = threading.Lock()
    with guard:
        _hits += 1


def record(item):
    _lock.acquire()
    if item is None:
        raise ValueError("no item")  # the lock used to stay held
    _log.append(item)
    _lock.release()


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
