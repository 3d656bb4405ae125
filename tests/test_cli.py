"""The real CLI in a subprocess: output, exit codes, bad input and configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from helpers import ROOT, run_cli

UNSAFE = "count = 0\n\ndef inc():\n    global count\n    count += 1\n"
SAFE = "def f(x):\n    return x + 1\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text(UNSAFE)
    (tmp_path / "pkg" / "a.py").write_text("D = []\n\ndef put(k):\n    D.insert(0, k)\n")  # not atomic: SST102
    (tmp_path / "ok.py").write_text(SAFE)
    return tmp_path


def lines(result):
    return result.stdout.decode().splitlines()


def test_text_output_sorted_relative_and_exit_1(project):
    result = run_cli(["check", "--no-cache"], cwd=project)
    assert result.returncode == 1
    assert lines(result) == [
        "pkg/a.py:4:5: SST102 'D' is mutated (.insert()) in 'put()' without a lock: not atomic",
        "pkg/b.py:5:5: SST101 global 'count' is read and rebound without a lock in 'inc()'",
    ]
    assert b"Found 2 findings in 3 files." in result.stderr


def test_paths_are_printed_as_given(project):
    result = run_cli(["check", "--no-cache", "-q", "./pkg/b.py", str(project / "pkg" / "a.py")], cwd=project)
    out = lines(result)
    assert out[0].startswith(str(project / "pkg" / "a.py") + ":4:5: SST102")
    assert out[1].startswith("pkg/b.py:5:5: SST101")


def test_clean_exit_0_and_quiet(project):
    result = run_cli(["check", "--no-cache", "-q", "ok.py"], cwd=project)
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_json_format(project):
    result = run_cli(["check", "--no-cache", "--format", "json"], cwd=project)
    data = json.loads(result.stdout)
    assert [(d["path"], d["line"], d["col"], d["code"]) for d in data] == [("pkg/a.py", 4, 5, "SST102"), ("pkg/b.py", 5, 5, "SST101")]
    assert result.returncode == 1


def test_sarif_format(project):
    result = run_cli(["check", "--no-cache", "--format", "sarif"], cwd=project)
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"SST101", "SST203"}
    assert [r["ruleId"] for r in run["results"]] == ["SST102", "SST101"]
    assert run["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5


def test_github_format(project):
    result = run_cli(["check", "--no-cache", "--format", "github"], cwd=project)
    assert lines(result)[1].startswith("::error title=safestate-lint (SST101),file=pkg/b.py,line=5,col=5,")


def test_statistics(project):
    result = run_cli(["check", "--no-cache", "--statistics", "-q"], cwd=project)
    assert lines(result) == ["1\tSST101\tshared-global-read-modify-write", "1\tSST102\tshared-container-mutation"]
    fixes = run_cli(["check", "--no-cache", "--statistics", "--show-fixes", "-q"], cwd=project)  # [*] from computed fixes
    assert lines(fixes) == ["1\tSST101\tshared-global-read-modify-write [*] 1 fixable",
                            "1\tSST102\tshared-container-mutation [*] 1 fixable"]


def test_select_and_ignore_by_code_and_prefix(project):
    assert lines(run_cli(["check", "--no-cache", "-q", "--select", "SST101"], cwd=project))[0].startswith("pkg/b.py")
    assert len(lines(run_cli(["check", "--no-cache", "-q", "--select", "SST1"], cwd=project))) == 2
    result = run_cli(["check", "--no-cache", "-q", "--ignore", "SST10"], cwd=project)
    assert (result.returncode, result.stdout) == (0, b"")
    bad = run_cli(["check", "--select", "XYZ9"], cwd=project)
    assert bad.returncode == 2 and b"unknown rule code or prefix 'XYZ9'" in bad.stderr


def test_noqa(tmp_path):
    (tmp_path / "m.py").write_text(  # four non-atomic list operations, each its own SST102
        "D = []\ndef f(k):\n    D.insert(0, k)  # noqa\n    D.sort()  # noqa: SST102\n    D.pop(0)  # noqa: SST101\n"
        "    D.reverse()  # NOQA:SST1\n"
    )
    result = run_cli(["check", "--no-cache", "-q", "m.py"], cwd=tmp_path)
    assert [l.split(":")[1] for l in lines(result)] == ["5"]


def test_stdin_with_filename(project):
    result = run_cli(["check", "--no-cache", "--stdin-filename", "pkg/editor.py", "-"], cwd=project, stdin=UNSAFE.encode())
    assert lines(result) == ["pkg/editor.py:5:5: SST101 global 'count' is read and rebound without a lock in 'inc()'"]
    assert result.returncode == 1


def test_jobs_give_identical_output(tmp_path):
    for i in range(12):
        (tmp_path / f"m{i:02}.py").write_text(UNSAFE if i % 2 else SAFE)
    one = run_cli(["check", "--no-cache", "-q", "--jobs", "1"], cwd=tmp_path)
    two = run_cli(["check", "--no-cache", "-q", "--jobs", "2"], cwd=tmp_path)
    assert one.stdout == two.stdout and len(lines(one)) == 6


def test_bad_files_are_reported_and_others_still_checked(tmp_path):
    (tmp_path / "a_syntax.py").write_text("def f(:\n    pass\n")
    (tmp_path / "b_undecodable.py").write_bytes(b"x = '\xff\xfe'\n")
    (tmp_path / "c_nul.py").write_bytes(b"x = 1\x00\n")
    (tmp_path / "d_py2.py").write_text("print 'hello'\n")
    (tmp_path / "e_binary.py").write_bytes(bytes(range(256)))
    os.symlink(tmp_path / "missing-target.py", tmp_path / "f_dangling.py")
    (tmp_path / "z_unsafe.py").write_text(UNSAFE)
    result = run_cli(["check", "--no-cache"], cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr.decode().splitlines()
    assert err[0].startswith("a_syntax.py: error: syntax error at line 1")
    assert err[1].startswith("b_undecodable.py: error: cannot decode as utf-8 at byte 5")
    assert err[2] == "c_nul.py: error: source contains a NUL byte (line 1)"
    assert err[3].startswith("d_py2.py: error: syntax error at line 1")
    assert err[4].startswith("e_binary.py: error:")
    assert err[5] == "f_dangling.py: error: No such file or directory"
    assert "Traceback" not in result.stderr.decode()
    assert lines(result) == ["z_unsafe.py:5:5: SST101 global 'count' is read and rebound without a lock in 'inc()'"]


def test_missing_path_is_an_error(tmp_path):
    result = run_cli(["check", "nope.py"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[0] == "nope.py: error: No such file or directory"


def test_odd_but_valid_files(tmp_path):
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf" + UNSAFE.encode())
    (tmp_path / "crlf.py").write_bytes(UNSAFE.replace("\n", "\r\n").encode())
    (tmp_path / "tabs.py").write_text(UNSAFE.replace("    ", "\t"))
    (tmp_path / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n" + UNSAFE.encode())
    (tmp_path / "unicode.py").write_text("D = []\ndef f():\n    x = 'ééé'; D.insert(0, x)\n")
    long_source = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(25000)) + UNSAFE
    (tmp_path / "long.py").write_text(long_source)
    result = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)
    out = lines(result)
    assert result.returncode == 1, result.stderr
    assert "bom.py:5:5: SST101" in out[0]
    assert "crlf.py:5:5: SST101" in out[1]
    assert out[2].startswith("latin.py:7:5: SST101")
    assert out[3].startswith("long.py:50005:5: SST101")
    assert out[4].startswith("tabs.py:5:2: SST101")
    assert out[5].startswith("unicode.py:3:16: SST102")  # columns count characters, not bytes


def test_config_unknown_key(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nselecct = ['SST1']\n")
    (tmp_path / "a.py").write_text(SAFE)
    result = run_cli(["check"], cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "pyproject.toml: error: unknown key 'selecct' in [tool.safestate-lint]" in err


@pytest.mark.parametrize("body,expected", [
    ("lock-names = '_guard'", "key 'lock-names' must be a list of glob patterns of lock names, got str '_guard'"),
    ("select = [1]", "key 'select' must be a list of rule codes or prefixes, got list [1]"),
    ("runtime-module = 3", "key 'runtime-module' must be a module name string, or 'none' (standard-library locks only), got int 3"),
    ("per-file-ignores = ['x']", "key 'per-file-ignores' must be a table of glob pattern = list of rule codes"),
])
def test_config_wrong_types(tmp_path, body, expected):
    (tmp_path / "pyproject.toml").write_text(f"[tool.safestate-lint]\n{body}\n")
    (tmp_path / "a.py").write_text(SAFE)
    result = run_cli(["check"], cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr.decode()
    assert result.stderr.decode().count("\n") == 1


def test_invalid_toml(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint\nselect = \n")
    (tmp_path / "a.py").write_text(SAFE)
    result = run_cli(["check"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"{tmp_path / 'pyproject.toml'}: error: invalid TOML")


def test_explicit_config_file_and_missing_one(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    (tmp_path / "lint.toml").write_text("ignore = ['SST101']\n")
    assert run_cli(["check", "--no-cache", "--config", "lint.toml"], cwd=tmp_path).returncode == 0
    missing = run_cli(["check", "--config", "nope.toml"], cwd=tmp_path)
    assert missing.returncode == 2 and b"nope.toml: error: config file not found" in missing.stderr


def test_config_lock_names_decorators_per_file_ignores_and_exclude(tmp_path):
    shutil.copy(ROOT / "tests" / "data" / "custom_locks.py", tmp_path / "jobs.py")
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "out.py").write_text(UNSAFE)
    (tmp_path / "legacy.py").write_text(UNSAFE)
    before = run_cli(["check", "--no-cache", "-q"], cwd=tmp_path)
    assert len(lines(before)) == 4
    (tmp_path / "pyproject.toml").write_text(
        "[tool.safestate-lint]\n"
        "lock-names = ['_guard']\n"
        "synchronized-decorators = ['serialized']\n"
        "extend-exclude = ['gen']\n"
        "per-file-ignores = { 'legacy.py' = ['SST101'] }\n"
    )
    after = run_cli(["check", "--no-cache"], cwd=tmp_path)
    assert (after.returncode, after.stdout) == (0, b""), after.stderr
    excluded = run_cli(["check", "--no-cache", "-q", "--exclude", "jobs.py"], cwd=tmp_path)
    assert excluded.returncode == 0


BLOCKING = """\
import threading
from mypkg import rpc

_lock = threading.Lock()
_cache = {}


def refresh(key):
    if key not in _cache:
        _cache[key] = rpc.call(key)


def load(key):
    with _lock:
        if key not in _cache:
            _cache[key] = rpc.call(key)


def drop(key):
    with _lock:
        _cache.pop(key, None)
"""


def test_config_blocking_calls_extends_sst404_and_the_fixer(tmp_path):
    (tmp_path / "m.py").write_text(BLOCKING)
    assert b"SST404" not in run_cli(["check", "-q"], cwd=tmp_path).stdout
    fixed = run_cli(["fix", "--diff"], cwd=tmp_path).stdout.decode()
    assert "+    with _lock:" in fixed  # refresh()'s test and write are locked: the call is not known to block
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nblocking-calls = ['mypkg.rpc.*']\n")
    found = lines(run_cli(["check", "-q"], cwd=tmp_path))  # the cache is keyed by the new config
    assert any("m.py:16:13: SST404 'rpc.call()' can block while '_lock' is held" in line for line in found), found
    refused = run_cli(["fix", "--diff"], cwd=tmp_path)  # the fixer now never holds a lock around it
    assert b"+    with _lock:" not in refused.stdout
    assert b"a blocking call, 'rpc.call()'" in refused.stderr, refused.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nblocking-calls = 'mypkg.rpc.*'\n")
    bad = run_cli(["check"], cwd=tmp_path)
    assert bad.returncode == 2 and b"key 'blocking-calls' must be a list of call names" in bad.stderr


def test_cache_is_used_and_invalidated(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    first = run_cli(["check", "-q"], cwd=tmp_path)
    assert (tmp_path / ".safestate_cache").is_dir()
    second = run_cli(["check", "-q"], cwd=tmp_path)
    assert first.stdout == second.stdout and len(lines(first)) == 1
    (tmp_path / "a.py").write_text(SAFE)
    assert run_cli(["check", "-q"], cwd=tmp_path).stdout == b""
    # a config change that affects findings misses the cache
    (tmp_path / "a.py").write_text("D = []\ndef f():\n    with guard:\n        D.sort()\n")
    assert len(lines(run_cli(["check", "-q"], cwd=tmp_path))) == 1
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nlock-names = ['guard']\n")
    assert len(lines(run_cli(["check", "-q"], cwd=tmp_path))) == 0


def test_rule_and_rules_commands():
    doc = run_cli(["rule", "SST201"])
    assert doc.returncode == 0
    text = doc.stdout.decode()
    assert text.startswith("# check-then-act-singleton (SST201)")
    assert "## Why is this bad?" in text and "## Use instead" in text
    assert run_cli(["rule", "shared-container-mutation"]).stdout.decode().startswith("# shared-container-mutation (SST102)")
    unknown = run_cli(["rule", "SST999"])
    assert unknown.returncode == 2 and b"unknown rule 'SST999'" in unknown.stderr
    listing = lines(run_cli(["rules"]))
    assert [l.split()[0] for l in listing] == ["SST101", "SST102", "SST103", "SST104", "SST105", "SST201", "SST202", "SST203",
                                              "SST301", "SST302", "SST303", "SST304", "SST401", "SST402", "SST403", "SST404", "SST405"]


def test_usage_error_exit_2():
    result = run_cli(["check", "--format", "xml"])
    assert result.returncode == 2 and b"invalid choice" in result.stderr


@pytest.mark.skipif(shutil.which("safestate-lint") is None, reason="console script not installed")
def test_console_script_matches_module(project):
    script = subprocess.run(["safestate-lint", "check", "--no-cache", "-q"], cwd=project, capture_output=True)
    assert script.stdout == run_cli(["check", "--no-cache", "-q"], cwd=project).stdout


def test_exit_zero_and_output_file(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE)
    printed = run_cli(["check", "--no-cache", "-q", "--format", "json"], cwd=tmp_path)
    assert printed.returncode == 1
    written = run_cli(["check", "--no-cache", "-q", "--format", "json", "--exit-zero", "-o", "report.json"], cwd=tmp_path)
    assert (written.returncode, written.stdout) == (0, b"")
    assert (tmp_path / "report.json").read_bytes() == printed.stdout  # the same report, whole
    for fmt in ("text", "sarif", "github"):
        run_cli(["check", "--no-cache", "-q", "--format", fmt, "--output-file", f"r.{fmt}"], cwd=tmp_path)
        assert (tmp_path / f"r.{fmt}").read_bytes() == run_cli(["check", "--no-cache", "-q", "--format", fmt],
                                                              cwd=tmp_path).stdout
    bad = run_cli(["check", "--no-cache", "-q", "-o", "missing/dir/r.txt"], cwd=tmp_path)
    assert bad.returncode == 2 and b"missing/dir/r.txt: error: cannot write the report" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "r.github", "r.sarif", "r.text", "report.json"]


BASELINED = """\
count = 0
_cache = {}


def inc():
    global count
    count += 1


def put(k, v):
    if k not in _cache:  # store
        _cache[k] = v
"""


def test_baseline_reports_only_new_findings_whatever_moves(tmp_path):
    (tmp_path / "a.py").write_text(BASELINED)
    wrote = run_cli(["check", "--write-baseline", "base.json"], cwd=tmp_path)
    assert wrote.returncode == 0 and b"Wrote 2 findings to base.json." in wrote.stderr
    data = json.loads((tmp_path / "base.json").read_text())
    assert data["version"] == 1 and [e["code"] for e in data["findings"]] == ["SST101", "SST103"]
    assert run_cli(["check", "--write-baseline", "again.json"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "base.json").read_bytes()  # stable
    # lines added above, a comment edited, indentation kept: nothing resurfaces
    moved = "import os\n\n\n" + BASELINED.replace("# store", "# the stored value")
    (tmp_path / "a.py").write_text(moved)
    quiet = run_cli(["check", "--baseline", "base.json"], cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout) == (0, b""), quiet.stdout
    # a new race in the same file is reported
    (tmp_path / "a.py").write_text(moved + "\n\ndef put2(k, v):\n    if k not in _cache:\n        _cache[k] = v\n")
    new = run_cli(["check", "-q", "--baseline", "base.json"], cwd=tmp_path)
    assert new.returncode == 1 and lines(new) == [
        "a.py:19:5: SST103 '_cache' (dict) is tested and then mutated (item assignment) in 'put2()' "
        "without one lock held across both"]
    # the config key; a fixed finding is counted as stale
    (tmp_path / "pyproject.toml").write_text("[tool.safestate-lint]\nbaseline = 'base.json'\n")
    (tmp_path / "a.py").write_text("_cache = {}\n\n\ndef put(k, v):\n    if k not in _cache:  # store\n        _cache[k] = v\n")
    stale = run_cli(["check"], cwd=tmp_path)
    assert stale.returncode == 0
    assert b"1 baselined finding no longer occurs; rewrite the baseline with --write-baseline" in stale.stderr


@pytest.mark.parametrize("content,expected", [
    ("{not json", "not a safestate-lint baseline"),
    ('{"version": 99, "findings": []}', "unsupported baseline (version 99; this safestate-lint reads version 1)"),
    ('{"version": 1, "findings": [{"path": "a.py"}]}', "not a safestate-lint baseline: bad entry"),
])
def test_bad_baseline_is_one_line_exit_2(tmp_path, content, expected):
    (tmp_path / "a.py").write_text(BASELINED)
    (tmp_path / "base.json").write_text(content)
    result = run_cli(["check", "--baseline", "base.json"], cwd=tmp_path)
    err = result.stderr.decode()
    assert result.returncode == 2 and expected in err and err.count("\n") == 1, err
    missing = run_cli(["check", "--baseline", "nope.json"], cwd=tmp_path)
    assert missing.returncode == 2 and b"nope.json: error: baseline not found" in missing.stderr


def test_sarif_partial_fingerprints_follow_the_finding_not_the_line(tmp_path):
    def results():
        out = run_cli(["check", "--no-cache", "-q", "--format", "sarif"], cwd=tmp_path).stdout
        return [(r["locations"][0]["physicalLocation"]["region"]["startLine"], r["partialFingerprints"])
                for r in json.loads(out)["runs"][0]["results"]]

    (tmp_path / "a.py").write_text(BASELINED)
    before = results()
    (tmp_path / "a.py").write_text("import os\n\n\n" + BASELINED.replace("# store", "# edited"))
    after = results()
    assert [line + 3 for line, _ in before] == [line for line, _ in after]
    assert [fp for _, fp in before] == [fp for _, fp in after] and len({str(fp) for _, fp in after}) == 2


def test_fix_leaves_baselined_findings_alone(tmp_path):
    (tmp_path / "a.py").write_text(BASELINED)
    assert run_cli(["check", "--write-baseline", "base.json"], cwd=tmp_path).returncode == 0
    (tmp_path / "a.py").write_text(BASELINED + "\n\ndef put2(k, v):\n    if k not in _cache:\n        _cache[k] = v\n")
    fixed = run_cli(["fix", "--baseline", "base.json"], cwd=tmp_path)
    source = (tmp_path / "a.py").read_text()
    assert "    count += 1\n" in source and "_count_lock" not in source  # the baselined finding: untouched
    assert "with _cache_lock:" in source or "LockedDict" in source  # put2() is new: fixed
    assert b"baselined (fix it with --include-baselined)" in fixed.stderr, fixed.stderr
    assert run_cli(["check", "-q", "--baseline", "base.json"], cwd=tmp_path).stdout == b""
    everything = run_cli(["fix", "--baseline", "base.json", "--include-baselined"], cwd=tmp_path)
    assert everything.returncode == 0 and "with _count_lock:" in (tmp_path / "a.py").read_text(), everything.stderr


def test_fix_from_stdin_honours_the_baseline(tmp_path):
    (tmp_path / "a.py").write_text(BASELINED)
    assert run_cli(["check", "--write-baseline", "base.json"], cwd=tmp_path).returncode == 0
    kept = run_cli(["fix", "--baseline", "base.json", "--stdin-filename", "a.py", "-"], cwd=tmp_path,
                   stdin=BASELINED.encode())
    assert kept.stdout.decode() == BASELINED and b"baselined (fix it with --include-baselined)" in kept.stderr
    fixed = run_cli(["fix", "--baseline", "base.json", "--include-baselined", "--stdin-filename", "a.py", "-"],
                    cwd=tmp_path, stdin=BASELINED.encode())
    assert "with _count_lock:" in fixed.stdout.decode()
