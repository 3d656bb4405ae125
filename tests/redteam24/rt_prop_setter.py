"""Bait: a global updated with a value read through a property whose getter takes the global's lock."""
import threading

_lock = threading.Lock()
_total = 0


class Item:
    def __init__(self, base):
        self.base = base

    @property
    def cost(self):
        # reads the shared total under the module lock
        with _lock:
            return self.base + (_total % 3)


def charge_locked(n):
    global _total
    with _lock:
        _total += n


def charge(item):
    global _total
    _total = _total + item.cost  # the lock guarding _total is taken again by Item.cost


def main():
    ts = [threading.Thread(target=lambda: [charge_locked(1) for _ in range(300)]) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for b in range(5):
        charge(Item(b))
    print("total", _total)


if __name__ == "__main__":
    main()
