"""Bait: the module's lock comes from its own factory (`make_lock`).  Not recognised as a
lock, a fix guards `_sent` in flush() with a second, new lock while send() updates it under
`_send_lock`: the race stays.  (Events fix the interleaving of the threaded part.)

With RT24_PROBE=1 the program forces the interleaving that exposes the race: flush() stops
at its store of `_sent` (an opcode trace hook, for at most 0.5 s) while send() runs.  It
prints "probe race" when send()'s increment is lost, "probe ok" otherwise.
"""
import dis
import os
import sys
import threading


def make_lock(name):
    lock = threading.Lock()
    return lock


_send_lock = make_lock("send")
_sent = 0
b_inside = threading.Event()
a_holds_send = threading.Event()


def _bump():
    global _sent
    _sent += 1  # only ever called with _send_lock held


def send():
    with _send_lock:
        a_holds_send.set()
        b_inside.wait(2)
        _bump()


def _flushed():
    b_inside.set()
    a_holds_send.wait(2)
    with _send_lock:
        return 1


def flush():
    global _sent
    _sent = _flushed() + _sent


def _probe():
    b_done = threading.Event()
    a_paused = threading.Event()
    a_holds_send.set()  # no handshake needed in the probe

    def tracer(frame, event, arg):
        if frame.f_code.co_name != "flush":
            return None
        frame.f_trace_opcodes = True

        def local(frame, event, arg):
            if event == "opcode" and dis.opname[frame.f_code.co_code[frame.f_lasti]] == "STORE_GLOBAL":
                a_paused.set()
                b_done.wait(0.5)
            return local
        return local

    def a():
        sys.settrace(tracer)
        try:
            flush()
        finally:
            sys.settrace(None)

    def b():
        a_paused.wait(1)
        send()
        b_done.set()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("probe", "ok" if _sent == 2 else "race")


def main():
    if os.environ.get("RT24_PROBE"):
        _probe()
        return
    t = threading.Thread(target=flush)
    t.start()
    send()
    t.join()
    send()
    print("sent", _sent)


if __name__ == "__main__":
    main()
