import threading
from collections import defaultdict

ITEMS = []
_items_lock = threading.Lock()
SEEN = set()
_seen_lock = threading.Lock()
BY_KEY = defaultdict(list)
_by_key_lock = threading.Lock()
NAMES = list()
_names_lock = threading.Lock()


def add(x):
    with _items_lock:
        ITEMS.append(x)
    with _seen_lock:
        SEEN.add(x)
    with _by_key_lock:
        BY_KEY[x].append(x)
    with _names_lock:
        NAMES.append(x)
