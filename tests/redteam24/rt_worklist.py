"""Bait: a worklist loop over a shared list that the loop body extends; another thread also
appends to it.  Iterating a snapshot instead stops after the first item."""
import threading

_DEPS = {"app": ["db", "web"], "web": ["http"], "db": ["sql"], "http": [], "sql": [], "extra": []}
_to_load = []
_loaded = []


def request(mod):
    _to_load.append(mod)


def load_all():
    for mod in _to_load:  # the body extends the list it walks
        if mod in _loaded:
            continue
        _loaded.append(mod)
        for dep in _DEPS[mod]:
            _to_load.append(dep)


def main():
    t = threading.Thread(target=request, args=("app",))
    t.start()
    t.join()
    load_all()
    print("loaded", sorted(_loaded), len(_to_load))


if __name__ == "__main__":
    main()
