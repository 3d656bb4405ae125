"""Signs download links; called from the server's worker threads."""
from .state import keys


def signed_link(path):
    return f"{path}?sig={keys.signing_key()[:16]}"
