"""Renderers: show findings, never judge them. Terminal (rich on a TTY, plain lines elsewhere), JSON, JUnit.
The HTML page with plots is checks.plots.

Ids and values are never wrapped: on a terminal the table keeps them whole and the notes follow the table;
where stdout is not a terminal (Slurm, CI logs) each finding is one plain line, its note indented below."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checks.findings import ERROR, FAIL, FAILING, PASS, SAME, SKIP, Finding, Status, summary
from checks.rundir import write_atomic

STYLE = {"PASS": "green", "SAME": "green", "XFAIL": "cyan", "SKIP": "yellow", "FAIL": "bold red", "XPASS": "bold red",
         "CHANGED": "bold red", "DIFFERS": "blue", "ADDED": "bold red", "REMOVED": "bold red", "MISSING": "bold red",
         "ERROR": "bold magenta"}
QUIET = {PASS, SAME}  # statuses whose note is not worth a line


def short(x: object, width: int = 60) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        s = f"{x:.6g}" if math.isfinite(x) else str(x)
    else:
        s = json.dumps(x, default=str) if isinstance(x, (dict, list, tuple)) else str(x)
    return s if len(s) <= width else s[: width - 1] + "…"


def terminal(findings: list[Finding], console: Console, title: str,
             labels: tuple[str, str] = ("expected", "measured")) -> None:
    """One renderer for verify, diff and drift (labels: ("baseline", "candidate") for diff)."""
    if not (console.is_terminal and _table(findings, console, title, labels)):
        _plain(findings, console, title, labels)
    counts = summary(findings)
    console.print(" ".join(f"[{STYLE[k]}]{n} {k}[/]" for k, n in counts.items()), highlight=False)


def _note(f: Finding) -> str:
    note = f.note
    if f.status in (FAIL, ERROR) or f.status in FAILING:
        if f.source:
            note = f"{note} (source: {f.source})" if note else f"source: {f.source}"
    return note


def _table(findings: list[Finding], console: Console, title: str, labels: tuple[str, str]) -> bool:
    """Print a rich table if it fits the terminal whole; False (nothing printed) if it would have to wrap."""
    t = Table(title=title, expand=False)
    for col in ("step", "check", "verdict", labels[0], labels[1], "tolerance", "where"):
        t.add_column(col, no_wrap=True)
    notes = []
    for f in findings:
        t.add_row(escape(f.step), escape(f.id), f"[{STYLE[f.status]}]{f.status}[/]", escape(short(f.expected)),
                  escape(short(f.measured)), escape(f.tolerance), escape(f.where))
        if f.status not in QUIET and _note(f):
            notes.append(f)
    if console.measure(t, options=console.options.update_width(100_000)).maximum > console.width:
        return False
    console.print(t)
    for f in notes:
        console.print(f"[{STYLE[f.status]}]{f.status}[/] {escape(f.step)}.{escape(f.id)}: {escape(_note(f))}",
                      highlight=False, soft_wrap=True)
    return True


def _plain(findings: list[Finding], console: Console, title: str, labels: tuple[str, str]) -> None:
    out = [title]
    for f in findings:
        parts = [f"{str(f.status):<7} {f.step}.{f.id}"]
        if f.measured is not None or f.expected is not None:
            parts.append(f"{labels[1]}={short(f.measured, 120)} {labels[0]}={short(f.expected, 120)}"
                         + (f" ({f.tolerance})" if f.tolerance else ""))
        if f.where:
            parts.append(f"at {f.where}")
        out.append("  ".join(parts))
        if f.status not in QUIET and _note(f):
            out += ["        " + line for line in _note(f).splitlines()]
    console.print("\n".join(out), markup=False, highlight=False, soft_wrap=True)


def to_json(findings: list[Finding], meta: dict) -> dict:
    return {"summary": summary(findings), **meta, "findings": [dataclasses.asdict(f) for f in findings]}


def write_json(path: Path, findings: list[Finding], meta: dict) -> None:
    write_atomic(path, json.dumps(to_json(findings, meta), indent=2, default=str) + "\n")


def to_junit(findings: list[Finding], name: str = "checks") -> ET.Element:
    s = summary(findings)
    failures = sum(1 for f in findings if f.status in FAILING)
    suite = ET.Element("testsuite", name=name, tests=str(len(findings)), failures=str(failures),
                       errors=str(s["ERROR"]), skipped=str(sum(1 for f in findings if f.status in (SKIP, Status.XFAIL))))
    for f in findings:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{f.step}", name=f.id)
        detail = f"expected {short(f.expected, 400)} ({f.tolerance}), measured {short(f.measured, 400)}; " \
                 f"{f.note}; source: {f.source}" + (f"; at {f.where}" if f.where else "")
        if f.status in FAILING:
            ET.SubElement(case, "failure", message=(f.note or "out of tolerance").splitlines()[0]).text = detail
        elif f.status == ERROR:
            ET.SubElement(case, "error", message=(f.note or "error").splitlines()[0]).text = detail
        elif f.status in (SKIP, Status.XFAIL):
            ET.SubElement(case, "skipped", message=f.note)
    return suite


def write_junit(path: Path, findings: list[Finding]) -> None:
    write_atomic(path, ET.tostring(to_junit(findings), encoding="unicode", xml_declaration=True) + "\n")
