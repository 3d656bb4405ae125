"""Bait: list.sort(key=lambda ...) whose lambda reads a property that takes the class lock."""
import threading


class Job:
    _lock = threading.Lock()
    _prio = {}
    _queue = []
    _served = 0

    def __init__(self, name):
        self.name = name

    @property
    def priority(self):
        with Job._lock:
            return Job._prio.get(self.name, 0)

    @classmethod
    def set_priority(cls, name, p):
        with cls._lock:
            cls._prio[name] = p
            cls._served += 0

    @classmethod
    def enqueue(cls, job):
        cls._queue.append(job)
        cls._queue.sort(key=lambda j: (-j.priority, j.name))  # the lambda reads a locked property
        cls._served += 1


def main():
    ts = [threading.Thread(target=lambda k=k: [Job.set_priority(f"j{i}", i * 3 % 7) for i in range(20)]) for k in range(1, 4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for n in ["j3", "j1", "j5", "zz"]:
        Job.enqueue(Job(n))
    print("queue", [j.name for j in Job._queue], Job._served)


if __name__ == "__main__":
    main()
