"""The one result type of `checks`: verify, diff and drift all produce Findings, every renderer shows them.

A finding says what was checked (step, id), how it came out (status), against what (expected, with numeric
bounds low/high where a tolerance gives them), what was measured, where the golden comes from (source)
and where in the run the measured value was read (where: "distill/step.log:1234")."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"
    ERROR = "ERROR"
    XFAIL = "XFAIL"  # failed, as a golden marked `xfail` says it will (a known discrepancy)
    XPASS = "XPASS"  # passed although marked `xfail`: strict, so it counts as a failure
    SAME = "SAME"  # diff: within tolerance of the baseline
    CHANGED = "CHANGED"  # diff: beyond tolerance
    DIFFERS = "DIFFERS"  # diff: a version, a setting or a parsed field no golden judges differs: shown, never failing
    ADDED = "ADDED"  # drift: in the upstream README, not in the recipes
    REMOVED = "REMOVED"  # drift: in the recipes, gone from upstream
    MISSING = "MISSING"  # drift: a script or flag the recipes use does not exist at that ref

    def __str__(self) -> str:
        return self.value


PASS, FAIL, SKIP, ERROR = Status.PASS, Status.FAIL, Status.SKIP, Status.ERROR
XFAIL, XPASS, SAME, CHANGED = Status.XFAIL, Status.XPASS, Status.SAME, Status.CHANGED
DIFFERS = Status.DIFFERS
ADDED, REMOVED, MISSING = Status.ADDED, Status.REMOVED, Status.MISSING

# What makes `checks` exit 1 (a check did not hold); ERROR alone makes it exit 2 (cannot judge).
FAILING = frozenset({FAIL, XPASS, CHANGED, ADDED, REMOVED, MISSING})
ORDER = (PASS, FAIL, SKIP, ERROR, XFAIL, XPASS, SAME, CHANGED, DIFFERS, ADDED, REMOVED, MISSING)


@dataclass
class Finding:
    step: str
    id: str
    status: Status
    expected: object = None  # for diff: the baseline's value
    measured: object = None  # for diff: the candidate's value
    low: float | None = None  # numeric bounds the tolerance allows, where it gives them
    high: float | None = None
    tolerance: str = ""
    source: str = ""
    note: str = ""
    where: str = ""  # file:line the measured value was read from, when known


def exit_code(findings: list[Finding]) -> int:
    """0 every check held (SKIP, XFAIL allowed), 1 a check did not hold, 2 something could not be judged."""
    statuses = {f.status for f in findings}
    return 2 if ERROR in statuses else 1 if statuses & FAILING else 0


def summary(findings: list[Finding]) -> dict[str, int]:
    """Counts per status, in a fixed order; PASS, FAIL, SKIP and ERROR always present."""
    c = Counter(f.status for f in findings)
    return {str(s): c.get(s, 0) for s in ORDER if s in (PASS, FAIL, SKIP, ERROR) or c.get(s)}
