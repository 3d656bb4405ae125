import enum


class Color(enum.Enum):
    RED = 1
    GREEN = 2

    _cache = None

    @classmethod
    def load(cls):
        if Color._cache is None:
            Color._cache = {}
        return Color._cache
