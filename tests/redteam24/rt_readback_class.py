"""Bait: a class counter read back right after its increment (`Order._next += 1;
self.number = Order._next`).  Locking only the increment leaves the read outside, so two
orders can share a number.

With RT24_PROBE=1 the program forces the interleaving that exposes the race: thread A stops
just before the read-back (a trace hook, for at most 0.5 s) while thread B builds an order.
It prints "probe race" when the two orders share a number, "probe ok" otherwise.
"""
import linecache
import os
import sys
import threading


class Order:
    _next = 0

    def __init__(self, item):
        self.item = item
        Order._next += 1
        self.number = Order._next


def _probe():
    a_paused = threading.Event()
    b_done = threading.Event()
    got = {}

    def tracer(frame, event, arg):
        if frame.f_code.co_name != "__init__":
            return None

        def local(frame, event, arg):
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            if event == "line" and line.startswith("self.number") and not a_paused.is_set():
                a_paused.set()
                b_done.wait(0.5)
            return local
        return local

    def a():
        sys.settrace(tracer)
        try:
            got["a"] = Order("a").number
        finally:
            sys.settrace(None)

    def b():
        a_paused.wait(1)
        got["b"] = Order("b").number
        b_done.set()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("probe", "race" if got["a"] == got["b"] else "ok")


def main():
    if os.environ.get("RT24_PROBE"):
        _probe()
        return
    orders = []
    ts = [threading.Thread(target=lambda k=k: orders.extend(Order(f"i{k}") for _ in range(300))) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    nums = [o.number for o in orders]
    print("orders", len(orders), "unique", len(set(nums)), "max", max(nums))


if __name__ == "__main__":
    main()
