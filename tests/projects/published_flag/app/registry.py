"""The formats the server offers, by name."""
from .formats import LazyFormat

FORMATS = {}


def register_format(name, module_name, media_type):
    FORMATS[name] = LazyFormat(name, module_name, media_type)


register_format("json", "json", "application/json")
register_format("pickle", "pickle", "application/python-pickle")
