"""An existing non-reentrant lock is never added to a function that calls itself: the
recursive call would take it again and deadlock (found by the property test)."""
import collections
import threading

_lock = threading.Lock()
od = collections.OrderedDict()


def build(x, depth=0):
    if depth > 2:
        return 0
    od[x] = build(x, depth + 1)
    return len(od)


def put(x, depth=0):
    with _lock:
        od[x] = depth
