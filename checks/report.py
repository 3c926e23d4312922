"""Reporters: show verdicts, never judge them. A rich table on the terminal, JSON, JUnit XML."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from checks.engine import ERROR, FAIL, PASS, SKIP, Verdict

STYLE = {PASS: "green", FAIL: "bold red", SKIP: "yellow", ERROR: "bold magenta"}


def short(x: object, width: int = 60) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        s = f"{x:.6g}" if math.isfinite(x) else str(x)
    else:
        s = json.dumps(x, default=str) if isinstance(x, (dict, list)) else str(x)
    return s if len(s) <= width else s[: width - 1] + "…"


def summary(verdicts: list[Verdict]) -> dict[str, int]:
    c = Counter(v.status for v in verdicts)
    return {s: c.get(s, 0) for s in (PASS, FAIL, SKIP, ERROR)}


def table(verdicts: list[Verdict], console: Console, title: str = "checks verify") -> None:
    t = Table(title=title, show_lines=False, expand=False)
    for col, kw in (("step", {}), ("check", {}), ("verdict", {}), ("expected", {"overflow": "fold"}),
                    ("measured", {"overflow": "fold"}), ("tolerance", {}), ("note", {"overflow": "fold"})):
        t.add_column(col, **kw)
    for v in verdicts:
        note = v.message if v.status != PASS else ""
        if v.status in (FAIL, ERROR) and v.source:
            note = f"{note} [dim](source: {v.source})[/dim]" if note else f"[dim]source: {v.source}[/dim]"
        t.add_row(v.step, v.id, f"[{STYLE[v.status]}]{v.status}[/]", short(v.expected), short(v.measured),
                  v.tolerance, note)
    console.print(t)
    s = summary(verdicts)
    console.print(" ".join(f"[{STYLE[k]}]{n} {k}[/]" for k, n in s.items()))


def to_json(verdicts: list[Verdict], meta: dict) -> dict:
    return {"summary": summary(verdicts), **meta, "verdicts": [dataclasses.asdict(v) for v in verdicts]}


def to_junit(verdicts: list[Verdict], name: str = "checks") -> ET.Element:
    s = summary(verdicts)
    suite = ET.Element("testsuite", name=name, tests=str(len(verdicts)), failures=str(s[FAIL]),
                       errors=str(s[ERROR]), skipped=str(s[SKIP]))
    for v in verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{v.step}", name=v.id)
        detail = f"expected {short(v.expected, 400)} ({v.tolerance}), measured {short(v.measured, 400)}; " \
                 f"{v.message}; source: {v.source}"
        if v.status == FAIL:
            ET.SubElement(case, "failure", message=v.message or "out of tolerance").text = detail
        elif v.status == ERROR:
            ET.SubElement(case, "error", message=(v.message or "error").splitlines()[0]).text = detail
        elif v.status == SKIP:
            ET.SubElement(case, "skipped", message=v.message)
    return suite


def write_atomic(path: Path, text: str) -> None:
    """Write so that a reader never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: Path, verdicts: list[Verdict], meta: dict) -> None:
    write_atomic(path, json.dumps(to_json(verdicts, meta), indent=2, default=str) + "\n")


def write_junit(path: Path, verdicts: list[Verdict]) -> None:
    write_atomic(path, ET.tostring(to_junit(verdicts), encoding="unicode", xml_declaration=True) + "\n")


DIFF_STYLE = {"SAME": "green", "CHANGED": "bold red", "SKIP": "yellow", "ERROR": "bold magenta",
              "ADDED": "bold red", "REMOVED": "bold red", "MISSING": "bold red"}


def changes_table(changes, console: Console, title: str) -> None:
    t = Table(title=title)
    for col in ("step", "what", "verdict", "baseline", "candidate", "tolerance", "note"):
        t.add_column(col, overflow="fold")
    for c in changes:
        t.add_row(c.step, c.item, f"[{DIFF_STYLE[c.status]}]{c.status}[/]", short(c.baseline), short(c.candidate),
                  c.tolerance, c.note if c.status != "SAME" else "")
    console.print(t)
    counts = Counter(c.status for c in changes)
    console.print(" ".join(f"[{DIFF_STYLE[k]}]{n} {k}[/]" for k, n in sorted(counts.items())))


def drift_table(drifts, console: Console, title: str) -> None:
    t = Table(title=title)
    for col in ("recipe / command", "status", "detail"):
        t.add_column(col, overflow="fold")
    for d in drifts:
        t.add_row(d.item, f"[{DIFF_STYLE[d.status]}]{d.status}[/]", d.detail)
    console.print(t)
