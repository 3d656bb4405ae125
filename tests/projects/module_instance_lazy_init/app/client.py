"""The fulfilment API client: fetches a bearer token once and reuses it."""
import itertools

_issued = itertools.count(1)


class Client:
    def __init__(self, base_url="https://fulfilment.example.invalid"):
        self.base_url = base_url
        self._token = None

    def _fetch(self):
        # stands in for the OAuth round trip; every call issues a new token
        return f"tok-{next(_issued)}"

    def token(self):
        if self._token is None:
            self._token = self._fetch()
        return self._token

    def headers(self):
        return {"Authorization": f"Bearer {self.token()}"}
