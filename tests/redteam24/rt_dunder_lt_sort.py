"""Bait: sorted() compares elements with __lt__, which takes the lock guarding the ranking."""
import threading

_lock = threading.Lock()
_weights = {}
_ranking = []


class Task:
    def __init__(self, name):
        self.name = name

    def __lt__(self, other):
        with _lock:
            return (_weights.get(self.name, 0), self.name) < (_weights.get(other.name, 0), other.name)

    def __repr__(self):
        return self.name


def set_weight(name, w):
    global _ranking
    with _lock:
        _weights[name] = w
        _ranking = list(_ranking)


def add(task):
    global _ranking
    _ranking = sorted(_ranking + [task])  # __lt__ takes _lock, the lock that guards _ranking


def main():
    ts = [threading.Thread(target=lambda k=k: [set_weight(f"t{k}{i}", i % 3) for i in range(50)]) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for n in ["t05", "t11", "t27", "t00"]:
        add(Task(n))
    print("ranking", _ranking)


if __name__ == "__main__":
    main()
