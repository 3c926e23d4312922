"""The evaluation engine: `evaluate(goldens, run, baseline=None)` is the one judging loop. `checks verify`, `report`,
`bless` and `watch` render what it finds for a run (each golden against its value, the runner's exit codes, every
registered rule, lineage, provenance); `checks diff` renders what it finds for a run against a baseline (each
golden's value against the baseline's, with the golden's tolerance, and what each step adds: the loss curves).
Pure: a loaded Run (and goldens) in, findings out; bad input becomes ERROR findings, never an exception. The exit
status is checks.findings.exit_code of these findings, for every command."""

from __future__ import annotations

import dataclasses

from checks import registry, rules
from checks.findings import CHANGED, ERROR, FAIL, PASS, SAME, XFAIL, XPASS, Finding
from checks.goldens import Golden, Goldens
from checks.judge import diff_value, each_golden, exit_codes, judge_value, parse_error
from checks.run import Context, Run, StepData


def evaluate(goldens: Goldens, run: Run, baseline: Run | None = None, steps: list[str] | None = None) -> list[Finding]:
    """Judge the selected steps (default: every step the goldens name, and every step the run has); with a
    `baseline`, compare the run with it instead (default: the steps the goldens name)."""
    if baseline is not None:
        return compare(goldens, baseline, run, steps)
    out: list[Finding] = []
    if run.manifest_error is not None:
        out.append(Finding("run", "manifest", ERROR, expected="manifest.json written by the runner",
                           note=run.manifest_error.render(), where=run.manifest_error.where or ""))
    chosen = list(steps) if steps else list(goldens.steps) + [s for s in run.present_steps() if s not in goldens.steps]
    for step in chosen:
        out += _step_or_why_not(goldens, run, step)
    judged = [s for s in chosen if goldens.steps.get(s) and run.step(s).present]
    out += rules.findings(run, goldens, judged)
    if not any(f.status in (PASS, FAIL, XFAIL, XPASS) for f in out) and not any(f.status == ERROR for f in out):
        out.append(Finding("run", "coverage", ERROR, note="nothing was checked: every check was skipped"))
    return out


def _step_or_why_not(goldens: Goldens, run: Run, step: str) -> list[Finding]:
    gs = goldens.steps.get(step)
    if not gs:
        return [Finding(step, "goldens", ERROR, note=f"no `{step}:` section in {goldens.file}; "
                        "add goldens for it or leave the step out (--step)")]
    data = run.step(step)
    if not data.present:
        return [Finding(step, "output", ERROR, expected=f"{data.dir}/",
                        note=f"step directory missing; run `make {step}` (or RUN=... for another run)")]
    return judge_step(gs, data, run.context)


def judge_step(gs: list[Golden], data: StepData, ctx: Context) -> list[Finding]:
    """Every finding of one loaded step against its goldens: the runner's exit codes, then each golden."""
    out = exit_codes(data)
    if data.error is not None:
        return out + [parse_error(data.name, data)]
    fmt = getattr(data.record, "format", None)
    return out + each_golden(gs, lambda g: judge_value(g, data.record, ctx, fmt))


def unit_goldens(gs: list[Golden], step: str, variant: str | None) -> list[Golden]:
    """The goldens of one unit of a step run per variant (their paths under `runs.<variant>.`); all of them for a
    step run once. A mean is kept when all its parts are."""
    prefix = registry.get(step).unit_prefix(variant)
    if not prefix:
        return list(gs)
    mine = [g for g in gs if not g.mean_of and all((p or "").startswith(prefix) for p in (g.ratio or (g.path,)))]
    ids = {g.id for g in mine}
    return [g for g in gs if g in mine or (g.mean_of and set(g.mean_of) <= ids)]


def unit_data(data: StepData, variant: str | None) -> StepData:
    """One unit of a loaded step (`bench/7b-fp8` of bench): the step's record with only that variant (its values,
    where they were read, why they could not be), and that unit's step.json; the whole step for a step run once."""
    step = registry.get(data.name)
    prefix = step.unit_prefix(variant)
    if not prefix:
        return data
    metas = [m for m in data.metas if m.unit == f"{data.name}/{variant}"]
    if data.record is None:
        return dataclasses.replace(data, metas=metas)
    mine = getattr(data.record, step.variants)
    record = step.record(**{step.variants: {variant: mine[variant]} if variant in mine else {}})
    record.where.update({k: v for k, v in data.record.where.items() if k.startswith(prefix)})
    record.errors.update({k: v for k, v in data.record.errors.items() if f"{k}.".startswith(prefix)})
    return dataclasses.replace(data, record=record, metas=metas)


def compare(goldens: Goldens, baseline: Run, candidate: Run, steps: list[str] | None = None) -> list[Finding]:
    """Each step's goldens in both runs (SAME within the golden's tolerance of the baseline's value, CHANGED beyond),
    the log format each parser matched, and what the step adds (Step.diff: the loss curves)."""
    cb, cc = baseline.context, candidate.context
    same_gpu = cb.gpu_model is not None and cb.gpu_model == cc.gpu_model
    out: list[Finding] = []
    for step in steps or list(goldens.steps):
        pair = _both(step, baseline, candidate, out)
        if pair is None:
            continue
        base, cand = pair
        fb, fc = getattr(base, "format", None), getattr(cand, "format", None)
        if fb or fc:
            out.append(Finding(step, "log format", SAME if fb == fc else CHANGED, fb, fc, tolerance="exact"))
        gs = goldens.steps.get(step, [])
        out += each_golden(gs, lambda g: diff_value(g, base, cand, same_gpu, goldens.diff.get(f"{step}.{g.id}")),
                           against_golden=False)
        extra = registry.get(step).diff
        out += extra(base, cand, goldens) if extra else []
    return out


def _both(step: str, baseline: Run, candidate: Run, out: list[Finding]) -> tuple[object, object] | None:
    """(the baseline's record, the candidate's), or None with an ERROR for each side that has none."""
    pair = []
    for run in (baseline, candidate):
        data = run.step(step)
        if not data.present:
            out.append(Finding(step, "parse", ERROR, note=f"{step}: no step directory in {run.path}"))
        elif data.error is not None:
            out.append(Finding(step, "parse", ERROR, note=data.error.render(), where=data.error.where or ""))
        else:
            pair.append(data.record)
    return (pair[0], pair[1]) if len(pair) == 2 else None
