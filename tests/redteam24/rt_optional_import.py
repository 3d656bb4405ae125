"""Bait: every top-level import sits inside an optional-import try/except, the last one in
the `except ImportError:` branch, and `threading` is not imported at all (threads come from
an executor).  A new `import threading` and lock placed after "the last import" land in that
branch; the import succeeds, the branch never runs, and the fixed module raises NameError."""
try:
    from concurrent.futures import ThreadPoolExecutor
    import json as _codec
except ImportError:  # pragma: no cover - the fallback
    from multiprocessing.dummy import Pool as ThreadPoolExecutor
    import pickle as _codec

_encoded = 0


def encode(obj):
    global _encoded
    data = _codec.dumps(obj)
    _encoded = _encoded + len(data)
    return data


def main():
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(encode, [[k, i] for k in range(4) for i in range(50)]))
    print("encoded", _encoded, _codec.__name__)


if __name__ == "__main__":
    main()
