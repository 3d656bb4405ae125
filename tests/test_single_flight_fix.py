"""The single-flight fix: a module dict filled on a miss by calling code becomes a `LockedDict`
and one `get_or_create` statement, in exactly the simple shapes; anything else keeps the other
fixes, and the reason says why single flight did not apply.

Every rewritten program is also run single-threaded next to the original: the same builds, in
the same order, with the same results and exceptions (the value flow is unchanged)."""

from __future__ import annotations

import ast
import importlib.util
import re
import textwrap

import pytest

from safestate_lint.config import Config
from safestate_lint.engine import check_source
from safestate_lint.engine.analysis import ModuleAnalysis
from safestate_lint.fixers import fix_source, single_flight
from safestate_lint.fixers.base import FixContext

HEADER = "import threading\nimport time\n\n_c = {}\n\n\ndef fetch(*key):\n    time.sleep(0)\n    return key\n\n\n"
FOOTER = "\n\nthreading.Thread(target=print).start()\n"


def fixed(body: str, config: Config = Config()) -> str:
    source = HEADER + textwrap.dedent(body) + FOOTER
    result = fix_source(source, "m.py", config)
    assert not fix_source(result.source, "m.py", config).changed  # a second fix changes nothing
    return result.source


def function_of(source: str) -> str:
    """The fixed text from the first `def` after `fetch` up to the footer."""
    return source.split("return key\n\n\n", 1)[1].split(FOOTER, 1)[0]


def left(source: str, config: Config = Config()):
    return [(f.code, f.message) for f in check_source(source, "m.py", config)]


@pytest.mark.parametrize("body,expected", [
    # test-then-set, then the lookup: one return
    ("def get(k):\n    if k not in _c:\n        _c[k] = fetch(k)\n    return _c[k]\n",
     "def get(k):\n    return _c.get_or_create(k, lambda: fetch(k))\n"),
    # through a local the function uses nowhere else; the lookup binds a name
    ("def get(k):\n    if k not in _c:\n        v = fetch(k)\n        _c[k] = v\n    found = _c[k]\n    return found\n",
     "def get(k):\n    found = _c.get_or_create(k, lambda: fetch(k))\n    return found\n"),
    # test-then-set and other statements after it: a bare call, the rest kept
    ("def get(k):\n    if k not in _c:\n        _c[k] = fetch(k)\n    print(k)\n    return _c[k]\n",
     "def get(k):\n    _c.get_or_create(k, lambda: fetch(k))\n    print(k)\n    return _c[k]\n"),
    # the memo shape, three spellings of the store
    ("def get(k):\n    if k in _c:\n        return _c[k]\n    _c[k] = fetch(k)\n    return _c[k]\n",
     "def get(k):\n    return _c.get_or_create(k, lambda: fetch(k))\n"),
    ("def get(k):\n    if k in _c:\n        return _c[k]\n    v = fetch(k)\n    _c[k] = v\n    return v\n",
     "def get(k):\n    return _c.get_or_create(k, lambda: fetch(k))\n"),
    ("def get(k):\n    if k in _c:\n        return _c[k]\n    v = _c[k] = fetch(k)\n    return v\n",
     "def get(k):\n    return _c.get_or_create(k, lambda: fetch(k))\n"),
    # EAFP: return, and bind
    ("def get(k):\n    try:\n        return _c[k]\n    except KeyError:\n        v = fetch(k)\n        _c[k] = v\n        return v\n",
     "def get(k):\n    return _c.get_or_create(k, lambda: fetch(k))\n"),
    ("def get(k):\n    try:\n        return _c[k]\n    except LookupError as exc:\n        _c[k] = fetch(k)\n        return _c[k]\n",
     "def get(k):\n    return _c.get_or_create(k, lambda: fetch(k))\n"),
    ("def get(k):\n    try:\n        v = _c[k]\n    except KeyError:\n        v = _c[k] = fetch(k)\n    return len(v)\n",
     "def get(k):\n    v = _c.get_or_create(k, lambda: fetch(k))\n    return len(v)\n"),
    ("def get(k):\n    try:\n        v = _c[k]\n    except KeyError:\n        _c[k] = fetch(k)\n        v = _c[k]\n    return v\n",
     "def get(k):\n    v = _c.get_or_create(k, lambda: fetch(k))\n    return v\n"),
    # a key of two arguments, written without parentheses in the store
    ("def get(a, b):\n    if (a, b) not in _c:\n        _c[a, b] = fetch(a, b)\n    return _c[a, b]\n",
     "def get(a, b):\n    return _c.get_or_create((a, b), lambda: fetch(a, b))\n"),
    ("def get(a, b):\n    try:\n        return _c[a, b]\n    except KeyError:\n        _c[a, b] = fetch(a, b)\n        return _c[a, b]\n",
     "def get(a, b):\n    return _c.get_or_create((a, b), lambda: fetch(a, b))\n"),
    # a loop variable: the lambda runs before the next iteration, so it sees this one's value
    ("def warm(keys):\n    for k in keys:\n        if k not in _c:\n            _c[k] = fetch(k)\n",
     "def warm(keys):\n    for k in keys:\n        _c.get_or_create(k, lambda: fetch(k))\n"),
])
def test_the_simple_shapes_become_one_get_or_create(body, expected, tmp_path):
    source = fixed(body)
    assert "_c = LockedDict()\n" in source and "from safestate_lint.runtime import LockedDict\n" in source
    assert function_of(source) == expected
    assert left(source) == []
    assert_same_single_threaded(HEADER + textwrap.dedent(body) + FOOTER, source, tmp_path)


def test_comments_lead_the_new_statement_and_a_long_build_keeps_its_shape():
    source = fixed("def get(k):\n    # fill once\n    try:\n        v = _c[k]  # hit\n    except KeyError:\n"
                   "        v = fetch(\n            k,  # the key\n            1,\n        )\n        _c[k] = v  # stored\n"
                   "    return v\n")
    assert function_of(source) == ("def get(k):\n    # fill once\n    # hit\n    # stored\n"
                                   "    v = _c.get_or_create(k, lambda: fetch(\n        k,  # the key\n        1,\n    ))\n"
                                   "    return v\n")


def test_a_runtime_dict_already_there_is_kept_and_rewritten():
    source = fixed("def get(k):\n    if k not in _d:\n        _d[k] = fetch(k)\n    return _d[k]\n"
                   .replace("def get", "from safestate_lint.runtime import LockedDict\n_d = LockedDict()\n\n\ndef get"))
    assert "    return _d.get_or_create(k, lambda: fetch(k))\n" in source and source.count("LockedDict()") == 1
    assert left(source) == []


@pytest.mark.parametrize("body,why", [
    ("def get(k):\n    if str(k) not in _c:\n        _c[str(k)] = fetch(k)\n    return _c[str(k)]\n",
     "the key is computed by an expression"),
    ("def get(k):\n    if k not in _c:\n        print('miss')\n        _c[k] = fetch(k)\n    return _c[k]\n",
     "statements besides building and storing the value run between the test and the store"),
    ("def get(k):\n    v = _c.get(k)\n    if v is None:\n        v = fetch(k)\n        _c[k] = v\n    return v\n",
     "a stored None or falsy value would be built again"),
    ("def get(k):\n    if k not in _c:\n        _c[k] = fetch(k)\n    else:\n        print(k)\n    return _c[k]\n",
     "the test has an else branch"),
    ("def get(k):\n    try:\n        return _c[k]\n    except (KeyError, TypeError):\n        _c[k] = fetch(k)\n        return _c[k]\n",
     "the handler catches more than KeyError"),
    ("def get(k):\n    try:\n        return _c[k]\n    except KeyError as exc:\n        _c[k] = fetch(k, str(exc))\n        return _c[k]\n",
     "the handler uses the exception 'exc'"),
    ("def get(k):\n    if k not in _c:\n        _c[k] = (n := fetch(k))\n    return _c[k]\n",
     "binds a name (`:=`)"),
    ("def get(k):\n    if k not in _c:\n        v = fetch(k)\n        _c[k] = v\n    return v\n",
     "'v' is used outside the miss"),
    ("class Base:\n    def load(self, k):\n        return fetch(k)\n\n\nclass Loader(Base):\n    def load(self, k):\n"
     "        if k not in _c:\n            _c[k] = super().load(k)\n        return _c[k]\n",
     "calls super(), which sees a lambda's frame"),
    ("async def get(k):\n    if k not in _c:\n        _c[k] = fetch(k)\n    return _c[k]\n",
     "is a coroutine: waiting for another thread's build would block its event loop"),
    ("_lock = threading.Lock()\n\n\ndef get(k):\n    with _lock:\n        return load(k)\n\n\ndef load(k):\n"
     "    if k not in _c:\n        _c[k] = build(k)\n    return _c[k]\n\n\ndef build(k):\n    with _lock:\n        return fetch(k)\n",
     "runs while '_lock' is held, and the build may need it"),
])
def test_near_misses_keep_the_other_fixes_and_say_why_not_single_flight(body, why):
    """None of these becomes get_or_create. Each keeps what the other fixes do: a test-then-set
    whose slow call is in a helper is double-checked under a lock taken only on a miss (as
    before); the other shapes would hold a lock across the blocking build, so the finding stays,
    with both reasons."""
    source = HEADER.replace("time.sleep(0)", "time.sleep(0.001)") + textwrap.dedent(body) + FOOTER
    result = fix_source(source, "m.py", Config())
    assert "get_or_create" not in result.source
    reasons = [result.why(f) or "" for f in result.remaining if f.code == "SST103"]
    if reasons:
        assert any("single flight (get_or_create) does not apply: " in r and why in r for r in reasons), reasons
    else:  # the locked double-check: never silently racy
        assert left(result.source) == [] and "with _c_lock:" in result.source
    # the reason single flight gives, whatever the other fixes did
    analysis = ModuleAnalysis(ast.parse(source), Config(), source.splitlines(keepends=True))
    act = next(a for a in analysis.acts if a.key == ("g", "_c") and a.check is not None)
    with pytest.raises(single_flight.NoFlight, match=re.escape(why)):
        single_flight.cache_fill(FixContext(analysis, source, False), act)


def test_a_build_that_calls_nothing_keeps_its_lock():
    source = fixed("def get(k):\n    if k not in _c:\n        _c[k] = [k]\n    return _c[k]\n")
    assert "get_or_create" not in source and left(source) == []


def test_a_public_dict_stays_a_dict_and_says_so():
    body = "def get(k):\n    if k not in CACHE:\n        CACHE[k] = fetch(k)\n    return CACHE[k]\n"
    source = HEADER.replace("time.sleep(0)", "time.sleep(0.001)").replace("_c = {}", "CACHE = {}") + body + FOOTER
    result = fix_source(source, "m.py", Config())
    assert "get_or_create" not in result.source
    if result.remaining:
        assert "'CACHE' stays a plain dict: 'CACHE' is public" in (result.why(result.remaining[0]) or "")


def test_runtime_none_means_no_single_flight():
    source = fixed("def get(k):\n    if k not in _c:\n        _c[k] = fetch(k)\n    return _c[k]\n",
                   Config(runtime_module="none"))
    assert "get_or_create" not in source and "LockedDict" not in source


# -- the value flow, single-threaded ------------------------------------------------------------------

DRIVE = [1, 2, 1, "boom", 3, 2, "boom", 1]


def assert_same_single_threaded(original: str, rewritten: str, tmp_path) -> None:
    """Call the module's function with keys (a failing build for "boom") in both versions:
    the same builds in the same order, the same results, the same exceptions."""
    assert run(original, tmp_path / "original.py") == run(rewritten, tmp_path / "rewritten.py")


def run(source: str, path) -> list:
    path.write_text(source.replace("threading.Thread(target=print).start()\n", ""))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    trace: list = []

    def fetch(*key):
        trace.append(("build", key))
        if "boom" in key:
            raise ValueError("boom")
        return ("value", key)

    module.fetch = fetch
    for name in ("get", "warm"):
        fn = getattr(module, name, None)
        if fn is None:
            continue
        for k in DRIVE:
            args = ([k],) if name == "warm" else (k, k) if fn.__code__.co_argcount == 2 else (k,)
            try:
                trace.append(("result", fn(*args)))
            except ValueError as exc:
                trace.append(("raised", str(exc)))
    trace.append(("cache", sorted(map(repr, dict(module._c).items()))))
    return trace
