"""Bait: a class registry extended with instances built by map(Node, names): the constructor
runs implicitly (Node is passed as a value), and __init__ takes the class lock."""
import threading


class Node:
    _lock = threading.Lock()
    _names = set()
    _all = []

    def __init__(self, name):
        self.name = name
        with Node._lock:
            Node._names.add(name)
            Node._all = list(Node._all)

    @classmethod
    def spawn_all(cls, names):
        cls._all = cls._all + list(map(Node, names))  # map() calls Node(...) -> __init__ takes Node._lock
        return cls._all[-len(names):]


def main():
    ts = [threading.Thread(target=lambda k=k: [Node(f"w{k}{i}") for i in range(20)]) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    Node.spawn_all(["a", "b", "c"])
    print("names", len(Node._names), "spawned", [n.name for n in Node._all])


if __name__ == "__main__":
    main()
