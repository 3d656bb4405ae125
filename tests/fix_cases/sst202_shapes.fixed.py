import threading


class Registry:
    """The registry."""

    _instance = None
    _instance_lock = threading.RLock()

    @staticmethod
    def get():
        if Registry._instance is None:
            with Registry._instance_lock:
                if Registry._instance is None:
                    Registry._instance = Registry()
        return Registry._instance


class Producer:
    _instance_lock = threading.RLock()

    def __new__(cls):
        if not hasattr(cls, "_instance"):
            with Producer._instance_lock:
                if not hasattr(cls, "_instance"):
                    cls._instance = super().__new__(cls)
        return cls._instance


class SingletonMeta(type):
    _instances = {}
    _instances_lock = threading.RLock()

    def __call__(cls, *args, **kwargs):
        if cls not in cls._instances:
            with SingletonMeta._instances_lock:
                if cls not in cls._instances:
                    cls._instances[cls] = super().__call__(*args, **kwargs)
        return cls._instances[cls]
