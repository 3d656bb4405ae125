import time

total = 0
_config = None


def size(message):
    return len(message.encode())


def record(message):
    global total
    total += size(message)


class Config:
    def __init__(self):
        time.sleep(0.01)  # reads the settings file


def get_config():
    global _config
    if _config is None:
        _config = Config()
    return _config
