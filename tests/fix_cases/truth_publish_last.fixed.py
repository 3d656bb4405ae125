import threading


class Manager:
    def __init__(self):
        self.ready = False

    def validate(self):
        self.ready = True


_m = None
_m_lock = threading.RLock()
_table = None
_table_lock = threading.Lock()


def get_manager():
    global _m
    if _m is None:
        with _m_lock:
            if _m is None:
                m = Manager()
                m.validate()
                _m = m
    return _m


def table():
    global _table
    if _table is not None:
        return _table
    with _table_lock:
        if _table is None:
            table_value = [None] * 256
            for i, c in enumerate(b"0123456789"):
                table_value[c] = i
            _table = table_value
    return _table
