"""Bait: list.index()/`in` on a shared list call __eq__, which takes the instance lock of the holder."""
import threading


class Peer:
    def __init__(self, book, addr):
        self.book = book
        self.addr = addr

    def __eq__(self, other):
        with self.book._lock:
            return self.book._canon.get(self.addr, self.addr) == self.book._canon.get(other.addr, other.addr)

    __hash__ = None


class AddressBook:
    def __init__(self):
        self._lock = threading.Lock()
        self._canon = {}
        self._peers = []
        self._dupes = 0

    def canon(self, a, b):
        with self._lock:
            self._canon[a] = b
            self._dupes += 0

    def add(self, addr):
        p = Peer(self, addr)
        # _dupes is updated under the lock in canon(); `p in self._peers` runs Peer.__eq__
        self._dupes += 1 if p in self._peers else 0
        self._peers.append(p)


def main():
    book = AddressBook()
    ts = [threading.Thread(target=lambda k=k: [book.canon(f"h{k}{i}", "h") for i in range(40)]) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for a in ["h", "h01", "z", "h23", "z"]:
        book.add(a)
    print("dupes", book._dupes, "peers", len(book._peers))


if __name__ == "__main__":
    main()
