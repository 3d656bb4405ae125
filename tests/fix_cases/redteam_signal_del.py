import signal

_n = 0
_closed = 0


def on_alarm(signum, frame):
    global _n
    _n += 1


def inc():
    global _n
    _n += 1


class Resource:
    def __del__(self):
        global _closed
        _closed += 1


signal.signal(signal.SIGALRM, on_alarm)
