import app


def test_no_lost_update(hammer):
    hammer(lambda: app.record("abc"), threads=8, iterations=2000)
    assert app.total == 8 * 2000 * 3


def test_one_config(hammer):
    configs = hammer(app.get_config, threads=16, iterations=1)
    assert len({id(c) for per_thread in configs for c in per_thread}) == 1
