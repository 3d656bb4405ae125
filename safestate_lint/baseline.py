"""A baseline: the findings a legacy codebase already has, recorded so `check` reports only new ones.

A finding's identity is its path (relative to the configuration's directory), its code, its
message with line numbers taken out (it names the shared state and the function), and a hash
of its statement's text with whitespace and a trailing comment removed. The line number is not
part of it: moving code, adding lines above it or editing comments keeps a baselined finding
baselined, and a new race in the same file is new. Identical identities are counted, so a
second copy of the same unsafe statement is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from typing import Callable, Dict, List, Sequence, Tuple

from safestate_lint.config import Config
from safestate_lint.files import write_whole
from safestate_lint.finding import Finding, UserError

VERSION = 1
_LINE_NUMBERS = re.compile(r"\b(lines?) \d+")
_TRAILING_COMMENT = re.compile(r"\s*#[^'\"]*$")
_SPACE = re.compile(r"\s+")

Identity = Tuple[str, str, str, str]  # relative path, code, message, statement hash


def baseline_path(explicit: "str | None", config: Config) -> str:
    """`--baseline FILE`, else the configuration's `baseline` (relative to its directory), else ""."""
    if explicit:
        return explicit
    if config.baseline:
        return os.path.join(config.root or os.getcwd(), config.baseline)
    return ""


def statement_key(line: str) -> str:
    """The hash of one source line, without indentation, spacing or a trailing comment."""
    text = _SPACE.sub(" ", _TRAILING_COMMENT.sub("", line)).strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def identity(finding: Finding, relative: str, lines: Sequence[str]) -> Identity:
    line = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
    return relative, finding.code, _LINE_NUMBERS.sub(r"\1 N", finding.message), statement_key(line)


def fingerprint(key: Identity) -> str:
    """The identity as one stable string (SARIF `partialFingerprints`)."""
    return hashlib.sha256("\0".join(key).encode("utf-8")).hexdigest()[:32]


def write(path: str, identities: List[Identity]) -> None:
    """Sorted, stable JSON, written whole or not at all."""
    entries = [{"path": p, "code": c, "message": m, "statement": s} for p, c, m, s in sorted(identities)]
    text = json.dumps({"version": VERSION, "findings": entries}, indent=2, sort_keys=True) + "\n"
    write_whole(path, text, "baseline")


def load(path: str) -> "Counter[Identity]":
    """The baseline's identities, counted; a missing, corrupt or unknown-version file is a UserError."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise UserError(f"{path}: error: baseline not found (write one with --write-baseline)") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: error: not a safestate-lint baseline: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("findings"), list):
        version = data.get("version") if isinstance(data, dict) else None
        raise UserError(f"{path}: error: unsupported baseline (version {version!r}; this safestate-lint "
                        f"reads version {VERSION}): rewrite it with --write-baseline")
    counted: "Counter[Identity]" = Counter()
    for entry in data["findings"]:
        try:
            counted[(entry["path"], entry["code"], entry["message"], entry["statement"])] += 1
        except (KeyError, TypeError):
            raise UserError(f"{path}: error: not a safestate-lint baseline: bad entry {entry!r}") from None
    return counted


def split(findings: List[Finding], identify: Callable[[Finding], Identity],
          baseline: "Counter[Identity]") -> Tuple[List[Finding], int]:
    """The findings not in the baseline, and how many baseline entries no longer occur."""
    left = Counter(baseline)
    new: List[Finding] = []
    for finding in findings:
        key = identify(finding)
        if left[key] > 0:
            left[key] -= 1
        else:
            new.append(finding)
    return new, sum(left.values())


def identities(findings: List[Finding], relative: Callable[[str], str],
               read_lines: Callable[[str], Sequence[str]]) -> Dict[Finding, Identity]:
    """Each finding's identity, reading each file once."""
    cache: Dict[str, Sequence[str]] = {}
    out: Dict[Finding, Identity] = {}
    for finding in findings:
        if finding.path not in cache:
            cache[finding.path] = read_lines(finding.path)
        out[finding] = identity(finding, relative(finding.path), cache[finding.path])
    return out
