total = 0


def size(msg):
    return len(msg)


def add(msg):
    global total
    total += size(msg)
