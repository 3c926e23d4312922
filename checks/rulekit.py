"""Pieces the steps' rules (checks/steps/<step>.py, `Rule`) are built from: the finding of a one-clean-run check,
and of the settings a tool echoed against the command the runner recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks.commands import mismatches, script_flags
from checks.findings import ERROR, FAIL, PASS, Finding

if TYPE_CHECKING:
    from checks.run import StepData

ONE_RUN = "a log holds one clean, complete run (a resume from its own checkpoint is the same run)"


def one_run(step: str, fid: str, problems: list[str], where: str = "") -> Finding:
    """ERROR (cannot be judged as one run) with every problem said, or PASS."""
    f = Finding(step, fid, ERROR if problems else PASS, expected="one complete run", tolerance="exact", source=ONE_RUN,
                where=where)
    if problems:
        f.measured = "; ".join(problems)
        f.note = f.measured + " — rerun the step, or point at the attempt that ran cleanly"
    return f


def recorded_command(data: StepData, unit: str) -> str | None:
    """The command the runner recorded for a unit (its step.json), when there is one."""
    doc = data.command_of(unit)
    return doc.get("command") if doc and isinstance(doc.get("command"), str) else None


def echoed_settings(step: str, echoed: dict, command: str, *, source: str, where: str,
                    all_echoed: bool) -> Finding:
    """The script's flags as recorded against the arguments block its log echoed: FAIL naming each that differs
    (and, with `all_echoed`, each the block lacks), else PASS."""
    flags = script_flags(command)
    bad = mismatches(echoed, flags)
    unknown = [f"--{k}" for k in flags if k not in echoed] if all_echoed else []
    f = Finding(step, "settings_echoed_match_command", PASS, tolerance="exact", source=source, where=where,
                expected=f"{len(flags)} flags as recorded", measured=f"{len(flags) - len(bad) - len(unknown)} matched")
    if bad or unknown:
        f.status = FAIL
        f.note = "; ".join(bad + ([f"not in the log's arguments: {', '.join(unknown)}"] if unknown else [])) + \
            " — the log is not of the command the runner recorded"
    return f
