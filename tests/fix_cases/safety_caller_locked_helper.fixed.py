import threading

_lock = threading.Lock()
_items = []
_total = 0


def add(x):
    with _lock:
        _items.append(x)
        _trim()


def _trim():
    global _total
    while len(_items) > 10:
        _total = _total + _items.pop(0)


def drain():
    global _total
    with _lock:
        _total = _total + 1
