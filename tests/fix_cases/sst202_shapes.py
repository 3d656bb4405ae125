class Registry:
    """The registry."""

    _instance = None

    @staticmethod
    def get():
        if Registry._instance is None:
            Registry._instance = Registry()
        return Registry._instance


class Producer:
    def __new__(cls):
        if not hasattr(cls, "_instance"):
            cls._instance = super().__new__(cls)
        return cls._instance


class SingletonMeta(type):
    _instances = {}

    def __call__(cls, *args, **kwargs):
        if cls not in cls._instances:
            cls._instances[cls] = super().__call__(*args, **kwargs)
        return cls._instances[cls]
