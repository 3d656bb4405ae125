"""Bait: `key in self` runs __contains__, which takes the instance lock."""
import threading


class Registry:
    def __init__(self):
        self._lock = threading.Lock()
        self._names = set()
        self._dupes = 0

    def __contains__(self, name):
        with self._lock:
            return name in self._names

    def add(self, name):
        with self._lock:
            self._names.add(name)
            self._dupes += 0

    def note(self, name):
        # _dupes is updated under the lock in add(); here `name in self` takes the lock
        self._dupes += 1 if name in self else 0


def main():
    r = Registry()
    ts = [threading.Thread(target=lambda k=k: [r.add(f"n{k}-{i}") for i in range(100)]) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for name in ["n0-1", "zz", "n3-99", "n9-0"]:
        r.note(name)
    print("dupes", r._dupes, "names", len(r._names))


if __name__ == "__main__":
    main()
