import threading

_counter = 0
_lock = threading.Lock()


def stamp():
    return 7


def next_id():
    global _counter
    with _lock:
        _counter += 1
    return f"task_{stamp()}_{_counter}"
