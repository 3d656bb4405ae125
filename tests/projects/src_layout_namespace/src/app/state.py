"""Process-wide state, built at import."""
from .auth import KeyRing

keys = KeyRing(b"not-a-real-secret")
