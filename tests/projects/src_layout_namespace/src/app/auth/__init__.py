"""Authentication helpers."""
from .keys import KeyRing

__all__ = ["KeyRing"]
