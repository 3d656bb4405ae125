"""Crawls with plain threads, or with an executor; both count into one Stats."""
import threading
from concurrent.futures import ThreadPoolExecutor

from .stats import Stats


def crawl(pages):
    stats = Stats()
    threads = [threading.Thread(target=stats.add, args=(1,)) for _ in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stats


def crawl_pooled(pages, workers=4):
    stats = Stats()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pages:
            pool.submit(stats.add, 1)
    return stats
