x = 1

_n = 0

def inc():
    global _n
    _n += 1

# a U+2028 in a comment:   here
_m = 0

def inc2():
    global _m
    _m += 1
