"""Two tasks call the module-level client while its token is expired: both see it expired,
both await a refresh, and the token is refreshed twice (asyncio, so no thread explorer: the
tasks interleave at the refresh's await)."""
import asyncio
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fresh(module):
    for name in [n for n in sys.modules if n == "app" or n.startswith("app.")]:
        del sys.modules[name]
    return importlib.import_module(module)


class Result:
    def __init__(self, refreshes, tokens):
        self.refreshes = refreshes
        self.tokens = tokens
        self.failed = refreshes != 1
        self.schedule = None

    def __str__(self):
        verdict = "race" if self.failed else "no race"
        return f"{verdict}: {self.refreshes} refreshes, requests used tokens {self.tokens}"


def race():
    deps = fresh("app.deps")
    client = deps.client
    refreshes = []
    refresh = client._refresh

    async def counted_refresh():
        refreshes.append(1)
        return await refresh()

    client._refresh = counted_refresh

    async def main():
        return await asyncio.gather(deps.fetch_user(1), deps.fetch_orders(1))

    answers = asyncio.run(main())
    return Result(len(refreshes), [token for _, token in answers])


if __name__ == "__main__":
    print(race())
