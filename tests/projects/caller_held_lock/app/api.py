"""The only entry points: every access to the store goes through here, under one lock."""
import threading

from . import store

_LOCK = threading.Lock()


def record(key, amount):
    with _LOCK:
        store.put(key, amount)


def record_many(pairs):
    with _LOCK:
        for key, amount in pairs:
            store.put(key, amount)


def total(key):
    with _LOCK:
        return store.get(key)
