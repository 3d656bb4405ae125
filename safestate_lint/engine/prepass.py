"""The text pre-pass: exact, C-speed questions about the source text.

A function is analysed only if its text can produce a fact (it mentions `global`, a shared
name followed by `.` or `[`, ...); these helpers answer "does this node's text contain one of
these offsets" with `str.find` and a bisect over line starts."""

from __future__ import annotations

import ast
import bisect
from typing import Iterable, List, Optional, Sequence


class TextIndex:
    """Whole-word occurrences in a module's source text, and which nodes contain them."""

    _text: Optional[str]
    _line_starts: List[int]

    def _index_text(self, lines: Optional[Sequence[str]], prefilter: bool) -> None:
        # the source text lets a cheap exact pre-pass skip functions that cannot touch shared state
        self._text = "".join(lines) if (lines is not None and prefilter) else None
        self._line_starts = []
        if self._text is not None:
            offset = 0
            for line in lines or ():
                self._line_starts.append(offset)
                offset += len(line)
            self._line_starts.append(offset)

    def _occurrences(self, words: Iterable[str], follow: str = "") -> List[int]:
        """Sorted offsets of whole-word occurrences in the source text (C-speed `str.find`).

        With `follow`, only occurrences whose next non-blank character (skipping `)` and
        backslash continuations) is in `follow`."""
        text = self._text or ""
        size = len(text)
        found: List[int] = []
        for word in words:
            length = len(word)
            start = 0
            while True:
                index = text.find(word, start)
                if index < 0:
                    break
                start = index + length
                if index and (text[index - 1].isalnum() or text[index - 1] == "_"):
                    continue
                after = index + length
                if after < size and (text[after].isalnum() or text[after] == "_"):
                    continue
                if follow:
                    while after < size and text[after] in " \t\r\n\\)":
                        after += 1
                    if after >= size or text[after] not in follow:
                        continue
                found.append(index)
        found.sort()
        return found

    def _node_contains(self, offsets: List[int], node: ast.AST) -> bool:
        """Whether one of `offsets` lies in the source text of `node` (True when there is no text)."""
        return self._lines_contain(offsets, getattr(node, "lineno", 1), getattr(node, "end_lineno", None))

    def _lines_contain(self, offsets: List[int], first: int, last: Optional[int]) -> bool:
        if self._text is None:
            return True
        count = len(self._line_starts) - 1
        if last is None or last > count:
            last = count
        if first - 1 >= count:
            return True
        start, end = self._line_starts[first - 1], self._line_starts[last]
        index = bisect.bisect_left(offsets, start)
        return index < len(offsets) and offsets[index] < end

