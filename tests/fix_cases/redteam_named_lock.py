import threading

_locks = {}


def named_lock(name):
    return _locks.setdefault(name, threading.Lock())


_stats = {"hits": 0}
_stats_guard = named_lock("stats")


def hit():
    with _stats_guard:
        _stats["hits"] += 1


def reset():
    _stats["hits"] = 0
