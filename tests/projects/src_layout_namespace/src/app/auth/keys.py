"""The signing key, derived on first use (the derivation is slow)."""
import hashlib
import itertools

_derivations = itertools.count(1)


class KeyRing:
    def __init__(self, secret):
        self._secret = secret
        self._signing_key = None

    def _derive(self):
        salt = str(next(_derivations)).encode()
        return hashlib.sha256(salt + self._secret).hexdigest()

    def signing_key(self):
        if self._signing_key is None:
            self._signing_key = self._derive()
        return self._signing_key
