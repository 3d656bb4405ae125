"""SST401: a new lock on every call excludes nothing: totals are lost."""
import threading

_totals = {}


def size(msg):
    return len(msg)


def add(key, msg):
    with threading.Lock():
        _totals[key] = _totals.get(key, 0) + size(msg)
