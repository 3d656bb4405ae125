import threading

STATS = {"hits": 0}
_stats_lock = threading.Lock()
count = 0
_count_lock = threading.Lock()


def hit():
    with _stats_lock:
        STATS["hits"] += 1


def wrap():
    global count
    with _count_lock:
        if count > 10:
            count = 0
