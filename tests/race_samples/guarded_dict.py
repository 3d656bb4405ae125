import threading


class Inventory:
    def __init__(self):
        self._lock = threading.Lock()
        self._stock = {"shelf": 1000, "cart": 0}  # guarded-by: _lock
        self.moves = 0

    def _audit(self, n):
        self.moves += 1

    def move(self, n):
        with self._lock:
            self._stock["shelf"] -= n
            self._audit(n)
            self._stock["cart"] += n
            self._audit(n)
            self._stock["shelf"] += n
            self._stock["cart"] -= n

    def total(self):
        return sum(self._stock[place] for place in ("shelf", "cart"))
