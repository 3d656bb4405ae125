import threading


class SingletonMeta(type):
    _instances = {}
    _instances_lock = threading.RLock()

    def __call__(cls, *args, **kwargs):
        if cls not in cls._instances:
            with SingletonMeta._instances_lock:
                if cls not in cls._instances:
                    cls._instances[cls] = super().__call__(*args, **kwargs)
        return cls._instances[cls]


class Config(metaclass=SingletonMeta):
    pass


class Service(metaclass=SingletonMeta):
    def __init__(self):
        self.config = Config()
