"""The totals themselves. Not thread-safe on its own: callers hold `api._LOCK`."""

_DATA = {}


def put(k, v):
    _DATA[k] = _DATA.get(k, 0) + v


def get(k):
    return _DATA.get(k, 0)
