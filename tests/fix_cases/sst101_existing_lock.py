import threading

n = 0
_lock = threading.Lock()


def reset():
    global n
    with _lock:
        n = 0


def inc():
    global n
    n = n + 1  # trailing comment
