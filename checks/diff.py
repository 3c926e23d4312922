"""`checks diff BASELINE CANDIDATE`: what changed between two runs, step by step, within tolerances.

The goldens file says what matters and how much it may move: every golden's value is compared between
the two runs with that golden's tolerance (a binomial bound uses the baseline's score). On top of that:
which log format each side's parser matched, and the distillation loss curves (largest and final
deviation over the iterations both runs logged)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from checks import engine, rundir
from checks.engine import ERROR
from checks.errors import CheckError
from checks.goldens import Golden, Goldens, Tolerance

SAME, CHANGED = "SAME", "CHANGED"
LOSS_TOL = Tolerance("rel", 0.05)  # default for loss curves; goldens `diff: {loss_curve: {rel: x}}` overrides


@dataclass
class Change:
    step: str
    item: str
    status: str
    baseline: object = None
    candidate: object = None
    tolerance: str = ""
    note: str = ""


def _load(run: Path, step: str):
    from checks.steps import module

    sdir = rundir.step_dir(run, step)
    if not sdir.is_dir():
        raise CheckError(f"{step}: no step directory", where=str(sdir))
    return module(step).load(sdir)


def diff_golden(g: Golden, base: object, cand: object, same_gpu: bool) -> Change:
    c = Change(g.step, g.id, ERROR, tolerance=engine.describe(g.tol, None))
    if g.by_gpu is not None and not same_gpu:
        c.status, c.note = "SKIP", "the runs used different GPU models; absolute figures are not comparable"
        return c
    try:
        c.baseline = engine.measure(g, base)
    except (engine._Missing, TypeError):
        c.baseline = None
    try:
        c.candidate = engine.measure(g, cand)
    except (engine._Missing, TypeError):
        c.candidate = None
    if c.baseline is None and c.candidate is None:
        c.status, c.note = ("SKIP", "in neither run (optional)") if g.optional else (ERROR, "in neither run")
        return c
    if c.baseline is None or c.candidate is None:
        c.status, c.note = CHANGED, "only in the " + ("candidate" if c.baseline is None else "baseline")
        return c
    tol = g.tol if g.tol.kind not in ("at_most", "at_least") else Tolerance("exact")
    status, msg = engine.compare(c.candidate, c.baseline, tol)
    c.tolerance = engine.describe(tol, c.baseline)
    c.status = {engine.PASS: SAME, engine.FAIL: CHANGED}.get(status, ERROR)
    c.note = msg
    return c


def loss_curves(base: object, cand: object, tol: Tolerance) -> list[Change]:
    """Per loss name: the largest and the final deviation over the iterations both runs logged."""
    b = {i.iteration: i.losses for i in getattr(base, "iterations", [])}
    k = {i.iteration: i.losses for i in getattr(cand, "iterations", [])}
    common = sorted(set(b) & set(k))
    out = []
    names = sorted(set().union(*(b[i] for i in common)) | set().union(*(k[i] for i in common))) if common else []
    for name in names:
        pairs = [(b[i].get(name, math.nan), k[i].get(name, math.nan)) for i in common]
        devs = [abs(y - x) / max(abs(x), 1e-12) for x, y in pairs]
        worst = max(devs, key=lambda d: -1 if math.isnan(d) else d) if devs else math.nan
        final = devs[-1] if devs else math.nan
        for what, dev, at in (("max", worst, common[devs.index(worst)] if devs else None), ("final", final, common[-1])):
            ok = not math.isnan(dev) and dev <= tol.value
            out.append(Change("distill", f"loss curve '{name}' ({what} deviation)", SAME if ok else CHANGED,
                              baseline=None, candidate=dev, tolerance=f"±{tol.value * 100:g}%",
                              note=f"{dev * 100:.3g}% at iteration {at} over {len(common)} shared iterations"))
    if not common and (b or k):
        out.append(Change("distill", "loss curve", CHANGED, len(b), len(k), note="no iteration logged by both runs"))
    return out


def diff_runs(baseline: Path, candidate: Path, goldens: Goldens, steps: list[str] | None = None) -> list[Change]:
    changes: list[Change] = []
    for run in (baseline, candidate):
        if not Path(run).is_dir():
            return [Change("run", "run directory", ERROR, note=f"no such directory: {run}")]
    cb, cc = engine.run_context(baseline), engine.run_context(candidate)
    same_gpu = cb.gpu_model is not None and cb.gpu_model == cc.gpu_model
    if not same_gpu:
        changes.append(Change("run", "GPU model", CHANGED if cb.gpu_model != cc.gpu_model else ERROR,
                              cb.gpu_model, cc.gpu_model, note="absolute throughput is compared only on the same GPU"))
    for step in steps or list(goldens.steps):
        try:
            base, cand = _load(baseline, step), _load(candidate, step)
        except CheckError as e:
            changes.append(Change(step, "parse", ERROR, note=e.render()))
            continue
        fb, fc = getattr(base, "format", None), getattr(cand, "format", None)
        if fb or fc:
            changes.append(Change(step, "log format", SAME if fb == fc else CHANGED, fb, fc, "exact"))
        for g in goldens.steps.get(step, []):
            changes.append(diff_golden(g, base, cand, same_gpu))
        if step == "distill":
            changes += loss_curves(base, cand, goldens.diff.get("loss_curve", LOSS_TOL))
    return changes


def exit_code(changes: list[Change]) -> int:
    s = {c.status for c in changes}
    return 2 if ERROR in s else 1 if CHANGED in s else 0


def to_json(changes: list[Change], meta: dict) -> str:
    return json.dumps({**meta, "changes": [dataclasses.asdict(c) for c in changes]}, indent=2, default=str)
