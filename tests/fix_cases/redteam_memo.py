import collections

_memo = collections.OrderedDict()


def fib(n):
    if n in _memo:
        return _memo[n]
    value = n if n < 2 else fib(n - 1) + fib(n - 2)
    _memo[n] = value
    return value
