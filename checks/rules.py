"""Every rule beyond the goldens' values, run for the judged steps: the run's provenance (checks.provenance), each
step's Python rules from the registry (one clean run per log, settings echoed against the recorded command: declared
in checks/steps/<step>.py), and lineage (data: the goldens' `lineage:` section, checks.lineage). A FAIL here means the
run is not the tutorial's (wrong settings, wrong model); an ERROR means it cannot be judged as one run."""

from __future__ import annotations

from checks import registry
from checks.findings import Finding
from checks.goldens import Goldens
from checks.lineage import lineage
from checks.provenance import provenance
from checks.run import Run, StepData


def step_rules(run: Run, data: StepData, live: bool = False) -> list[Finding]:
    """The step's registered rules on its loaded data (`live`: only those watch judges while the log grows)."""
    if data.record is None:
        return []
    return [f for rule in registry.get(data.name).rules if rule.live or not live for f in rule.check(run, data)]


def findings(run: Run, goldens: Goldens, steps: list[str]) -> list[Finding]:
    """Every rule for the judged steps: provenance, each step's rules, lineage."""
    out = provenance(run, goldens)
    for step in steps:
        out += step_rules(run, run.step(step))
    return out + lineage(run, goldens.lineage, steps)
