"""Bait: a callback passed as a parameter is called between the read and the write of a global.

A lock around the whole statement holds `_stats_lock` across `callback()`, which takes
`_ui_lock`; the UI thread holds `_ui_lock` and reads the stats under `_stats_lock`: ABBA.
"""
import threading

_stats_lock = threading.RLock()
_ui_lock = threading.Lock()
_processed = 0
in_cb = threading.Event()
ui_has_lock = threading.Event()
_ui_log = []


def stats():
    with _stats_lock:
        return _processed


def reset():
    global _processed
    with _stats_lock:
        _processed = 0


def process(batch, callback):
    global _processed
    _processed = _processed + callback(len(batch))


def progress(n):
    if not in_cb.is_set():
        in_cb.set()
        ui_has_lock.wait(2)
    with _ui_lock:
        _ui_log.append(n)
    return n


def main():
    reset()
    seen = []

    def ui():
        in_cb.wait(2)
        with _ui_lock:
            ui_has_lock.set()
            seen.append(stats())

    t = threading.Thread(target=ui)
    t.start()
    process([1, 2, 3], progress)
    t.join()
    process([4], progress)
    print("processed", _processed, "ui", _ui_log, "seen", seen)


if __name__ == "__main__":
    main()
