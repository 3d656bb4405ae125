"""Caches whose values take time to build: one build per key, other keys never wait."""
import json
import threading
import urllib.request

_pages = {}
_users = {}
_profiles = {}
_avatars = {}
_settings = {}


def fetch(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def get_page(url):
    if url not in _pages:  # a miss
        _pages[url] = fetch(url)  # slow: a network round trip
    return _pages[url]


def get_user(user_id):
    try:
        return _users[user_id]
    except KeyError:
        user = json.loads(fetch(f"https://users.example/{user_id}"))
        _users[user_id] = user
        return user


def get_profile(user_id):
    # the memo shape: a hit returns at once
    if user_id in _profiles:
        return _profiles[user_id]
    profile = _profiles[user_id] = fetch(f"https://profiles.example/{user_id}")
    return profile


def get_avatar(user_id, size):
    key = (user_id, size)
    try:
        avatar = _avatars[key]
    except KeyError:
        avatar = fetch(f"https://avatars.example/{user_id}?s={size}")
        _avatars[key] = avatar
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
