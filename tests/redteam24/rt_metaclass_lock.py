"""Bait: a metaclass provides `_lock` for its classes and takes it in __call__; a class-level
counter updated in __init__ (which runs inside Meta.__call__).  A new class attribute `_lock`
on the class shadows the metaclass's one, and `cls._lock` in the metaclass then finds it."""
import threading


class Tracked(type):
    _lock = threading.Lock()

    def __call__(cls, *args, **kwargs):
        with cls._lock:
            return super().__call__(*args, **kwargs)


class Widget(metaclass=Tracked):
    made = 0

    def __init__(self, name):
        self.name = name
        Widget.made += 1  # already serialised by Tracked.__call__, but reported


def bump():
    Widget.made += 1


def main():
    ts = [threading.Thread(target=lambda k=k: [Widget(f"{k}{i}") for i in range(50)]) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    bump()
    print("made", Widget.made)


if __name__ == "__main__":
    main()
