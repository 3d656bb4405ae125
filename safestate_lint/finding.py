"""The value every rule reports and every front end prints."""

from __future__ import annotations

from typing import Any, Dict, NamedTuple


class Finding(NamedTuple):
    """One finding: 1-based line, 1-based column (in characters); sorts by path, line, column."""

    path: str
    line: int
    col: int
    code: str
    message: str
    end_line: int = 0
    fixable: bool = False
    function: str = ""  # the qualified name of the function whose act is reported ("" if none)
    state: str = ""  # the shared state it touches: a global's name, or `Class.attribute`
    context: str = ""  # details beyond the main line (`--show-context`, JSON, SARIF): the call chain, who else runs it

    def to_dict(self) -> Dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line or self.line,
            "code": self.code,
            "message": self.message,
            "fixable": self.fixable,
            "function": self.function,
            "state": self.state,
            "context": self.context,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Finding":
        return cls(
            path=data["path"],
            line=data["line"],
            col=data["col"],
            code=data["code"],
            message=data["message"],
            end_line=data.get("end_line", data["line"]),
            fixable=data.get("fixable", False),
            function=data.get("function", ""),
            state=data.get("state", ""),
            context=data.get("context", ""),
        )

    def text(self, mark: bool = False) -> str:
        """`path:line:col: CODE message`; with `mark`, `CODE [*] message` when `fix` removes it."""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {'[*] ' if mark and self.fixable else ''}{self.message}"


class UserError(Exception):
    """A user's mistake (bad config, bad option): one line, an exit code, no traceback."""

    exit_code = 2


class SourceError(Exception):
    """A file that cannot be read, decoded or parsed: reported as `path: error: reason`."""
