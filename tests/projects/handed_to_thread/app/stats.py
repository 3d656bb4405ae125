"""Counters for one crawl."""


class Stats:
    def __init__(self):
        self.count = 0

    def add(self, n=1):
        self.count += n

    def summary(self):
        return f"{self.count} pages"
