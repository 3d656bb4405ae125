import threading

try:
    import ujson as json
except ImportError:
    import json

_n = 0
_n_lock = threading.Lock()


def inc():
    global _n
    with _n_lock:
        _n += 1
        n = _n
    return json.dumps(n)
