"""Bait: the module already has an asyncio.Lock made at import time, which guards one update
and is never contended.  A fix that reuses it for a contended check-then-act binds it to the
first loop, and the second asyncio.run() fails."""
# rt24-fix-args: --assume-single-event-loop  (the option the left-finding message recommends)
import asyncio

_lock = asyncio.Lock()
_sessions = {}
_log = []


async def note(event):
    async with _lock:
        _log.append(event)


async def session(user):
    async with _lock:
        _log.append(user)
    if user not in _sessions:
        await asyncio.sleep(0)
        _sessions[user] = {"user": user}
    return _sessions[user]


async def batch(users):
    return await asyncio.gather(*(session(u) for u in users))


def main():
    first = asyncio.run(batch(["a", "b", "a", "c"]))
    second = asyncio.run(batch(["d", "a", "d"]))
    print("sessions", sorted(_sessions), len(first), len(second), len(_log))


if __name__ == "__main__":
    main()
