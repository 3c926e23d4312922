"""`checks diff BASELINE CANDIDATE`: what changed between two runs, step by step, within tolerances.

The goldens file says what matters and how much it may move: every golden's value is compared between
the two runs with that golden's tolerance (a binomial bound uses the baseline's score). On top of that:
which log format each side's parser matched, and the distillation loss curves (largest and final
deviation over the iterations both runs logged)."""

from __future__ import annotations

import math

from checks import judge
from checks.findings import CHANGED, ERROR, SAME, SKIP, Finding, Status
from checks.goldens import Golden, Goldens, Tolerance
from checks.run import Run

LOSS_TOL = Tolerance("rel", 0.05)  # default for loss curves; goldens `diff: {loss_curve: {rel: x}}` overrides


def diff_golden(g: Golden, base: object, cand: object, same_gpu: bool, override: Tolerance | None = None) -> Finding:
    """One golden's value in both runs, compared with the golden's tolerance; a limit (at_most/at_least) is
    compared exactly unless the goldens' `diff:` section gives that check a tolerance of its own."""
    c = Finding(g.step, g.id, ERROR, tolerance=judge.describe(g.tol, None), source=g.source)
    if g.by_gpu is not None and not same_gpu:
        c.status, c.note = SKIP, "the runs used different GPU models; absolute figures are not comparable"
        return c
    try:
        c.expected = judge.measure(g, base)
    except (judge.Missing, TypeError):
        c.expected = None
    try:
        c.measured = judge.measure(g, cand)
    except (judge.Missing, TypeError):
        c.measured = None
    c.where = judge.locate(cand, g.ratio or g.path)
    if c.expected is None and c.measured is None:
        c.status, c.note = (SKIP, "in neither run (optional)") if g.optional else (ERROR, "in neither run")
        return c
    if c.expected is None or c.measured is None:
        c.status, c.note = CHANGED, "only in the " + ("candidate" if c.expected is None else "baseline")
        return c
    tol = override or (g.tol if g.tol.kind not in ("at_most", "at_least") else Tolerance("exact"))
    status, msg = judge.compare(c.measured, c.expected, tol)
    c.tolerance = judge.describe(tol, c.expected)
    c.low, c.high = judge.bounds(tol, c.expected)
    c.status = {Status.PASS: SAME, Status.FAIL: CHANGED}.get(status, ERROR)
    c.note = msg if c.status != SAME else ""
    return c


def diff_mean(g: Golden, gs: list[Golden], base: object, cand: object) -> Finding:
    """A mean of other checks, over the parts both runs have; its tolerance from theirs (as the judge's)."""
    c = Finding(g.step, g.id, SKIP, source=g.source, tolerance="from its parts")
    parts = {x.id: x for x in gs}
    pairs = []
    for pid in g.mean_of:
        p = parts[pid]
        try:
            b, k = judge.measure(p, base), judge.measure(p, cand)
        except (judge.Missing, TypeError):
            continue
        if judge._num(b) and judge._num(k):
            lo, hi = judge.bounds(p.tol, b)
            pairs.append((float(b), float(k), (hi - lo) / 2 if lo is not None and hi is not None else 0.0))
    if not pairs:
        c.note = "no part in both runs"
        return c
    c.expected = sum(b for b, _, _ in pairs) / len(pairs)
    c.measured = sum(k for _, k, _ in pairs) / len(pairs)
    half = math.sqrt(sum(w * w for _, _, w in pairs)) / len(pairs)
    c.low, c.high, c.tolerance = c.expected - half, c.expected + half, f"±{half:.2f} (from {len(pairs)} parts)"
    c.status = SAME if c.low <= c.measured <= c.high else CHANGED
    if c.status == CHANGED:
        c.note = f"off by {c.measured - c.expected:+.3g} over {len(pairs)} of {len(g.mean_of)} parts"
    return c


def loss_curves(base: object, cand: object, tol: Tolerance) -> list[Finding]:
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
            out.append(Finding("distill", f"loss curve '{name}' ({what} deviation)", SAME if ok else CHANGED,
                               expected=None, measured=dev, high=tol.value, tolerance=f"±{tol.value * 100:g}%",
                               note=f"{dev * 100:.3g}% at iteration {at} over {len(common)} shared iterations"))
    if not common and (b or k):
        out.append(Finding("distill", "loss curve", CHANGED, len(b), len(k), note="no iteration logged by both runs"))
    return out


def diff_runs(baseline: Run, candidate: Run, goldens: Goldens, steps: list[str] | None = None) -> list[Finding]:
    changes: list[Finding] = []
    cb, cc = baseline.context, candidate.context
    same_gpu = cb.gpu_model is not None and cb.gpu_model == cc.gpu_model
    if not same_gpu:
        changes.append(Finding("run", "GPU model", CHANGED if cb.gpu_model != cc.gpu_model else ERROR,
                               cb.gpu_model, cc.gpu_model, note="absolute throughput is compared only on the same GPU"))
    for step in steps or list(goldens.steps):
        pair = []
        for run in (baseline, candidate):
            data = run.step(step)
            if not data.present:
                changes.append(Finding(step, "parse", ERROR, note=f"{step}: no step directory in {run.path}"))
            elif data.error is not None:
                changes.append(Finding(step, "parse", ERROR, note=data.error.render(), where=data.error.where or ""))
            else:
                pair.append(data.record)
        if len(pair) != 2:
            continue
        base, cand = pair
        fb, fc = getattr(base, "format", None), getattr(cand, "format", None)
        if fb or fc:
            changes.append(Finding(step, "log format", SAME if fb == fc else CHANGED, fb, fc, tolerance="exact"))
        gs = goldens.steps.get(step, [])
        for g in gs:
            changes.append(diff_mean(g, gs, base, cand) if g.mean_of else
                           diff_golden(g, base, cand, same_gpu, goldens.diff.get(f"{step}.{g.id}")))
        if step == "distill":
            changes += loss_curves(base, cand, goldens.diff.get("loss_curve", LOSS_TOL))
    return changes
