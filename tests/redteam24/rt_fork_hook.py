"""Bait: os.register_at_fork(after_in_child=...) resets a class-level counter that a worker
thread is updating when the fork happens; the child hook runs with any lock the fix adds
still held by the (vanished) worker thread."""
import os
import threading

in_region = threading.Event()
release = threading.Event()


class Jobs:
    done = 0
    generation = 0

    @staticmethod
    def _work(spin):
        if spin:
            in_region.set()
            while not release.is_set():
                pass
        return 1

    @classmethod
    def finish(cls, spin=False):
        cls.done = cls.done + cls._work(spin)

    @classmethod
    def _after_fork_in_child(cls):
        cls.generation = cls.generation + 1  # same class, same lock
        cls.done = 0


os.register_at_fork(after_in_child=Jobs._after_fork_in_child)


def main():
    for _ in range(5):
        Jobs.finish()
    t = threading.Thread(target=Jobs.finish, args=(True,))
    t.start()
    in_region.wait(2)
    codes = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            Jobs.finish()
            os._exit(20 + Jobs.done + Jobs.generation)
        codes.append(os.waitpid(pid, 0)[1] >> 8)
    release.set()
    t.join()
    print("children", codes, "done", Jobs.done, "generation", Jobs.generation)


if __name__ == "__main__":
    main()
