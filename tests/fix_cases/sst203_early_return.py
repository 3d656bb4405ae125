import threading

_x = None
_lock = threading.Lock()


def get():
    global _x
    if _x is not None:
        return _x
    with _lock:
        _x = object()
    return _x
