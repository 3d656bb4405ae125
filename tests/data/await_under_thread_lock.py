"""SST405: a threading lock held across an await. Two tasks of one loop: the second blocks the
loop's only thread while the first waits to resume. --unsafe-fixes makes it an asyncio.Lock."""
import asyncio
import threading

_conn_lock = threading.Lock()
_conns = {}


async def connect(user):
    await asyncio.sleep(0)
    return object()


async def login(user):
    with _conn_lock:
        if user not in _conns:
            _conns[user] = await connect(user)
        return _conns[user]


async def logout(user):
    with _conn_lock:
        await asyncio.sleep(0)
        _conns.pop(user, None)


def main():
    async def run():
        users = [f"u{i % 3}" for i in range(20)]
        await asyncio.gather(*(login(u) for u in users), *(logout(u) for u in users[:5]))
    asyncio.run(run())
    print("done")


if __name__ == "__main__":
    main()
