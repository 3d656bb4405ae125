"""Bait: a key function passed to sorted() takes the lock that guards the list it sorts."""
import threading

_lock = threading.Lock()
_scores = {}
_top = []


def _score(name):
    with _lock:
        return (-_scores.get(name, 0), name)


def record(name, s):
    global _top
    with _lock:
        _scores[name] = _scores.get(name, 0) + s
        _top = list(_top)


def push(name):
    global _top
    _top = sorted(_top + [name], key=_score)[:3]  # the key function takes _lock


def main():
    ts = [threading.Thread(target=lambda k=k: [record(f"p{i % 5}", k) for i in range(100)]) for k in range(1, 4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for n in ["p0", "p3", "p4", "p1", "zz"]:
        push(n)
    print("top", _top)


if __name__ == "__main__":
    main()
