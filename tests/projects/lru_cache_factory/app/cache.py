"""An in-process cache of rendered product pages."""


class Cache:
    def __init__(self, maxsize=1024):
        self.maxsize = maxsize
        self._pages = {}
        self.hits = 0

    def lookup(self, key):
        page = self._pages.get(key)
        if page is not None:
            self.hits += 1
        return page

    def store(self, key, page):
        self._pages[key] = page
