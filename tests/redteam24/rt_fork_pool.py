"""Bait: a background thread is inside a module counter update (that a fix would lock) while a
multiprocessing pool with the fork start method starts its workers, which update the same
counter.  A lock held at the fork stays held in every worker, and the pool never answers."""
import multiprocessing
import threading

_jobs = 0
in_region = threading.Event()
release = threading.Event()


def _weight(spin):
    if spin:
        in_region.set()
        while not release.is_set():  # stays inside the update until the pool has answered
            pass
    return 1


def record(job, spin=False):
    global _jobs
    _jobs = _jobs + _weight(spin)
    return _jobs


def main():
    t = threading.Thread(target=record, args=("bg", True))
    t.start()
    in_region.wait(2)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        counts = pool.map_async(record, range(4)).get(timeout=5)
    release.set()
    t.join()
    print("workers", len(counts), "parent", _jobs)


if __name__ == "__main__":
    main()
