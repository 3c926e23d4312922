"""`checks bless RUN_DIR --into expected/<profile>.yaml`: a run's values become the new goldens, as a reviewable edit.

The values come from the engine (checks.engine.evaluate: what verify measured); the file is edited in place
(checks.yamledit): only the values that change and their `source:` are rewritten, comments and order stay, and the
change is shown as a diff before anything is written. Each golden keeps its tolerance (bless never loosens one).

Never blessed: a value whose source cites the tutorial (its figures define a reproduction: a run that differs
did not reproduce it, and blessing its value would let the next run with that deviation PASS), a known
discrepancy (xfail), a limit (at_most/at_least), a value only included from another file. A run that is not
complete and clean is refused as a whole."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from checks import engine, registry
from checks.errors import CheckError
from checks.findings import ERROR, FAILING, PASS, SKIP, Finding
from checks.goldens import Golden, Goldens
from checks.run import Run
from checks.values import compare, equal, gpu_key, is_number
from checks.yamledit import Change, edit


def provenance(run: Run) -> str:
    manifest = run.manifest or {}
    image = manifest.get("image") if isinstance(manifest.get("image"), dict) else {}
    versions = manifest.get("versions") if isinstance(manifest.get("versions"), dict) else {}
    parts = [f"run {run.id}"]
    if image.get("digest") or image.get("name"):
        parts.append(f"image {image.get('digest') or image.get('name')}")
    for key, label in (("modelopt", "ModelOpt"), ("vllm", "vLLM"), ("megatron_bridge", "Megatron-Bridge")):
        if versions.get(key):
            parts.append(f"{label} {versions[key]}")
    return "blessed from " + ", ".join(parts) + f" on {date.today().isoformat()}"


def short_gpu(model: str) -> str:
    """'NVIDIA H200' -> 'H200'; the key a new by_gpu golden is filed under."""
    m = re.search(r"\b([A-Z]{1,3}\d{2,4}[A-Za-z]*)\b", model)
    return m.group(1) if m else model


def _whole_and_clean(goldens: Goldens):
    """Which findings say whether a run is whole and is the tutorial's run (not how close its numbers are): the
    runner's exit codes, provenance, lineage, the registered rules marked `completeness`, and the goldens on a
    step's completion fields (Step.completion: completed, last_iteration, ...)."""
    ids: set[tuple[str, str]] = {(g.step, g.id) for gs in goldens.steps.values() for g in gs if _completion(g)}
    lineage = {f"lineage_{r.id}" for r in goldens.lineage}
    rules = {(s.name, r.id) for s, r in registry.rules() if r.completeness}

    def check(f: Finding) -> bool:
        return ((f.step, f.id) in ids or f.id in lineage or f.id.endswith("exit_code") or f.id.startswith("provenance_")
                or any(s == f.step and (f.id == rid or f.id.endswith("_" + rid)) for s, rid in rules))
    return check


def _completion(g: Golden) -> bool:
    step = registry.get(g.step)
    if not g.path or not step.completion:
        return False
    field = g.path.split(".", 2)[2] if step.variants and g.path.startswith(step.variants + ".") and g.path.count(".") >= 2 \
        else g.path
    return field in step.completion


def refuse_incomplete(findings: list[Finding], goldens: Goldens) -> None:
    """CheckError when the run could not be judged, or is not complete and clean."""
    whole = _whole_and_clean(goldens)
    bad = [f for f in findings if f.status == ERROR or (f.status in FAILING and whole(f))]
    if bad:
        raise CheckError("cannot bless a run that is not complete and clean; nothing was written",
                         found="; ".join(f"{f.step}.{f.id}: {f.status} {f.note.splitlines()[0] if f.note else ''}".strip()
                                         for f in bad[:8]) + (" …" if len(bad) > 8 else ""),
                         hint="checks verify shows why; bless only a run that finished cleanly (or fewer steps with --step)")


@dataclass
class Plan:
    """What bless will change, and what it keeps and why."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tutorial: list[str] = field(default_factory=list)  # values the run would change that the tutorial gives
    new: dict[tuple[str, str], object] = field(default_factory=dict)  # (step, id) -> blessed value


def _value(g: Golden, f: Finding, gpu: str | None, plan: Plan) -> tuple[str, object] | None:
    """(key, new value) to write for one plain golden, or None (a note, a missing value or a refusal said why)."""
    name = f"{g.step}.{g.id}"
    if g.xfail:
        plan.notes.append(f"{name}: kept (marked xfail: a known discrepancy, not a value to bless)")
        return None
    new_gpu = g.by_gpu is not None and f.status == SKIP and gpu is not None and f.measured is not None
    if f.status == SKIP and not new_gpu:
        plan.notes.append(f"{name}: kept ({f.note})")
        return None
    if f.measured is None:
        (plan.notes.append(f"{name}: kept (not in this run)") if g.optional
         else plan.missing.append(f"{name} ({g.path or g.ratio})"))
        return None
    if g.tol.kind in ("at_most", "at_least"):
        plan.notes.append(f"{name}: kept (a limit, not a value)")
        return None
    value = round(f.measured, 6) if isinstance(f.measured, float) else f.measured
    if g.by_gpu is None:
        return _guarded(g, "expect", g.expect, value, plan)
    key = gpu_key(gpu, list(g.by_gpu)) or short_gpu(gpu)
    if key not in g.by_gpu:
        return "by_gpu", {**g.by_gpu, key: value}  # a GPU the goldens have no figure for: nothing is replaced
    got = _guarded(g, "by_gpu", g.by_gpu[key], value, plan)
    return (got[0], {**g.by_gpu, key: got[1]}) if got else None


def _guarded(g: Golden, key: str, old: object, value: object, plan: Plan) -> tuple[str, object] | None:
    """The change of a value already in the file: none when equal; never one the tutorial gives (kept when the run
    is within its tolerance, refused when it is not)."""
    if equal(old, value):
        return None
    if g.cites_tutorial:
        if compare(value, old, g.tol)[0] == PASS:
            plan.notes.append(f"{g.step}.{g.id}: kept (the tutorial's value; this run reproduces it within tolerance)")
        else:
            plan.tutorial.append(f"{g.step}.{g.id}: {old!r} -> {value!r} (source: {g.source})")
        return None
    return key, value


def _mean(g: Golden, plan: Plan, own: dict[str, Golden]) -> tuple[str, object] | None:
    """A mean is rewritten only when one of its parts is, as the mean of the parts' values."""
    if not any((g.step, i) in plan.new for i in g.mean_of):
        return None
    parts = [plan.new.get((g.step, i), own[i].expect if i in own else None) for i in g.mean_of]
    if not all(is_number(x) for x in parts):
        plan.notes.append(f"{g.step}.{g.id}: kept (not every part has a value)")
        return None
    return _guarded(g, "expect", g.expect, round(sum(parts) / len(parts), 6), plan)


def plan_for(run: Run, goldens: Goldens, steps: list[str] | None, findings: list[Finding]) -> Plan:
    """What blessing this run into these goldens changes (entries of this file only)."""
    plan, source = Plan(), provenance(run)
    found: dict[tuple[str, str], Finding] = {}
    for f in findings:  # the goldens' findings come before the rules' (an id both use is the golden's)
        found.setdefault((f.step, f.id), f)
    here = str(Path(goldens.file))
    for step in steps or list(goldens.steps):
        own = {g.id: g for g in goldens.steps[step] if g.where.rsplit(":", 1)[0] == here}
        for g in goldens.steps[step]:
            if g.id not in own:
                plan.notes.append(f"{step}.{g.id}: kept (included from {', '.join(goldens.includes)}; bless that file)")
                continue
            got = _mean(g, plan, own) if g.mean_of else _value(g, found[(step, g.id)], run.context.gpu_model, plan)
            if got is None:
                continue
            key, value = got
            plan.new[(step, g.id)] = value
            blessed = source + (" (the mean of its parts)" if g.mean_of else "")
            new_source = f"{g.source}; {blessed}" if g.cites_tutorial else blessed  # a new GPU beside the tutorial's
            plan.changes += [Change(step, g.id, key, value), Change(step, g.id, "source", new_source)]
    return plan


def bless(run: Run, goldens: Goldens, steps: list[str] | None = None) -> tuple[str, str, list[str]]:
    """Return (old text, new text, notes). CheckError when the run is incomplete or unreadable, when a value the
    goldens name is missing, or when it would replace a value the tutorial gives."""
    if run.manifest_error is not None:
        raise CheckError("cannot bless a run without a readable manifest", found=run.manifest_error.render())
    findings = engine.evaluate(goldens, run, steps=steps)
    refuse_incomplete(findings, goldens)
    plan = plan_for(run, goldens, steps, findings)
    if plan.tutorial:
        raise CheckError(
            "bless never replaces a value the tutorial gives; nothing was written",
            found="; ".join(plan.tutorial[:12]) + (" …" if len(plan.tutorial) > 12 else ""),
            hint="the tutorial's figures are what reproducing it means: a run that differs from them did not reproduce "
                 "it, and blessing its values would let the next run with the same deviation PASS. If the tutorial "
                 "itself is wrong, mark the check `xfail: <reason>` by hand with the evidence; to track another setup, "
                 "keep its goldens in a file of its own whose sources name your runs")
    if plan.missing:
        raise CheckError("the run lacks values the goldens name; nothing was written",
                         found=", ".join(plan.missing[:20]) + (" …" if len(plan.missing) > 20 else ""),
                         hint="rerun the steps that failed (checks verify shows them), or bless fewer steps with --step")
    old = Path(goldens.file).read_text(encoding="utf-8")
    return old, edit(old, goldens.file, plan.changes), plan.notes


def unified(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
