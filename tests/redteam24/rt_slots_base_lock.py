"""Bait: a base class with a `_lock` slot; a subclass updates a class-level counter.  A new
class attribute `_lock` on the subclass hides the base's slot, and no instance can be built."""
import threading


class Slotted:
    __slots__ = ("_lock", "value")

    def __init__(self, value):
        self._lock = threading.Lock()
        self.value = value

    def incr(self):
        with self._lock:
            self.value += 1


class Sensor(Slotted):
    __slots__ = ()
    readings = 0

    def read(self):
        Sensor.readings += 1  # SST301: the class attribute is shared by every instance
        return self.value


def main():
    sensors = [Sensor(i) for i in range(4)]
    ts = [threading.Thread(target=lambda s=s: [s.incr() for _ in range(100)]) for s in sensors]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    total = sum(s.read() for s in sensors)
    print("total", total, "readings", Sensor.readings)


if __name__ == "__main__":
    main()
