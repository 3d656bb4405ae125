"""A counter bound in both branches of a config switch, and a table bound in both branches of
an optional import: each lock is declared after the whole statement, at module level, so it
exists whichever branch ran."""
import os

try:
    import ujson as codec
    _table = {}
except ImportError:  # the fallback
    import json as codec
    _table = {}

if os.environ.get("SAFESTATE_NEVER_SET"):
    _count = 100
else:
    _count = 0


def add(key):
    global _count
    _table[key] = _table.get(key, 0) + 1
    _count = _count + 1
    return codec.dumps(_count)
