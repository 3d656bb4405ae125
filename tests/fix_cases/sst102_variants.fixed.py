from collections import defaultdict
import threading
from safestate_lint.runtime import LockedList, LockedSet

ITEMS = LockedList()
SEEN = LockedSet()
BY_KEY = defaultdict(list)
_by_key_lock = threading.Lock()
NAMES = LockedList()


def add(x):
    ITEMS.append(x)
    SEEN.add(x)
    with _by_key_lock:
        BY_KEY[x].append(x)
    NAMES.append(x)
