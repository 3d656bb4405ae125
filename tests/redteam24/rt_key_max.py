"""Bait: max(..., key=self._rank) where the key method takes the instance lock."""
import threading


class Leader:
    def __init__(self):
        self._lock = threading.Lock()
        self._votes = {}
        self._best = None

    def _rank(self, name):
        with self._lock:
            return (self._votes.get(name, 0), name)

    def vote(self, name):
        with self._lock:
            self._votes[name] = self._votes.get(name, 0) + 1
            self._best = self._best

    def consider(self, name):
        # _best is written under the lock in vote(); the key method takes it again
        self._best = max([self._best, name] if self._best else [name], key=self._rank)


def main():
    lead = Leader()
    ts = [threading.Thread(target=lambda k=k: [lead.vote(f"c{(i * k) % 4}") for i in range(60)]) for k in range(1, 4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for n in ["c1", "c2", "c0", "c3"]:
        lead.consider(n)
    print("best", lead._best, sorted(lead._votes.items()))


if __name__ == "__main__":
    main()
