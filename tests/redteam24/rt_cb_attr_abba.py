"""Bait: a callback held in an attribute, called right after an update of lock-guarded state.

If the fix holds the object's (re-entrant) lock across `self.on_change(...)`, the callback's audit lock is
taken under it, while the auditor thread holds the audit lock and asks the object for a
snapshot: an ABBA deadlock.  The events make the interleaving deterministic.
"""
import threading

_audit_lock = threading.Lock()
_audit = []
in_callback = threading.Event()
auditor_has_lock = threading.Event()


class Meter:
    def __init__(self, on_change):
        self._lock = threading.RLock()
        self._value = 0
        self.on_change = on_change

    def snapshot(self):
        with self._lock:
            return self._value

    def reset(self):
        with self._lock:
            self._value = 0

    def add(self, n):
        # written under the lock in reset(); the hook may adjust the new value
        self._value = self.on_change(self._value + n)


def audit(value):
    if not in_callback.is_set():
        in_callback.set()
        auditor_has_lock.wait(2)
    with _audit_lock:
        _audit.append(value)
    return value


def main():
    m = Meter(audit)
    m.reset()
    seen = []

    def auditor():
        in_callback.wait(2)
        with _audit_lock:
            auditor_has_lock.set()
            seen.append(m.snapshot())

    t = threading.Thread(target=auditor)
    t.start()
    m.add(5)
    t.join()
    m.add(2)
    print("audit", _audit, "seen", seen)


if __name__ == "__main__":
    main()
