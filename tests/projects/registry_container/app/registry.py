"""Every backend's pool, by name."""
from .pool import Pool

POOLS = {}


def register(name):
    POOLS[name] = Pool(name)


def get_pool(name):
    return POOLS[name]


for _name in ("orders", "users"):
    register(_name)
