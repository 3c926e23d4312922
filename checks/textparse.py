"""Small pure helpers shared by the step parsers: safe literals, numbers, and rich tables and panels read
back from a stream of log lines."""

from __future__ import annotations

import ast
import math
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from checks.logread import Line

_HRB = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([KMBTPE]?)\s*$")
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_MAX_LITERAL = 20_000


def literal(s: str) -> object | None:
    """Evaluate a printed Python literal (dict, list, number); None if it is not one."""
    s = s.strip()
    if not s or len(s) > _MAX_LITERAL:
        return None
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def int_list(s: str) -> list[int] | None:
    v = literal(s)
    if isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return v
    return None


def int_dict(s: str) -> dict[str, int] | None:
    v = literal(s)
    if isinstance(v, dict) and v and all(
        isinstance(k, str) and isinstance(x, int) and not isinstance(x, bool) for k, x in v.items()
    ):
        return v
    return None


def str_list(s: str) -> list[str] | None:
    v = literal(s)
    return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None


def hrb(s: str) -> float | None:
    """'7.00B' -> 7.0e9 (ModelOpt's num2hrb, inverted); None if not such a number."""
    m = _HRB.match(s)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def number(s: str) -> float | None:
    """A printed float, 'nan' and 'inf' included (so they can be judged, not dropped)."""
    try:
        return float(s.strip().replace(",", ""))
    except ValueError:
        return None


def integer(s: str | None) -> int | None:
    try:
        return int(s.strip().replace(",", "")) if s is not None else None
    except ValueError:
        return None


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


@dataclass
class RichTable:
    title: list[str]
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    line: int = 0


@dataclass
class Panel:
    title: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    line: int = 0


_CELL = re.compile(r"[│┃║]")
_TOP = "┏┌╔"


class _Blocks:
    """The reader behind rich_blocks: the table or panel being read, and the lines above it (a table's title)."""

    def __init__(self) -> None:
        self.recent: deque[str] = deque(maxlen=3)
        self.table: RichTable | None = None
        self.panel: Panel | None = None
        self.in_header = False

    def _cells(self, s: str) -> None:
        table = self.table
        cells = [c.strip() for c in _CELL.split(s)[1:-1]]
        if self.in_header:
            joined = table.header and len(cells) == len(table.header)
            table.header[:] = [f"{a} {b}".strip() for a, b in zip(table.header, cells)] if joined else cells
        elif table.rows and cells and not cells[0] and len(cells) == len(table.rows[-1]):
            table.rows[-1][:] = [f"{a} {b}".strip() for a, b in zip(table.rows[-1], cells)]  # a wrapped row, joined
        else:
            table.rows.append(cells)

    def _table_line(self, s: str) -> tuple[bool, RichTable | None]:
        """(the line was the table's, the table when it ended here)."""
        head = s[:1]
        if head and head in "┡╇├┝╞":
            self.in_header = False
            return True, None
        if head and head in "└┗╚":
            return True, self.table
        if head and _CELL.match(head):
            self._cells(s)
            return True, None
        return False, self.table

    def _panel_line(self, s: str) -> tuple[bool, Panel | None]:
        """(the line was the panel's, the panel when it ended here)."""
        panel = self.panel
        if s.startswith("│"):
            body = s.strip("│").strip()
            parts = re.split(r"\s{2,}", body, maxsplit=1)
            if len(parts) == 2:
                panel.rows.append((parts[0], parts[1].strip()))
            elif panel.rows and body:
                panel.rows[-1] = (panel.rows[-1][0], f"{panel.rows[-1][1]} {body}")
            return True, None
        return s.startswith("╰"), panel

    def _opens(self, s: str, no: int) -> bool:
        if len(s) > 2 and s[0] in _TOP:
            self.table, self.in_header = RichTable(title=list(self.recent), header=[], line=no), s[0] in "┏╔"
        elif s.startswith("╭"):
            self.panel = Panel(title=s.strip("╭╮─━ "), line=no)
        else:
            return False
        self.recent.clear()
        return True

    def feed(self, ln: Line) -> Iterator[Line | RichTable | Panel]:
        s = ln.text.strip()
        for kind in ("table", "panel"):
            if getattr(self, kind) is None:
                continue
            mine, done = (self._table_line if kind == "table" else self._panel_line)(s)
            if done is not None:
                setattr(self, kind, None)
                yield done
            if mine:
                return
        if self._opens(s, ln.no):
            return
        if s:
            self.recent.append(s)
        else:
            self.recent.clear()
        yield ln


def rich_blocks(lines: Iterable[Line]) -> Iterator[Line | RichTable | Panel]:
    """Pass plain lines through and read back the tables and panels `rich` rendered into a log.

    A table's title is the (up to 3) non-empty lines right above it. A row that rich wrapped over several
    lines has an empty first cell on its continuation lines; those are joined back into the row."""
    reader = _Blocks()
    for ln in lines:
        yield from reader.feed(ln)
    if reader.table is not None:
        yield reader.table
    if reader.panel is not None:
        yield reader.panel
