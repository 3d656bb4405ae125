try:
    import ujson as json
except ImportError:
    import json

_n = 0


def inc():
    global _n
    _n += 1
    return json.dumps(_n)
