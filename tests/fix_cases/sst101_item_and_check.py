STATS = {"hits": 0}
count = 0


def hit():
    STATS["hits"] += 1


def wrap():
    global count
    if count > 10:
        count = 0
