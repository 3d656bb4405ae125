"""Real flake8 in a subprocess: the plugin gives exactly what `safestate-lint check` gives."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from helpers import expected_findings, fixture_files, run_cli

pytest.importorskip("flake8")
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>SST\d+) ")


def flake8(args, cwd):
    return subprocess.run([sys.executable, "-m", "flake8", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def parse(output):
    return [(m["path"], int(m["line"]), int(m["col"]), m["code"]) for m in map(LINE.match, output.splitlines()) if m]


@pytest.fixture
def fixtures(tmp_path):
    for path in fixture_files():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_plugin_is_registered():
    result = subprocess.run([sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True)
    assert "safestate-lint" in result.stdout


def test_flake8_and_cli_agree_on_every_golden_file(fixtures):
    names = sorted(p.name for p in fixtures.glob("*.py"))
    result = flake8(["--select", "SST", *names], fixtures)
    from_flake8 = parse(result.stdout)
    cli = run_cli(["check", "--no-cache", "-q", *names], cwd=fixtures)
    from_cli = parse(cli.stdout.decode())
    assert from_flake8 == from_cli  # same set, same order
    expected = {(name, line, code) for name in names
                for line, code in expected_findings((fixtures / name).read_text(), opt_in=False)}
    assert {(p, l, c) for p, l, _, c in from_flake8} == expected  # the opt-in SST105 is off in both


def test_flake8_and_cli_agree_on_the_opt_in_rule_selected_in_the_config(fixtures):
    names = sorted(p.name for p in fixtures.glob("*.py"))
    (fixtures / "pyproject.toml").write_text("[tool.safestate-lint]\nextend-select = ['SST105']\n")
    from_flake8 = parse(flake8(["--select", "SST", *names], fixtures).stdout)
    from_cli = parse(run_cli(["check", "--no-cache", "-q", *names], cwd=fixtures).stdout.decode())
    assert from_flake8 == from_cli
    marked = [name for name in names if any(code == "SST105" for _, code in expected_findings((fixtures / name).read_text()))]
    assert "sst102.py" in marked
    for name in marked:  # a fixture that marks SST105 marks every finding it has with SST105 selected
        expected = {(line, code) for line, code in expected_findings((fixtures / name).read_text())}
        assert {(l, c) for p, l, _, c in from_flake8 if p == name} == expected, name


def test_flake8_reports_next_to_its_own_codes(fixtures):
    result = flake8(["sst101.py"], fixtures)
    codes = {c for _, _, _, c in parse(result.stdout)}
    assert "SST101" in codes
    assert result.returncode == 1


def test_flake8_options_and_noqa_work_on_sst_codes(tmp_path):
    (tmp_path / "a.py").write_text("D = []\n\n\ndef f(k):\n    D.insert(0, k)\n    D.sort()  # noqa: SST102\n")
    (tmp_path / "b.py").write_text("D = []\n\n\ndef f(k):\n    D.insert(0, k)\n")
    assert [r[1] for r in parse(flake8(["--select", "SST", "a.py"], tmp_path).stdout)] == [5]
    assert parse(flake8(["--select", "SST", "--extend-ignore", "SST102", "a.py"], tmp_path).stdout) == []
    per_file = flake8(["--select", "SST", "--per-file-ignores", "b.py:SST102", "a.py", "b.py"], tmp_path)
    assert [r[0] for r in parse(per_file.stdout)] == ["a.py"]


def test_flake8_reads_the_same_pyproject_config(tmp_path):
    (tmp_path / "a.py").write_text("D = []\n\n\ndef f(k):\n    with guard:\n        D.insert(0, k)\n")
    assert len(parse(flake8(["--select", "SST", "a.py"], tmp_path).stdout)) == 1
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nlock-names = ['guard']\n")
    assert parse(flake8(["--select", "SST", "a.py"], tmp_path).stdout) == []
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nlock-names = []\nignore = ['SST102']\n")
    assert parse(flake8(["--select", "SST", "a.py"], tmp_path).stdout) == []


def test_plugin_uses_flakes8s_lines_without_reading_the_file(tmp_path, monkeypatch):
    import ast

    from safestate_lint.flake8_plugin import SafeStatePlugin

    source = "n = 0\n\n\ndef f():\n    global n\n    n += 1\n"
    plugin = SafeStatePlugin(ast.parse(source), source.splitlines(True), str(tmp_path / "never-written.py"))
    results = list(plugin.run())
    assert [(line, col, text.split()[0]) for line, col, text, _ in results] == [(6, 4, "SST101")]
