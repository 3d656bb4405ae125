import signal
import threading

_n = 0
_n_lock = threading.RLock()
_closed = 0
_closed_lock = threading.RLock()


def on_alarm(signum, frame):
    global _n
    with _n_lock:
        _n += 1


def inc():
    global _n
    with _n_lock:
        _n += 1


class Resource:
    def __del__(self):
        global _closed
        with _closed_lock:
            _closed += 1


signal.signal(signal.SIGALRM, on_alarm)
