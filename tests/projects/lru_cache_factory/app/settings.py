"""Lazily built application singletons."""
import functools

from .cache import Cache


@functools.lru_cache()
def get_cache():
    return Cache(maxsize=4096)
