"""Rule selection after the atomicity change: the policy rule SST105 is opt-in (its own code or
`ALL`, never a prefix), `extend-select` / `extend-ignore` in the config and on the command line,
and test modules that start no threads are single-threaded (`single-threaded-tests`)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import run_cli

from safestate_lint.config import Config

# a lone `d[k] = v` (atomic: only the policy reports it) and a global read-modify-write (SST101)
POLICY_ONLY = "D = {}\n\n\ndef put(k):\n    D[k] = 1\n"
MIXED = "count = 0\nD = {}\n\n\ndef inc(k):\n    global count\n    count += 1\n    D[k] = 1\n"
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>SST\d+) ")


def codes(result):
    return [m["code"] for m in map(LINE.match, result.stdout.decode().splitlines()) if m]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "m.py").write_text(MIXED)
    return tmp_path


def check(cwd, *args):
    return run_cli(["check", "--no-cache", "-q", *args], cwd=cwd)


def test_sst105_is_off_by_default(project):
    result = check(project)
    assert codes(result) == ["SST101"] and result.returncode == 1
    (project / "m.py").write_text(POLICY_ONLY)
    quiet = check(project)
    assert (quiet.returncode, quiet.stdout) == (0, b"")
    assert not Config().code_enabled("SST105") and Config().code_enabled("SST102")


@pytest.mark.parametrize("args", [["--select", "SST105"], ["--extend-select", "SST105"], ["--select", "ALL"],
                                  ["--extend-select", "ALL"]])
def test_sst105_is_on_when_named_or_all(project, args):
    found = codes(check(project, *args))
    assert "SST105" in found
    assert ("SST101" in found) == (args != ["--select", "SST105"])  # --select replaces the selection


def test_sst105_is_on_from_the_config_extend_select(project):
    (project / "pyproject.toml").write_text("[tool.safestate-lint]\nextend-select = ['SST105']\n")
    assert codes(check(project)) == ["SST101", "SST105"]
    (project / "pyproject.toml").write_text("[tool.safestate-lint]\nextend-select = 'sst105'\n")  # a string, any case
    assert codes(check(project)) == ["SST101", "SST105"]
    (project / "pyproject.toml").write_text("[tool.safestate-lint]\nselect = ['SST101']\nextend-select = ['SST105']\n")
    assert codes(check(project)) == ["SST101", "SST105"]


@pytest.mark.parametrize("selector", ["SST1", "SST10", "SST"])
def test_a_prefix_does_not_select_the_policy_rule(project, selector):
    assert codes(check(project, "--select", selector)) == ["SST101"]
    assert codes(check(project, "--extend-select", selector)) == ["SST101"]
    config = Config(select=(selector,))
    assert config.code_enabled("SST101") and not config.code_enabled("SST105")


def test_extend_ignore_removes_codes_on_top_of_the_selection(project):
    assert codes(check(project, "--extend-ignore", "SST101")) == []
    assert codes(check(project, "--extend-select", "SST105", "--extend-ignore", "SST101")) == ["SST105"]
    assert codes(check(project, "--select", "ALL", "--extend-ignore", "SST105")) == ["SST101"]
    (project / "pyproject.toml").write_text("[tool.safestate-lint]\nextend-select = ['SST105']\nextend-ignore = ['SST101']\n")
    assert codes(check(project)) == ["SST105"]
    # the command line extends the config's lists
    assert codes(check(project, "--extend-ignore", "SST105")) == []


def test_unknown_codes_in_extend_select_and_extend_ignore_are_clear_errors(project):
    for key in ("extend-select", "extend-ignore"):
        (project / "pyproject.toml").write_text(f"[tool.safestate-lint]\n{key} = ['SST105', 'SST999']\n")
        for command in ("check", "fix"):
            result = run_cli([command, "m.py"], cwd=project)
            assert result.returncode == 2
            assert result.stderr.decode() == (f"{project / 'pyproject.toml'}: error: [tool.safestate-lint] "
                                              f"key '{key}': unknown rule code or prefix 'SST999'\n")
    (project / "pyproject.toml").unlink()
    for option in ("--extend-select", "--extend-ignore"):
        bad = run_cli(["check", option, "XYZ9", "m.py"], cwd=project)
        assert bad.returncode == 2 and f"{option}: unknown rule code or prefix 'XYZ9'".encode() in bad.stderr, bad.stderr
    assert (project / "m.py").read_text() == MIXED


def test_flake8_agrees_with_the_cli_on_the_policy_rule(project):
    pytest.importorskip("flake8")

    def flake8():
        out = subprocess.run([sys.executable, "-m", "flake8", "--select", "SST", "m.py"], cwd=project,
                             capture_output=True, text=True, timeout=120).stdout
        return [m["code"] for m in map(LINE.match, out.splitlines()) if m]

    assert flake8() == codes(check(project, "m.py")) == ["SST101"]  # off by default in both
    (project / "pyproject.toml").write_text("[tool.safestate-lint]\nextend-select = ['SST105']\n")
    assert flake8() == codes(check(project, "m.py")) == ["SST101", "SST105"]


# -- test modules ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["test_state.py", "state_test.py", "conftest.py", "tests/helpers.py",
                                  "pkg/test/util.py"])
def test_a_test_module_without_threads_is_quiet_until_the_option_is_off(tmp_path, name):
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(MIXED)
    assert check(tmp_path, "--extend-select", "SST105").stdout == b""
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nsingle-threaded-tests = false\n")
    assert codes(check(tmp_path)) == ["SST101"]
    assert codes(check(tmp_path, "--extend-select", "SST105")) == ["SST101", "SST105"]


@pytest.mark.parametrize("threads", ["import threading\n", "from concurrent.futures import ThreadPoolExecutor\n",
                                     "import asyncio\n\n\nasync def go():\n    await asyncio.gather(g(), g())\n"])
def test_a_test_module_that_starts_threads_is_reported(tmp_path, threads):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_race.py").write_text(threads + MIXED)
    assert "SST101" in codes(check(tmp_path))


def test_a_module_that_only_looks_like_a_test_is_checked(tmp_path):
    for name in ("testing.py", "contest.py", "latest.py", "tests_util.py"):
        (tmp_path / name).write_text(MIXED)
    assert codes(check(tmp_path)) == ["SST101"] * 4


def test_the_test_directory_is_relative_to_the_config_root(tmp_path):
    """A project that itself lives under a directory called tests/ is not all test modules."""
    root = tmp_path / "tests" / "project"
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.safestate-lint]\n")
    (root / "app.py").write_text(MIXED)
    assert codes(check(root)) == ["SST101"]


def test_the_cache_knows_a_test_module_from_the_same_bytes_elsewhere(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text(MIXED)
    assert run_cli(["check", "-q", "tests/helpers.py"], cwd=tmp_path).stdout == b""  # cached: no findings
    (tmp_path / "app.py").write_text(MIXED)  # the same bytes in application code
    assert codes(run_cli(["check", "-q", "app.py"], cwd=tmp_path)) == ["SST101"]
