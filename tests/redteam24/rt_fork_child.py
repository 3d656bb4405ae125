"""Bait: a prefork server.  A background thread is inside a global update (that a fix would
lock) at the moment the main thread forks; each child then updates the same global.  A lock
held at fork time is inherited held, and every child hangs."""
import os
import sys
import threading

_served = 0
in_region = threading.Event()
release = threading.Event()


def _cost(spin):
    if spin:
        in_region.set()
        while not release.is_set():  # stays inside the statement until the forks are done
            pass
    return 1


def serve(spin=False):
    global _served
    _served = _served + _cost(spin)


def main():
    t = threading.Thread(target=serve, args=(True,))
    t.start()
    in_region.wait(2)
    codes = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            serve()
            os._exit(10 + _served)
        codes.append(os.waitpid(pid, 0)[1] >> 8)
    release.set()
    t.join()
    serve()
    print("children", codes, "served", _served)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
