"""Handlers called from the server's worker threads."""
from .cache import LRU
from .special import AuditedStore

_profiles = LRU(maxsize=1024)


def load_profile(user_id):
    return {"id": user_id, "name": f"user {user_id}"}


def profile(user_id):
    found = _profiles.get(user_id)
    if found is None:
        found = load_profile(user_id)
        _profiles.put(user_id, found)
    return found


def miss_count():
    return _profiles.misses


def make_audit_store():
    return AuditedStore()
