import time

created = []
_instance = None


class Heavy:
    def __init__(self):
        time.sleep(0.01)
        created.append(self)


def get():
    global _instance
    if _instance is None:
        _instance = Heavy()
    return _instance
