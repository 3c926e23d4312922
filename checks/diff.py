"""`checks diff BASELINE CANDIDATE`: what changed between two runs, step by step, within tolerances.

The goldens file says what matters and how much it may move: every golden's value is compared between
the two runs with that golden's tolerance (a binomial bound uses the baseline's score): SAME or CHANGED,
and CHANGED makes the diff exit 1. On top of that: which log format each side's parser matched, and the
distillation loss curves (largest and final deviation over the iterations both runs logged).

Around those numbers, so that a change can be explained: every component version, the image, GPU, runner
and errata from both manifests; each step's script, flags and deviations; and every other field the parsers
read (checkpoint bytes, FP8 fraction, producer, excluded modules, architecture, tensor fingerprints...),
compared exactly. Where they differ they are DIFFERS: shown, never failing, since no golden says they
matter. A goldens file makes one of them judged by giving it a tolerance in its `diff:` section
(`diff: {quantize.checkpoint_bytes: {rel: 0.01}}`); fields equal in both runs are counted in one line per
step, named in its note."""

from __future__ import annotations

import dataclasses
import math
import re

from checks import judge
from checks.findings import CHANGED, DIFFERS, ERROR, SAME, SKIP, Finding, Status
from checks.goldens import Golden, Goldens, Tolerance
from checks.rules import command_flags
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
        why = _why_missing(g, cand)
        c.note += f"; in the candidate: {why}" if why and not g.optional else ""
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


def _why_missing(g: Golden, record: object) -> str:
    """What the loader said of the part of the record a golden's path goes through (e.g. a missing checkpoint)."""
    errors = getattr(record, "errors", None) or {}
    hits = [f"{k}: {e}" for k, e in errors.items() if any(f"{p}.".startswith(f"{k}.") for p in (g.ratio or (g.path,)))]
    return "; ".join(hits)


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
    else:
        changes.append(Finding("run", "GPU model", SAME, cb.gpu_model, cc.gpu_model, tolerance="exact", where="manifest.json"))
    changes += manifests(baseline, candidate)
    for step in steps or list(goldens.steps):
        changes += step_settings(step, baseline, candidate)
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
        changes += other_fields(step, base, cand, gs, goldens.diff, (baseline, candidate))
    return changes


# ------------------------------------------------------------------ around the numbers

# Not compared: where a value was read (file:line, paths), what has its own finding (the log format, the loss
# curves), and per-line bookkeeping. Lists of "file:line: text" are compared by their length.
NOT_COMPARED = frozenset({"where", "path", "resolved", "line", "src", "format", "format_evidence", "iterations",
                          "segments"})
COUNTED = frozenset({"trouble", "restarts_from_scratch"})
# Content hashes of the tensors FP8 PTQ keeps in BF16, compared by tensor (ModelOpt 0.46 exports `backbone.*`
# where 0.44 wrote `model.*`: the same tensor, and excluded_modules shows the renaming).
_PREFIX = re.compile(r"^(?:model|backbone)\.")
# The same fact twice in one record: compared once, under the record's own name for it.
DUPLICATES = {"quantize": ("checkpoint.layout", "checkpoint.quantization", "checkpoint.bytes", "checkpoint.has_tokenizer")}
NOT_JUDGED = "exact, not judged"
_ABSENT = object()


def _context(step: str, fid: str, b: object, c: object, where: str = "") -> Finding:
    """A value that explains the numbers (a version, a flag, a parsed field no golden names): SAME or DIFFERS."""
    b, c = (None if x is _ABSENT else x for x in (b, c))
    same = judge._equal(b, c)
    f = Finding(step, fid, SAME if same else DIFFERS, b, c, tolerance=NOT_JUDGED, where=where)
    if not same and (b is None or c is None):
        f.note = "only in the " + ("candidate" if b is None else "baseline")
    return f


def _flatten(x: object, prefix: str = "", skip: tuple[str, ...] = ()) -> dict[str, object]:
    """Leaf path -> plain value of a record: dataclasses and dicts are walked, lists are leaves."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        items = [(f.name, getattr(x, f.name)) for f in dataclasses.fields(x)]
    elif isinstance(x, dict):
        items = [(str(k), v) for k, v in x.items()]
    else:
        return {prefix.rstrip("."): judge._plain(x)}
    out: dict[str, object] = {}
    for k, v in items:
        path = prefix + k
        if k in NOT_COMPARED or any(path == d or path.endswith("." + d) for d in skip):  # also in variants.<name>.
            continue
        if k in COUNTED and isinstance(v, list):
            out[f"{path} (count)"] = len(v)
        elif k == "fingerprints" and isinstance(v, dict):
            out[path] = {_PREFIX.sub("", str(n)): h for n, h in sorted(v.items())}
        elif (dataclasses.is_dataclass(v) and not isinstance(v, type)) or (isinstance(v, dict) and v):
            out.update(_flatten(v, path + ".", skip))
        else:
            out[path] = _strip(judge._plain(v))
    return out


def _strip(x: object) -> object:
    """A list of records (bench results, prune candidates) without where each was read."""
    if isinstance(x, list):
        return [_strip(v) for v in x]
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in NOT_COMPARED}
    return x


def _run_pattern(run: Run) -> re.Pattern | None:
    """A path into the run directory as a command or a log names it (…/runs/<id>/<step>…): replaced by
    `<run>` so that two runs' paths compare equal."""
    ids = {run.id, run.path.name} - {""}
    alt = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.compile(rf"[^\s'\"=]*/(?:{alt})(?=/(?:data|prune|distill|convert|eval|quantize|bench)\b|/?$|\s)") if alt else None


def _normal(x: object, pat: re.Pattern | None) -> object:
    if pat is None:
        return x
    if isinstance(x, str):
        return pat.sub("<run>", x)
    if isinstance(x, list):
        return [_normal(v, pat) for v in x]
    if isinstance(x, dict):
        return {k: _normal(v, pat) for k, v in x.items()}
    return x


def _named(path: str, named: set[str]) -> bool:
    return any(path == n or path.startswith(n + ".") or n.startswith(path + ".") for n in named)


def other_fields(step: str, base: object, cand: object, gs: list[Golden], tolerances: dict[str, Tolerance],
                 runs: tuple[Run, Run]) -> list[Finding]:
    """Every parsed field no golden of the step names: judged with a `diff:` tolerance of the goldens where one
    is given, else compared exactly and shown as DIFFERS; the equal ones in one SAME line."""
    named = {p for g in gs for p in ((g.path,) if g.path else ()) + tuple(g.ratio or ())}
    skip = DUPLICATES.get(step, ())
    pats = [_run_pattern(r) for r in runs]
    fb = {k: _normal(v, pats[0]) for k, v in _flatten(base, skip=skip).items() if not _named(k, named)}
    fc = {k: _normal(v, pats[1]) for k, v in _flatten(cand, skip=skip).items() if not _named(k, named)}
    out, same = [], []
    for path in list(fb) + [k for k in fc if k not in fb]:
        b, c = fb.get(path, _ABSENT), fc.get(path, _ABSENT)
        tol = tolerances.get(f"{step}.{path}")
        if tol is not None:
            out.append(_judged(step, path, b, c, tol, judge.locate(cand, path)))
            continue
        f = _context(step, path, b, c, judge.locate(cand, path))
        (same if f.status == SAME else out).append(f)
    return out + _equal_ones(step, "other parsed fields", same)


def _equal_ones(step: str, what: str, same: list[Finding]) -> list[Finding]:
    """Values equal in both runs, as one SAME line naming them (in its note), so the differences stand out."""
    if not same:
        return []
    return [Finding(step, what, SAME, len(same), len(same), tolerance=NOT_JUDGED,
                    note="equal in both runs: " + ", ".join(f.id for f in same))]


def _judged(step: str, path: str, b: object, c: object, tol: Tolerance, where: str) -> Finding:
    b, c = (None if x is _ABSENT else x for x in (b, c))
    f = Finding(step, path, CHANGED, b, c, tolerance=judge.describe(tol, b), where=where, source="goldens `diff:`")
    if b is None or c is None:
        f.note = "only in the " + ("candidate" if b is None else "baseline")
        return f
    status, msg = judge.compare(c, b, tol)
    f.low, f.high = judge.bounds(tol, b)
    f.status, f.note = {Status.PASS: SAME, Status.FAIL: CHANGED}.get(status, ERROR), msg
    return f


# What of a manifest explains a result: the component versions, the image, the GPU beyond its model, where
# and how it ran, the kit's revision and the errata applied.
MANIFEST_FIELDS = ("versions", "image", "gpu", "runner", "kit", "errata")


def manifests(baseline: Run, candidate: Run) -> list[Finding]:
    """Each component's version and the rest of MANIFEST_FIELDS, from both manifests, SAME or DIFFERS."""
    mb, mc = baseline.manifest or {}, candidate.manifest or {}
    out = []
    for run in (baseline, candidate):
        if run.manifest is None:
            err = run.manifest_error
            out.append(Finding("run", "manifest", ERROR, note=err.render() if err else f"no manifest.json in {run.path}",
                               where=(err.where if err else "") or ""))
    fb = _flatten({k: mb[k] for k in MANIFEST_FIELDS if k in mb})
    fc = _flatten({k: mc[k] for k in MANIFEST_FIELDS if k in mc})
    fb.pop("gpu.model", None), fc.pop("gpu.model", None)  # its own finding, which conditions the judging
    same = []
    for path in list(fb) + [k for k in fc if k not in fb]:
        b, c = fb.get(path, _ABSENT), fc.get(path, _ABSENT)
        if b in (None, _ABSENT) and c in (None, _ABSENT):
            continue  # recorded by neither (e.g. vllm in a run that had none)
        f = _context("run", path, b, c, "manifest.json")
        (same if f.status == SAME and not path.startswith(("versions.", "image.")) else out).append(f)
    return out + _equal_ones("run", "other manifest fields", same)


def step_settings(step: str, baseline: Run, candidate: Run) -> list[Finding]:
    """How each side ran the step: the script, every flag of its command (run paths as `<run>`) and the
    errata or additions applied (step.json deviations)."""
    sides = []
    for run in (baseline, candidate):
        steps = (run.manifest or {}).get("steps")
        units = {u: i for u, i in (steps.items() if isinstance(steps, dict) else ())
                 if str(u).split("/", 1)[0] == step and isinstance(i, dict)}
        pat = _run_pattern(run)
        flat: dict[str, object] = {}
        for unit, info in sorted(units.items()):
            label = "" if unit == step else unit.split("/", 1)[1] + " "
            cmd = info.get("command") if isinstance(info.get("command"), str) else ""
            if cmd:
                cmd = str(_normal(cmd, pat))
                script = next((w for w in cmd.split() if w.endswith(".py") or w in ("vllm", "nemo-evaluator-launcher")),
                              None)
                flat[f"{label}command script"] = script
                for k, v in command_flags(cmd).items():
                    flat[f"{label}command {k}"] = v
            devs = [d.get("id") for d in info.get("deviations") or [] if isinstance(d, dict)]
            flat[f"{label}deviations"] = sorted(str(d) for d in devs if d)
        sides.append((flat, bool(units)))
    (fb, hb), (fc, hc) = sides
    if not (hb or hc):
        return []
    out, same = [], []
    for key in list(fb) + [k for k in fc if k not in fb]:
        f = _context(step, key, fb.get(key, _ABSENT), fc.get(key, _ABSENT), "manifest.json")
        (same if f.status == SAME and " --" in f" {key}" else out).append(f)
    return out + _equal_ones(step, "command, other flags", same)
