"""Lineage, from the goldens' `lineage:` section (data): each step's input is the previous step's output. A unit rule
says which path (or model id) a unit's recorded command flag and/or what its log echoed must name, or which flags
alone its command may pass; an output rule compares a checkpoint with another (not a copy of it, the same
architecture, the tensors FP8 PTQ keeps in BF16 byte-identical). Pure: a loaded Run and the rules in, findings out."""

from __future__ import annotations

import os

from checks.commands import command_flags
from checks.errors import CheckError
from checks.findings import ERROR, FAIL, PASS, SKIP, Finding
from checks.goldens import Lineage
from checks.run import Run
from checks.runpaths import architecture, names
from checks.values import Missing, resolve


def lineage(run: Run, rules: list[Lineage], steps: list[str]) -> list[Finding]:
    out = []
    for rule in rules:
        step = (rule.unit or rule.output).split("/", 1)[0]
        if step not in steps or (rule.unit and run.step(step).present and run.step(step).record is None):
            continue  # the step's own ERROR already says its output could not be read
        f = Finding(step, f"lineage_{rule.id}", ERROR, source=rule.source)
        try:
            (_unit if rule.unit else _output)(run, rule, f)
        except Missing as m:
            f.status, f.note = (SKIP, f"{m.segment!r} not in this run (optional)") if rule.optional else \
                (ERROR, f"cannot follow the lineage: {m.segment!r} missing")
        out.append(f)
    return out


def _unit(run: Run, rule: Lineage, f: Finding) -> None:
    step = rule.unit.split("/", 1)[0]
    data = run.step(step)
    if not data.present:
        raise Missing(0, step)
    doc = data.command_of(rule.unit)
    if doc is None and (rule.optional or rule.only_flags or rule.flag):
        raise Missing(1, rule.unit)  # optional: an opt-in unit (BENCH_EXTRA, the aggressive variant) that did not run
    if rule.only_flags:
        _only_flags(rule, doc, f)
        return
    found: list[tuple[str, object]] = []
    if rule.flag:
        key = rule.flag if rule.flag.startswith("-") else f"-o {rule.flag}"
        found.append((f"the recorded command's {rule.flag}", command_flags(str(doc.get("command", ""))).get(key)))
    if rule.echoed:
        found.append((f"the log ({rule.echoed})", _echoed(data, step, rule.echoed)))
    f.expected = rule.names_model if rule.names_model else f"RUN_DIR/{rule.names}"
    bad = [f"{what} is {value!r}" for what, value in found
           if not (value == rule.names_model if rule.names_model else names(run, value, rule.names))]
    f.measured = {what: value for what, value in found}
    f.tolerance = "same path" if rule.names else "exact"
    f.status, f.note = (FAIL, "; ".join(bad) + " — this step did not use the checkpoint the tutorial's previous "
                        "step made") if bad else (PASS, "")


def _echoed(data, step: str, path: str) -> object:
    if data.record is None:
        raise Missing(1, step)
    try:
        return resolve(data.record, path)
    except Missing:
        return None


def _only_flags(rule: Lineage, doc: dict, f: Finding) -> None:
    allowed = rule.only_flags.split()
    given = sorted(command_flags(str(doc.get("command", ""))))
    extra = [k for k in given if k not in allowed]
    f.expected, f.measured, f.tolerance = " ".join(allowed), " ".join(given), "no other flag"
    f.where = f"{rule.unit}/step.json"
    f.status, f.note = (FAIL, f"the recorded command passes {' '.join(extra)}, which the tutorial's command "
                        "does not: this step did not run with the tutorial's settings") if extra else (PASS, "")


def _checkpoint(run: Run, rel: str):
    try:
        return run.checkpoint(rel)
    except CheckError:
        raise Missing(1, rel) from None


def _output(run: Run, rule: Lineage, f: Finding) -> None:
    ck = _checkpoint(run, rule.output)
    f.where = run.rel(run.path / rule.output)
    if rule.differs_from and _is_copy(run, rule, ck):
        f.status = ERROR
        f.note = f"{rule.output} is {rule.differs_from} itself (the same files or the same weights): not this step's output"
        f.expected, f.measured = f"weights other than {rule.differs_from}'s", "the same weights"
        return
    problems = []
    if rule.architecture_of:
        a, b = architecture(ck), architecture(_checkpoint(run, rule.architecture_of))
        if a != b:
            problems.append(f"architecture {a} differs from {rule.architecture_of}'s {b}")
    if rule.bf16_same_as:
        problems += _bf16_kept(ck, _checkpoint(run, rule.bf16_same_as), rule.bf16_same_as)
    f.expected = "from " + (rule.bf16_same_as or rule.architecture_of or "")
    f.status, f.note = (FAIL, "; ".join(problems)) if problems else (PASS, "")
    f.measured = "as expected" if not problems else "differs"


def _is_copy(run: Run, rule: Lineage, ck) -> bool:
    other = _checkpoint(run, rule.differs_from)
    same_place = os.path.realpath(run.path / rule.output) == os.path.realpath(run.path / rule.differs_from)
    return same_place or bool(ck.fingerprints and ck.fingerprints == {k: other.fingerprints.get(k) for k in ck.fingerprints})


def _bf16_kept(ck, other, name: str) -> list[str]:
    shared = sorted(set(ck.fingerprints) & set(other.fingerprints))
    diff = [k for k in shared if ck.fingerprints[k] != other.fingerprints[k]]
    if not shared:
        return [f"no tensor kept in BF16 to compare with {name}"]
    if diff:
        return [f"{len(diff)} of {len(shared)} tensors that FP8 PTQ keeps in BF16 differ from {name}'s (e.g. {diff[0]}): "
                "quantized from another checkpoint"]
    return []
