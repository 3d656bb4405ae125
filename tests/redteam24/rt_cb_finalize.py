"""Bait: rebinding a global drops references; weakref.finalize callbacks run right there and
update state guarded by the same lock."""
import threading
import weakref

_lock = threading.Lock()
_live = 0
_cache = []


class Conn:
    def __init__(self, keep):
        self.keep = keep


def _on_dead():
    global _live
    _live -= 1  # runs inside prune(), from the finalizer


def make(keep):
    global _live
    c = Conn(keep)
    weakref.finalize(c, _on_dead)
    with _lock:
        _live += 1
        _cache.append(c)
    return c


def prune():
    global _cache
    _cache = [c for c in _cache if c.keep]  # dropping the old list runs the finalizers


def main():
    ts = [threading.Thread(target=lambda k=k: [make(i % 2 == 0) for i in range(50)]) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    prune()
    print("live", _live, "cached", len(_cache))


if __name__ == "__main__":
    main()
