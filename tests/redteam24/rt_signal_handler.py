"""Bait: a signal handler updates state guarded by the same lock as the main thread's
update, and the signal arrives while the main thread is inside that update.  A lock around
both deadlocks the handler (the main thread holds it and cannot run until it returns)."""
import signal
import threading

_lock = threading.Lock()
_budget = 100
_signals = 0


def _note_signal():
    global _signals
    with _lock:
        _signals += 1


def _on_usr1(signum, frame):
    _note_signal()  # the handler takes _lock (correctly, on its own)


def _price(n):
    signal.raise_signal(signal.SIGUSR1)  # the handler runs before this returns
    return n


def reset():
    global _budget, _signals
    with _lock:
        _budget = 100
        _signals = 0


def spend(n):
    global _budget
    _budget = _budget - _price(n)  # guarded by _lock in reset()


def refill():
    global _budget
    with _lock:
        _budget += 1


def main():
    signal.signal(signal.SIGUSR1, _on_usr1)
    reset()
    ts = [threading.Thread(target=lambda: [refill() for _ in range(50)]) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    spend(5)
    spend(7)
    print("budget", _budget, "signals", _signals)


if __name__ == "__main__":
    main()
