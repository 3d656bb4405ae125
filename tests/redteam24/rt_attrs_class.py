"""Bait: an attrs class (@attrs.define: slots) with an instance field `_lock` and a class-level
counter.  A class lock named `_lock` conflicts with the slot; `cls._lock` is the slot descriptor."""
import threading
from typing import ClassVar

import attrs


@attrs.define
class Tally:
    count: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)
    made: ClassVar[int] = 0

    def add(self, n):
        with self._lock:
            self.count += n

    @classmethod
    def new(cls):
        cls.made += 1  # SST301: the ClassVar is shared by every instance
        return cls()


def main():
    made = []
    ts = [threading.Thread(target=lambda: made.extend(Tally.new() for _ in range(40))) for _ in range(3)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    t = made[0]
    ts = [threading.Thread(target=lambda: [t.add(2) for _ in range(100)]) for _ in range(3)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    print("tally", t, attrs.asdict(t, filter=lambda a, v: a.name != "_lock"), Tally.made, len(made))


if __name__ == "__main__":
    main()
