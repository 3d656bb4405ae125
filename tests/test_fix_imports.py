"""Where a fix declares what it adds: imports in the module's top-level import block, sorted as
the project's isort/ruff settings say, and locks at module level, never in one branch of an
`if`/`try`.  Proven with the real tools: a file that `isort --check-only` and `ruff check
--select I` accepted before the fix, they accept after it.

isort and ruff are in the `dev` extra; these tests skip only for a tool the extra does not list."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from safestate_lint.config import Config
from safestate_lint.fixers import fix_source
from safestate_lint.fixers.imports import FIRST_PARTY, STDLIB, THIRD_PARTY, ImportStyle, style_for

ROOT = Path(__file__).resolve().parent.parent
DEV_EXTRA = (ROOT / "pyproject.toml").read_text()


def _tool(name: str) -> list:
    """The command that runs `name`, or a skip when the dev extra does not ask for it."""
    if importlib.util.find_spec(name) is None:
        if f'"{name}' not in DEV_EXTRA:
            pytest.skip(f"{name} is not in the dev extra")
        pytest.fail(f"{name} is in the dev extra but not installed: pip install -e '.[dev]'")
    return [sys.executable, "-m", name]


# the module body every case fixes: a list and a counter, both shared (policy SST105 selected:
# `_seen` becomes a LockedList, from the runtime; `_total` gets a threading lock)
BODY = '''
_seen = []
_total = 0


def record(item):
    global _total
    _seen.append(item)
    _total += 1
    return cast(int, len(_seen))
'''
POLICY = ("fix", "--no-cache", "--extend-select", "SST105")

CASES = {
    "plain": ({}, "import os\nfrom typing import cast\n"),
    "docstring-and-future": ({}, '"""A service."""\n\nfrom __future__ import annotations\n\nimport os\nfrom typing import cast\n'),
    "third-party-only": ({}, "from typing import cast\n\nimport libcst\n"),
    "relative-last": ({}, "from typing import cast\n\nimport libcst\n\nfrom . import helpers\n"),
    "runtime-already": ({}, "from typing import cast\n\nfrom safestate_lint.runtime import AtomicCounter, LockedDict\n"),
    "black-profile": ({"pyproject.toml": "[tool.isort]\nprofile = \"black\"\n"}, "import os\nfrom typing import cast\n"),
    "google-profile": ({"pyproject.toml": "[tool.isort]\nprofile = \"google\"\n\n[tool.ruff.lint.isort]\n"
                                          "force-single-line = true\nforce-sort-within-sections = true\n"},
                       "import os\nfrom typing import cast\n"),
    "force-sort-within": ({".isort.cfg": "[settings]\nforce_sort_within_sections = true\n",
                           "ruff.toml": "[lint.isort]\nforce-sort-within-sections = true\n"},
                          "from os import path\nfrom typing import cast\nimport zlib\n"),
    "first-party-runtime": ({"setup.cfg": "[isort]\nknown_first_party = safestate_lint\n",
                             "pyproject.toml": "[tool.ruff.lint.isort]\nknown-first-party = [\"safestate_lint\"]\n"},
                            "from typing import cast\n\nimport libcst\n"),
    "no-imports": ({}, '"""Only a docstring."""\ncast = lambda t, v: v\n'),
}


def _project(tmp_path: Path, files: dict, header: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    module = tmp_path / "service.py"
    module.write_text(header + BODY)
    return module


def _sorted_ok(tool: list, module: Path) -> subprocess.CompletedProcess:
    args = ["--check-only", "--diff", module.name] if tool[-1] == "isort" else \
        ["check", "--no-cache", "--select", "I", module.name]
    return subprocess.run([*tool, *args], cwd=module.parent, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("tool_name", ["isort", "ruff"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_file_the_import_sorter_accepted_stays_accepted_after_fix(tmp_path, case, tool_name):
    tool = _tool(tool_name)
    module = _project(tmp_path, *CASES[case])
    assert _sorted_ok(tool, module).returncode == 0, f"the case itself must pass {tool_name}"
    done = subprocess.run([sys.executable, "-m", "safestate_lint", *POLICY, module.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    fixed = module.read_text()
    assert done.returncode == 0, done.stderr
    assert "LockedList(" in fixed and "threading.Lock()" in fixed, fixed
    after = _sorted_ok(tool, module)
    assert after.returncode == 0, f"{tool_name} rejects the fixed file:\n{after.stdout}{after.stderr}\n{fixed}"


def test_the_imports_land_where_isort_puts_them(tmp_path):
    module = _project(tmp_path, {}, "import os\nfrom typing import cast\n\nimport libcst\n")
    fixed = fix_source(module.read_text(), str(module), Config(extend_select=("SST105",))).source
    assert fixed.startswith("import os\nimport threading\nfrom typing import cast\n\nimport libcst\n"
                            "from safestate_lint.runtime import LockedList\n\n_seen = LockedList()\n")


def test_a_name_joins_the_runtime_import_in_isort_order(tmp_path):
    module = _project(tmp_path, {}, "from typing import cast\n\nfrom safestate_lint.runtime import LockedDict, singleton\n")
    fixed = fix_source(module.read_text(), str(module), Config(extend_select=("SST105",))).source
    assert "from safestate_lint.runtime import LockedDict, LockedList, singleton\n" in fixed


def test_style_is_read_from_the_nearest_settings(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ruff.lint.isort]\nknown-first-party = ['safestate_lint']\n"
                                             "force-sort-within-sections = true\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("")
    (tmp_path / "mylib").mkdir()
    style = style_for(str(tmp_path / "pkg" / "mod.py"))
    assert style.force_sort_within_sections and style.root == str(tmp_path)
    assert style.section("safestate_lint.runtime") == FIRST_PARTY and style.section("threading") == STDLIB
    assert style.section("mylib") == FIRST_PARTY and style.section("libcst") == THIRD_PARTY
    assert ImportStyle().section("safestate_lint.runtime") == THIRD_PARTY  # a user's project: installed


LOCK_IN_BRANCH = textwrap.dedent('''\
    try:
        import ujson as codec
        _counts = {}
    except ImportError:  # the fallback
        import json as codec
        _counts = {}

    if codec:
        _total = 0
    else:
        _total = 1


    def count(key):
        global _total
        _counts[key] += 1
        _total += 1
        return codec.dumps(_total)
''')


def test_a_lock_is_declared_at_module_level_never_in_a_branch(tmp_path):
    """The state is bound in both branches of a try and of an if: one lock after each statement,
    so whichever branch ran, the lock exists (in the branch, the other one would miss it)."""
    fixed = fix_source(LOCK_IN_BRANCH, str(tmp_path / "m.py"), Config()).source
    assert fixed.startswith("import threading\n\ntry:\n")
    assert "    _counts = {}\n_counts_lock = threading.Lock()\n\nif codec:" in fixed
    assert "    _total = 1\n_total_lock = threading.Lock()\n" in fixed
    for variant in (fixed, fixed.replace("import ujson as codec", "import json as codec")):  # either branch runs
        (tmp_path / "m.py").write_text(variant)
        done = subprocess.run([sys.executable, "-c", "import m; m._counts['a'] = 0; print(m.count('a'))"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr


GOLDEN = sorted(p for p in (ROOT / "tests" / "fix_cases").glob("*.py") if not p.name.endswith(".fixed.py"))


def _rejected(tool: list, directory: Path) -> set:
    """The files of `directory` the sorter rejects (one run for all of them)."""
    args = ["--check-only", "."] if tool[-1] == "isort" else ["check", "--no-cache", "--select", "I",
                                                               "--output-format", "concise", "."]
    done = subprocess.run([*tool, *args], cwd=directory, capture_output=True, text=True, timeout=300)
    text = done.stdout + done.stderr
    return {path.name for path in directory.glob("*.py") if f"/{path.name} " in text or f"{path.name}:" in text}


@pytest.mark.parametrize("tool_name", ["isort", "ruff"])
def test_every_golden_fix_keeps_the_import_sorter_happy(tmp_path, tool_name):
    """Each golden case the sorter accepts (with its defaults) it accepts fixed, too."""
    tool = _tool(tool_name)
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    for case in GOLDEN:
        (before / case.name).write_text(case.read_text())
        (after / case.name).write_text(case.with_name(case.stem + ".fixed.py").read_text())
    accepted = {case.name for case in GOLDEN} - _rejected(tool, before)
    assert len(accepted) > len(GOLDEN) // 2
    assert not accepted & _rejected(tool, after)


def test_a_project_file_without_sorting_settings_does_not_hide_the_parents(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "setup.cfg").write_text("[isort]\nforce_single_line = true\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text("[project]\nname = 'sub'\n")
    assert style_for(str(tmp_path / "sub" / "m.py")).force_single_line
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "pyproject.toml").write_text("[project]\nname = 'other'\n")
    (tmp_path / "setup.cfg").unlink()
    style = style_for(str(tmp_path / "other" / "deeper" / "m.py"))
    assert not style.force_single_line and style.root == str(tmp_path / "other")
