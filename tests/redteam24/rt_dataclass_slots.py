"""Bait: a @dataclass(slots=True) with an instance field `_lock` and a ClassVar counter.  The
class-level counter needs a class lock; `cls._lock` is the slot descriptor, and a new class
attribute named `_lock` conflicts with the slot."""
import dataclasses
import threading
from typing import ClassVar


@dataclasses.dataclass(slots=True)
class Stats:
    hits: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)
    instances: ClassVar[int] = 0

    def hit(self):
        with self._lock:
            self.hits += 1

    @classmethod
    def create(cls):
        cls.instances += 1  # SST301: shared by every instance
        return cls()


def main():
    made = []
    ts = [threading.Thread(target=lambda: made.extend(Stats.create() for _ in range(50))) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    s = made[0]
    ts = [threading.Thread(target=lambda: [s.hit() for _ in range(100)]) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("stats", s, Stats.instances, len(made))


if __name__ == "__main__":
    main()
