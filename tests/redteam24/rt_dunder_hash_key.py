"""Bait: a dict key whose __hash__/__eq__ take the lock guarding the dict's counter."""
import threading

_lock = threading.Lock()
_aliases = {}
_hits = {}


class Name:
    def __init__(self, s):
        self.s = s

    def canonical(self):
        with _lock:
            return _aliases.get(self.s, self.s)

    def __hash__(self):
        return hash(self.canonical())

    def __eq__(self, other):
        return isinstance(other, Name) and self.canonical() == other.canonical()


def alias(a, b):
    with _lock:
        _aliases[a] = b
        _hits[Name.__name__] = _hits.get(Name.__name__, 0)


def hit(name):
    _hits[name] = _hits.get(name, 0) + 1  # hashing `name` takes _lock


def main():
    ts = [threading.Thread(target=lambda k=k: [alias(f"x{k}{i}", "x") for i in range(50)]) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in ["x01", "x", "y", "x22", "y"]:
        hit(Name(s))
    print("hits", sorted((k if isinstance(k, str) else k.canonical(), v) for k, v in _hits.items()))


if __name__ == "__main__":
    main()
