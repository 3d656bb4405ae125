import importlib

import app


def fresh():
    return importlib.reload(app)  # fresh state each run; its locks are made under the explorer


def record(module):
    module.record("abc")


def counted_both(module):
    assert module.total == 2 * 3, f"total == {module.total}"


def test_no_lost_update(interleavings):
    # the explorer shows a lost update on every run, where a stress test needs luck
    interleavings(fresh, record, record, invariant=counted_both)


def test_one_config(hammer):
    configs = hammer(app.get_config, threads=16, iterations=1)
    assert len({id(c) for per_thread in configs for c in per_thread}) == 1
