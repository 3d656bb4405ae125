import threading


class Manager:
    def __init__(self):
        self.ready = False

    def validate(self):
        self.ready = True


_m = None
_table = None
_table_lock = threading.Lock()


def get_manager():
    global _m
    if _m is None:
        _m = Manager()
        _m.validate()
    return _m


def table():
    global _table
    if _table is not None:
        return _table
    with _table_lock:
        if _table is None:
            _table = [None] * 256
            for i, c in enumerate(b"0123456789"):
                _table[c] = i
    return _table
