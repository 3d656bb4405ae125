"""Bait: a class singleton built with Engine(...); Engine.__init__ calls super().__init__(),
and the base's __init__ takes the class lock (inherited as Engine._lock) to count instances."""
import threading


class Component:
    _lock = threading.Lock()
    _created = 0

    def __init__(self, name):
        self.name = name
        with Component._lock:
            Component._created += 1


class Engine(Component):
    _default = None

    def __init__(self, name):
        super().__init__(name)
        self.started = True

    @classmethod
    def default(cls):
        if cls._default is None:
            cls._default = Engine("default")  # super().__init__ takes Component._lock
        return cls._default


def main():
    Engine("warmup")
    got = []
    ts = [threading.Thread(target=lambda: got.append(Engine.default().name)) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("got", sorted(set(got)), len(got))


if __name__ == "__main__":
    main()
