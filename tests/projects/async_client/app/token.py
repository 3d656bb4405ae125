"""Bearer tokens with an expiry."""
import time


class Token:
    def __init__(self, value, expires_at):
        self.value = value
        self.expires_at = expires_at

    def expired(self):
        return time.monotonic() >= self.expires_at
