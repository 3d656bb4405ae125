from collections import defaultdict

ITEMS = []
SEEN = set()
BY_KEY = defaultdict(list)
NAMES = list()


def add(x):
    ITEMS.append(x)
    SEEN.add(x)
    BY_KEY[x].append(x)
    NAMES.append(x)
