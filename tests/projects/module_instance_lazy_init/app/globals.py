"""Process-wide objects, built once at import."""
from .client import Client

client = Client()
