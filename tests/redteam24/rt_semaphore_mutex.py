"""Bait: the module's mutex is a Semaphore(1).  Not recognised as a lock, a fix
adds a lock next to it for `_sent`; the helper that runs under `_send_lock` then takes the new
lock, while the flusher takes them in the other order: ABBA.  Events fix the interleaving."""
import threading

_send_lock = threading.Semaphore(1)  # used as a mutex
_sent = 0
b_inside = threading.Event()
a_holds_send = threading.Event()


def _bump():
    global _sent
    _sent += 1  # send() calls it with _send_lock held


def send():
    with _send_lock:
        a_holds_send.set()
        b_inside.wait(2)
        _bump()


def record_one():
    _bump()  # a second caller, without the lock (single-threaded start-up in main())


def _flushed():
    b_inside.set()
    a_holds_send.wait(2)
    with _send_lock:
        return 1


def flush():
    global _sent
    _sent = _flushed() + _sent


def main():
    record_one()
    t = threading.Thread(target=flush)
    t.start()
    send()
    t.join()
    send()
    print("sent", _sent)


if __name__ == "__main__":
    main()
