class Manager:
    def __init__(self):
        self.ready = False

    def validate(self):
        checked = 0
        for _ in range(3000):  # takes a while
            checked += 1
        self.ready = True


_m = None


def get_manager():
    global _m
    if _m is None:
        _m = Manager()
        _m.validate()
    return _m
