_cache = {}


def put(k, v):
    _cache[k] = v


def is_plain():
    return type(_cache) is dict
