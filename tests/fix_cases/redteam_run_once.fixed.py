import threading
import time

_running = False
_running_lock = threading.Lock()
_stop = False


def run():
    global _running
    if _running:
        return
    with _running_lock:
        if _running:
            return
        _running = True
    while not _stop:
        time.sleep(0.001)


def stop():
    global _stop
    _stop = True
