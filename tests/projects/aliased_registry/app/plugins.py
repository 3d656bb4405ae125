"""Finding, registering and listing plugins."""
from ._registry import REGISTRY as _R
from .loader import load


def get(name):
    if name not in _R:
        _R[name] = load(name)
    return _R[name]


def register(name, plugin):
    _R[name] = plugin


def describe():
    lines = []
    for name, plugin in _R.items():
        lines.append(f"{name} (load #{plugin.load_number})")
    return lines
