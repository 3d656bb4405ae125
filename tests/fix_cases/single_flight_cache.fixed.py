"""Caches whose values take time to build: one build per key, other keys never wait."""
import json
import threading
import urllib.request

from safestate_lint.runtime import LockedDict

_pages = LockedDict()
_users = LockedDict()
_profiles = LockedDict()
_avatars = LockedDict()
_settings = LockedDict()


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def get_page(url):
    # a miss
    # slow: a network round trip
    return _pages.get_or_create(url, lambda: fetch(url))


def get_user(user_id):
    return _users.get_or_create(user_id, lambda: json.loads(fetch(f"https://users.example/{user_id}")))


def get_profile(user_id):
    # the memo shape: a hit returns at once
    return _profiles.get_or_create(user_id, lambda: fetch(f"https://profiles.example/{user_id}"))


def get_avatar(user_id, size):
    key = (user_id, size)
    avatar = _avatars.get_or_create(key, lambda: fetch(f"https://avatars.example/{user_id}?s={size}"))
    return len(avatar)


def get_setting(name):
    value = _settings.get(name)
    if value is None:  # a stored None is fetched again: not a single-flight shape
        value = fetch(f"https://settings.example/{name}")
        _settings[name] = value
    return value


def serve(urls):
    threads = [threading.Thread(target=get_page, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
