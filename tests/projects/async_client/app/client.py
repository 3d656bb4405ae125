"""The upstream API client."""
import asyncio
import itertools
import time

from .token import Token

_serial = itertools.count(1)


class ApiClient:
    def __init__(self, lifetime=300.0):
        self.lifetime = lifetime
        self.token = Token("", 0.0)

    async def _refresh(self):
        await asyncio.sleep(0)  # the round trip to the auth server
        return Token(f"tok-{next(_serial)}", time.monotonic() + self.lifetime)

    async def request(self, path):
        if self.token.expired():
            self.token = await self._refresh()
        return path, self.token.value
