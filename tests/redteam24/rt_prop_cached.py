"""Bait: a lazily built class singleton whose build reads a property that takes the class lock."""
import threading


class Stats:
    @property
    def loads(self):
        with Config._lock:
            return Config._loads


_stats = Stats()


class Config:
    _lock = threading.Lock()
    _instance = None
    _loads = 0

    @classmethod
    def record_load(cls):
        with cls._lock:
            cls._loads += 1

    @classmethod
    def get(cls):
        if cls._instance is None:
            cls._instance = {"a": 1, "loads_seen": _stats.loads}  # the property takes Config._lock
        return cls._instance


def main():
    Config.record_load()
    out = []
    ts = [threading.Thread(target=lambda: out.append(Config.get()["a"])) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("values", sorted(out), Config.get()["loads_seen"])


if __name__ == "__main__":
    main()
