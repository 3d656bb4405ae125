import threading

n = 1
_n_lock = threading.Lock()


def inc():
    global n
    with _n_lock:
        n += 1
        helper()


def helper():
    global n
    n = n * 2
