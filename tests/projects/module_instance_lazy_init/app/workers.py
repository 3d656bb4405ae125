"""Runs in the thread pool: one call per batch of orders."""
from concurrent.futures import ThreadPoolExecutor

from .globals import client


def push(batch):
    headers = client.headers()
    return [(order, headers["Authorization"]) for order in batch]


def push_all(batches, workers=8):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(push, batches))
