import threading

_cache = {}
_cache_lock = threading.Lock()


def put(k, v):
    with _cache_lock:
        _cache[k] = v


def is_plain():
    return type(_cache) is dict
