"""Small pure helpers shared by the step parsers: ANSI stripping, safe literals, rich tables."""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_HRB = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([KMBTPE]?)\s*$")
_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_MAX_LITERAL = 20_000


def clean(text: str) -> list[str]:
    """Split a log into lines with colour codes, carriage-return progress bars and NULs removed."""
    text = _ANSI.sub("", text).replace("\x00", "")
    # A tqdm bar rewrites its line with \r; only the last state of such a line was ever visible.
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")]


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


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


@dataclass
class RichTable:
    title: list[str]
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


_TOP = ("┏", "┌", "╔", "+")
_CELL = re.compile(r"[│┃║]")


def rich_tables(lines: list[str]) -> list[RichTable]:
    """Read back tables that `rich` rendered into a log (title, header, body rows).

    A row that rich wrapped over several lines has an empty first cell on its continuation lines;
    those are joined back into the row.
    """
    tables: list[RichTable] = []
    i, n = 0, len(lines)
    while i < n:
        s = lines[i].strip()
        if not (s[:1] in _TOP[:3] and len(s) > 2):
            i += 1
            continue
        title = []
        j = i - 1
        while j >= 0 and lines[j].strip() and not _CELL.match(lines[j].strip()[:1]) and len(title) < 3:
            title.insert(0, lines[j].strip())
            j -= 1
        table = RichTable(title=title, header=[])
        in_header = s.startswith("┏") or s.startswith("╔")
        i += 1
        while i < n:
            s = lines[i].strip()
            if not s:
                break
            if s[0] in "┡╇├┝╞":
                in_header = False
                i += 1
                continue
            if s[0] in "└┗╚":
                i += 1
                break
            if not _CELL.match(s[0]):
                break
            cells = [c.strip() for c in _CELL.split(s)[1:-1]]
            if in_header:
                if table.header and len(cells) == len(table.header):
                    table.header[:] = [f"{a} {b}".strip() for a, b in zip(table.header, cells)]
                else:
                    table.header[:] = cells
            elif table.rows and cells and not cells[0] and len(cells) == len(table.rows[-1]):
                table.rows[-1][:] = [f"{a} {b}".strip() for a, b in zip(table.rows[-1], cells)]
            else:
                table.rows.append(cells)
            i += 1
        tables.append(table)
    return tables


def panel(lines: list[str], title: str) -> list[tuple[str, str]] | None:
    """Key/value rows of a rich Panel whose top border carries `title`; None if there is none."""
    rows: list[tuple[str, str]] | None = None
    for k, line in enumerate(lines):
        s = line.strip()
        if s.startswith("╭") and title in s:
            rows = []
            for inner in lines[k + 1:]:
                t = inner.strip()
                if not t.startswith("│"):
                    break
                body = t.strip("│").strip()
                parts = re.split(r"\s{2,}", body, maxsplit=1)
                if len(parts) == 2:
                    rows.append((parts[0], parts[1].strip()))
                elif rows and body:
                    rows[-1] = (rows[-1][0], f"{rows[-1][1]} {body}")
    return rows
