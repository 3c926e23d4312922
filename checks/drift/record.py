"""The gate's record in a run directory (`runs/<id>/gate.json`, written by `make gate`): what `make plan` shows of
it, and what a step's preflight holds against it. The record names the commands it checked (by sha256), so a step
whose command changed since (another MODELOPT_REF, other errata) is not covered by an old pass."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from checks.findings import ERROR, FAILING

GATE_JSON = "gate.json"


def digest(command: str) -> str:
    return hashlib.sha256(command.encode()).hexdigest()


def read(run_dir: Path) -> dict | None:
    try:
        doc = json.loads((Path(run_dir) / GATE_JSON).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("findings"), list) else None


def _bad(doc: dict) -> list[dict]:
    return [f for f in doc["findings"] if isinstance(f, dict) and (f.get("status") in FAILING or f.get("status") == ERROR)]


def last_gate(run_dir: Path) -> str:
    """One line for `make plan`."""
    doc = read(run_dir)
    if doc is None:
        return "not run for this run yet"
    bad = _bad(doc)
    ref = doc.get("modelopt_ref") or "?"
    if not bad:
        return f"last gate (MODELOPT_REF={ref}): passed"
    shown = "; ".join(f"{f.get('status')} {f.get('step')} {f.get('id')}" for f in bad[:3])
    return f"last gate (MODELOPT_REF={ref}): {len(bad)} problem(s): {shown}{' ...' if len(bad) > 3 else ''}"


def step_problems(run_dir: Path, unit: str, step: str, command: str) -> tuple[list[str], str | None]:
    """(problems that stop this unit, a note): none when no gate ran for this run (the note says so); the gate's
    failing findings for this unit; one problem when the unit's command is not the one the gate checked."""
    doc = read(run_dir)
    where = Path(run_dir) / GATE_JSON
    if doc is None:
        return [], f"the front door (make gate) has not checked this run's commands ({where} absent)"
    checked = doc.get("commands_sha256") or {}
    if checked.get(unit) != digest(command):
        return [f"{unit}'s command is not the one `make gate` checked ({where}: "
                f"{'another command' if unit in checked else 'not checked'}; another MODELOPT_REF or errata?): "
                "run `make gate` again (PREFLIGHT_SKIP=gate to bypass)"], None
    out = []
    for f in _bad(doc):
        if f.get("step") in (unit, step):
            note = str(f.get("note") or "").split(". What to do")[0]
            out.append(f"the front door found {f.get('status')} {f.get('id')}"
                       + (f" at {f['where']}" if f.get("where") else "") + f": {note[:400]} ({where})")
    return out, None
