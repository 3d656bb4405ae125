"""Bait: the base's classmethod updates a class registry; a subclass has its own
non-reentrant `_lock` and calls the base method while holding it.  `with cls._lock:` in the
base resolves through the MRO to the subclass's lock, already held: deadlock."""
import threading


class Plugin:
    _lock = threading.RLock()
    _registry = {}
    _count = 0

    @classmethod
    def register(cls, name):
        with Plugin._lock:
            cls._registry[name] = cls.__name__
        cls._count = cls._count + 1  # shared state, updated without the lock


class AudioPlugin(Plugin):
    _lock = threading.Lock()  # its own lock, for its own device table
    _devices = []

    @classmethod
    def add_device(cls, dev):
        with cls._lock:
            cls._devices.append(dev)
            cls.register(f"audio:{dev}")


def main():
    ts = [threading.Thread(target=lambda k=k: [Plugin.register(f"p{k}{i}") for i in range(30)]) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for d in ["mic", "spk"]:
        AudioPlugin.add_device(d)
    print("registry", len(Plugin._registry), "devices", AudioPlugin._devices, Plugin._count, AudioPlugin._count)


if __name__ == "__main__":
    main()
