import threading

x = 1

_n = 0
_n_lock = threading.Lock()

def inc():
    global _n
    with _n_lock:
        _n += 1

# a U+2028 in a comment:   here
_m = 0
_m_lock = threading.Lock()

def inc2():
    global _m
    with _m_lock:
        _m += 1
