"""Printing findings: text, json, sarif, github."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import IO, Dict, List, Optional

from safestate_lint import __version__
from safestate_lint.finding import Finding

FORMATS = ("text", "json", "sarif", "github")
FIXABILITY_FORMATS = ("json",)  # formats that print whether `fix` would fix each finding


def write(findings: List[Finding], fmt: str, out: IO[str], fingerprints: Optional[Dict[Finding, str]] = None,
          *, marks: bool = False, context: bool = False) -> None:
    """With `marks`, text output marks the findings `fix` removes with `[*]` (ruff's mark);
    with `context`, each finding's details follow it, one per line (`--show-context`)."""
    if fmt == "text":
        for finding in findings:
            out.write(finding.text(marks) + "\n")
            if context and finding.context:
                out.write("".join(f"    = {part}\n" for part in finding.context.split("; ")))
    elif fmt == "json":
        json.dump([f.to_dict() for f in findings], out, indent=2)
        out.write("\n")
    elif fmt == "github":
        for f in findings:
            message = f.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            out.write(f"::error title=safestate-lint ({f.code}),file={f.path},line={f.line},col={f.col},"
                      f"endLine={f.end_line or f.line}::{f.code} {message}\n")
    elif fmt == "sarif":
        json.dump(sarif(findings, fingerprints), out, indent=2)
        out.write("\n")
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(fmt)


def sarif(findings: List[Finding], fingerprints: Optional[Dict[Finding, str]] = None) -> dict:
    """SARIF 2.1.0; with `fingerprints` (the baseline identity: path, code, state, statement
    text, not the line), each result carries `partialFingerprints` so code scanning tracks it
    across commits."""
    from safestate_lint.rules import ALL_RULES

    rules = [
        {
            "id": rule.code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.documentation()},
            "help": {"text": rule.documentation()},
        }
        for rule in ALL_RULES
    ]
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    results = [
        {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": "error",
            "message": {"text": f.message},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": f.path.replace("\\", "/")},
                    "region": {"startLine": f.line, "startColumn": f.col, "endLine": f.end_line or f.line},
                }
            }],
            **({"relatedLocations": related} if (related := related_locations(f)) else {}),
            **({"properties": {"context": f.context}} if f.context else {}),
            **({"partialFingerprints": {"safestateIdentity/v1": fingerprints[f]}}
               if fingerprints and f in fingerprints else {}),
        }
        for f in findings
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "safestate-lint", "version": __version__,
                                "informationUri": "https://pypi.org/project/safestate-lint/", "rules": rules}},
            "results": results,
        }],
    }


_LINE = re.compile(r"'([^']+)'[^;']*?\(line (\d+)\)")


def related_locations(finding: Finding) -> List[dict]:
    """The other sites a finding names (`'g()' (line 12)`), as SARIF related locations."""
    found: List[dict] = []
    for text in (finding.message, *finding.context.split("; ")):
        for match in _LINE.finditer(text):
            found.append({
                "id": len(found) + 1,
                "message": {"text": match.group(0)},
                "physicalLocation": {"artifactLocation": {"uri": finding.path.replace("\\", "/")},
                                     "region": {"startLine": int(match.group(2))}},
            })
    return found


def statistics(findings: List[Finding], fmt: str, out: IO[str], *, marks: bool = False) -> None:
    """Counts per rule, most frequent first: text lines, or a JSON list for every other format.

    `[*]` and the JSON `fixable` count come from the findings themselves (whether `fix` removes
    each, which the caller computed by running the fixer): they agree with `--show-fixes` and
    the JSON findings' `fixable` on every run. Text marks only with `marks` (`--show-fixes`)."""
    from safestate_lint.rules import RULES_BY_CODE

    counts = Counter(f.code for f in findings)
    fixable = Counter(f.code for f in findings if f.fixable)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if fmt != "text":
        rows = [{"code": code, "name": RULES_BY_CODE[code].name, "count": count, "fixable": fixable[code],
                 "rule_has_fix": RULES_BY_CODE[code].fixable}
                for code, count in ordered]
        json.dump(rows, out, indent=2)
        out.write("\n")
        return
    width = max((len(str(n)) for n in counts.values()), default=1)
    for code, count in ordered:
        rule = RULES_BY_CODE[code]
        if not marks:
            out.write(f"{count:>{width}}\t{code}\t{rule.name}\n")
            continue
        fix = f"[*] {fixable[code]} fixable" if fixable[code] else "[ ] by hand"
        out.write(f"{count:>{width}}\t{code}\t{rule.name} {fix}\n")
