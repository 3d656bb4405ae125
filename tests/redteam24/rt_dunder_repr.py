"""Bait: f"{self!r}" runs __repr__, which takes the instance lock."""
import threading


class Account:
    def __init__(self):
        self._lock = threading.Lock()
        self._balance = 0
        self._log = []

    def __repr__(self):
        with self._lock:
            return f"Account({self._balance})"

    def deposit(self, n):
        with self._lock:
            self._balance += n
            self._log = self._log + ["d"]

    def audit(self):
        # _log is rebound under the lock in deposit(); the f-string calls __repr__
        self._log = self._log + [f"{self!r}"]


def main():
    a = Account()
    ts = [threading.Thread(target=lambda: [a.deposit(1) for _ in range(250)]) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    a.audit()
    print("log", len(a._log), a._log[-1])


if __name__ == "__main__":
    main()
