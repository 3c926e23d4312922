"""The judge: a loaded Run + goldens -> findings. Pure: it reads nothing and prints nothing."""

from __future__ import annotations

import dataclasses
import math
import re

from checks.errors import FormatNotRecognised
from checks.findings import ERROR, FAIL, PASS, SKIP, XFAIL, XPASS, Finding, Status
from checks.goldens import Golden, Goldens, Tolerance
from checks.run import Context, Run, StepData


def gpu_key(gpu_model: str, keys: list[str]) -> str | None:
    """The golden key naming this GPU: a key matches when it appears in the model name as whole words;
    the longest match wins ('H100' matches 'NVIDIA H100 80GB HBM3')."""
    hits = [k for k in keys if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", gpu_model, re.IGNORECASE)]
    return max(hits, key=len) if hits else None


class Missing(Exception):
    """A record lacks the value a golden names; `depth` says how far the path got."""

    def __init__(self, depth: int, segment: str) -> None:
        super().__init__(segment)
        self.depth, self.segment = depth, segment


def resolve(record: object, path: str) -> object:
    """Follow a dotted path into a record (dataclasses, dicts, lists). Keys that contain dots
    (e.g. 'mlp.up_proj') are matched greedily. Raises Missing with how deep it got."""
    node: object = record  # walked as it is: converting a whole record per golden made judging quadratic
    parts = path.split(".")
    i = depth = 0
    while i < len(parts):
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            if parts[i] not in _field_names(node):
                raise Missing(depth, parts[i])
            node, i = getattr(node, parts[i]), i + 1
        elif isinstance(node, dict):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in node:
                    node, i = node[key], j
                    break
            else:
                raise Missing(depth, parts[i])
        elif isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
            node, i = node[int(parts[i])], i + 1
        else:
            raise Missing(depth, parts[i])
        if node is None:
            raise Missing(depth, parts[i - 1])
        depth += 1
    return _plain(node)


def _field_names(obj: object) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(obj))


def _plain(x: object) -> object:
    """A value as plain data (what dataclasses.asdict would give), so goldens compare against dicts and lists."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.asdict(x)
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def measure(g: Golden, record: object) -> object:
    """The value a golden names in a record: its path, or the ratio of two paths.
    Raises Missing when the record lacks it, TypeError when a ratio cannot be formed."""
    if g.ratio:
        num, den = (resolve(record, p) for p in g.ratio)
        if not (_num(num) and _num(den)) or float(den) == 0:
            raise TypeError(f"cannot form ratio {g.ratio[0]} / {g.ratio[1]} from {num!r} / {den!r}")
        return float(num) / float(den)
    return resolve(record, g.path)


def locate(record: object, path: str | tuple | None) -> str:
    """file:line a record path was read from: the longest recorded prefix of the path."""
    where = getattr(record, "where", None) or {}
    for p in (path if isinstance(path, tuple) else (path,)):
        parts = (p or "").split(".")
        for k in range(len(parts), 0, -1):
            hit = where.get(".".join(parts[:k]))
            if hit:
                return hit
    return ""


def bounds(t: Tolerance, expected: object) -> tuple[float | None, float | None]:
    """The numeric interval a tolerance allows around `expected` (None where it is open or not numeric)."""
    if t.kind == "at_most":
        return None, t.value
    if t.kind == "at_least":
        return t.value, None
    if t.kind == "exact" or not _num(expected):
        return (float(expected), float(expected)) if _num(expected) else (None, None)
    e = float(expected)
    w = {"abs": lambda: t.value, "rel": lambda: t.value * abs(e), "binomial": lambda: binomial_width(t, e)}[t.kind]()
    return e - w, e + w


def describe(t: Tolerance, expected: object = None) -> str:
    if t.kind == "exact":
        return "exact"
    if t.kind == "abs":
        return f"±{t.value:g}"
    if t.kind == "rel":
        return f"±{t.value * 100:g}%"
    if t.kind == "at_most":
        return f"≤ {t.value:g}"
    if t.kind == "at_least":
        return f"≥ {t.value:g}"
    width = binomial_width(t, expected) if _num(expected) else None
    shown = f"±{width:.2f} " if width is not None else ""
    return f"{shown}({t.z:g}σ binomial, n={t.n}×{t.repeats})"


def binomial_width(t: Tolerance, expected_pct: float) -> float:
    """Half-width, in percentage points, for the difference of two independent evaluations of one model
    on the same n questions, each averaging `repeats` samples: z * sqrt(2 p (1-p) / (n * repeats)).
    This is an upper bound of that difference's standard error (per-question variance <= p(1-p))."""
    trials = t.n * t.repeats
    p = min(max(expected_pct / 100.0, 1.0 / trials), 1.0 - 1.0 / trials)
    return 100.0 * t.z * math.sqrt(2.0 * p * (1.0 - p) / trials)


def _num(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def compare(measured: object, expected: object, t: Tolerance) -> tuple[Status, str]:
    """(status, note) for one value. NaN and inf never pass a numeric tolerance."""
    if t.kind == "exact":
        return (PASS, "") if _equal(measured, expected) else (FAIL, "differs")
    if not _num(measured):
        return ERROR, f"expected a number, found {type(measured).__name__} {measured!r}"[:300]
    m = float(measured)
    if not math.isfinite(m):
        return FAIL, f"measured value is {m}"
    if t.kind == "at_most":
        return (PASS, "") if m <= t.value else (FAIL, f"{m:g} > {t.value:g}")
    if t.kind == "at_least":
        return (PASS, "") if m >= t.value else (FAIL, f"{m:g} < {t.value:g}")
    if not _num(expected):
        return ERROR, f"golden is not a number: {expected!r}"
    lo, hi = bounds(t, expected)
    if lo <= m <= hi:
        return PASS, ""
    return FAIL, f"off by {m - float(expected):+.4g} (allowed ±{(hi - lo) / 2:.4g})"


def _equal(a: object, b: object) -> bool:
    if _num(a) and _num(b):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def judge_value(g: Golden, record: object, ctx: Context, record_format: str | None = None) -> Finding:
    """One golden against one record."""
    v = Finding(g.step, g.id, ERROR, source=g.source)
    if g.formats and record_format is not None and record_format not in g.formats:
        v.status, v.note = SKIP, f"not printed by log format {record_format} (checked for {', '.join(g.formats)})"
        return v
    for key, want in g.requires.items():
        if key == "world_size":
            have = ctx.world_size.get(g.step)
            if have != want:
                v.status = SKIP
                v.note = f"golden is for world_size {want}; this run: {have if have is not None else 'unknown'}"
                return v
        if key == "addition" and want not in ctx.deviations.get(g.step, set()):
            v.status = SKIP
            v.note = f"needs the kit's opt-in addition `{want}`, which this run did not include (see README, Errata)"
            return v
    expected = g.expect
    if g.by_gpu is not None:
        if ctx.gpu_model is None:
            v.status, v.note = SKIP, "GPU model unknown (no gpu.model in manifest.json); absolute figure not judged"
            return v
        key = gpu_key(ctx.gpu_model, list(g.by_gpu))
        if key is None:
            v.status = SKIP
            v.note = f"no golden for GPU {ctx.gpu_model!r} (goldens exist for {', '.join(g.by_gpu)}); ratios still judged"
            return v
        expected = g.by_gpu[key]
    v.expected, v.tolerance = expected, describe(g.tol, expected)
    v.low, v.high = bounds(g.tol, expected)
    v.where = locate(record, g.ratio or g.path)
    try:
        v.measured = measure(g, record)
    except TypeError as e:
        v.note = str(e)
        return v
    except Missing as miss:
        errors = (record.get("errors") if isinstance(record, dict) else getattr(record, "errors", None)) or {}
        # An optional run that is present but unreadable is an error, not an absence.
        broken = any(f"{p}.".startswith(f"{k}.") for p in (g.ratio or (g.path,)) for k in errors)
        if g.optional and miss.depth <= 1 and not broken:
            v.status, v.note = SKIP, f"{miss.segment!r} not in this run (optional)"
            return v
        why = "; ".join(f"{k}: {e}" for k, e in errors.items())
        v.note = f"value not found: {g.ratio or g.path} (stopped at {miss.segment!r})" + (f" — {why}" if why else "")
        return v
    v.status, v.note = compare(v.measured, expected, g.tol)
    if g.xfail and v.status in (PASS, FAIL):
        v.status = XFAIL if v.status == FAIL else XPASS
        v.note = (f"known discrepancy: {g.xfail}" if v.status == XFAIL else
                  f"marked xfail ({g.xfail}) but passed: the discrepancy is gone; remove the mark if that is intended")
    elif v.status == FAIL:
        hint = "if the change is intended: checks bless"
        v.note = f"{v.note}. Note: {g.note}" if g.note else f"{v.note}; {hint}"
    return v


def judge_step(step: str, goldens: list[Golden], data: StepData, ctx: Context) -> list[Finding]:
    """Every finding for one loaded step: the runner's exit codes, then the goldens."""
    out = exit_codes(data)
    if data.error is not None:
        fmt = isinstance(data.error, FormatNotRecognised)
        out.append(Finding(step, "log_format" if fmt else "parse", ERROR,
                           expected="a log format the parser knows" if fmt else None,
                           measured="not recognised" if fmt else None, note=data.error.render(),
                           where=data.error.where or ""))
        return out
    fmt = getattr(data.record, "format", None)
    found = {g.id: judge_value(g, data.record, ctx, fmt) for g in goldens if not g.mean_of}
    out += [found[g.id] if not g.mean_of else judge_mean(g, found, goldens, ctx) for g in goldens]
    return out


def judge_mean(g: Golden, found: dict[str, Finding], goldens: list[Golden], ctx: Context) -> Finding:
    """The mean of other checks (e.g. the tutorial's Average column), over the parts that ran. With every part,
    the golden's own value; with fewer, the mean of the parts' golden values, saying which are left out. Its
    half-width is sqrt(sum of the parts' half-widths squared) / k: the parts' errors are independent."""
    v = Finding(g.step, g.id, ERROR, source=g.source, tolerance="from its parts")
    parts = [found[i] for i in g.mean_of]
    if any(p.status == ERROR for p in parts):
        v.note = "a part could not be judged: " + ", ".join(p.id for p in parts if p.status == ERROR)
        return v
    ran = [p for p in parts if p.status != SKIP and _num(p.measured) and _num(p.expected)]
    if not ran:
        v.status, v.note = SKIP, "none of its parts ran"
        return v
    left_out = [p for p in parts if p not in ran]
    v.expected = g.expect if not left_out else sum(float(p.expected) for p in ran) / len(ran)
    v.measured = sum(float(p.measured) for p in ran) / len(ran)
    half = math.sqrt(sum(((p.high - p.low) / 2) ** 2 for p in ran)) / len(ran)
    v.low, v.high = float(v.expected) - half, float(v.expected) + half
    v.tolerance = f"±{half:.2f} (from {len(ran)} parts)"
    ok = v.low <= v.measured <= v.high
    v.status = PASS if ok else FAIL
    v.note = "" if ok else f"off by {v.measured - float(v.expected):+.3g} (allowed ±{half:.3g})"
    if left_out:
        v.note = (v.note + "; " if v.note else "") + f"over the {len(ran)} of {len(parts)} benchmarks that ran " \
            f"(left out: {', '.join(p.id for p in left_out)}); expected recomputed from the tutorial's values for those"
    v.where = ran[-1].where
    return v


def exit_codes(data: StepData) -> list[Finding]:
    """The runner's step.json says how the step ended; without it the step never finished under a runner."""
    out = []
    for meta in data.metas:
        fid = "exit_code" if meta.path.parent == data.dir else f"{meta.path.parent.name}_exit_code"
        f = Finding(data.name, fid, ERROR, expected=0, tolerance="exact", source="runner (step.json)", where=meta.rel)
        if meta.error is not None:
            f.note = meta.error.render() + "\n  (the runner writes step.json when the step ends; without it the step did not finish)"
        else:
            code = meta.doc.get("exit_code")
            f.measured = code
            if code == 0 and not isinstance(code, bool):
                f.status = PASS
            elif isinstance(code, int) and not isinstance(code, bool):
                f.status, f.note = FAIL, f"the step exited with {code}; see {meta.rel.rsplit('/', 1)[0]}/step.log"
            else:
                f.note = f"{meta.rel} has no integer exit_code"
        out.append(f)
    return out


def judge(run: Run, goldens: Goldens, steps: list[str] | None = None) -> list[Finding]:
    """Judge the selected steps (default: every step the goldens name, and every step the run has).
    Bad input becomes ERROR findings, never an exception."""
    out: list[Finding] = []
    if run.manifest_error is not None:
        out.append(Finding("run", "manifest", ERROR, expected="manifest.json written by the runner",
                           note=run.manifest_error.render(), where=run.manifest_error.where or ""))
    chosen = list(steps) if steps else list(goldens.steps) + [s for s in run.present_steps() if s not in goldens.steps]
    for step in chosen:
        gs = goldens.steps.get(step)
        if not gs:
            out.append(Finding(step, "goldens", ERROR, note=f"no `{step}:` section in {goldens.file}; "
                               "add goldens for it or leave the step out (--step)"))
            continue
        data = run.step(step)
        if not data.present:
            out.append(Finding(step, "output", ERROR, expected=f"{data.dir}/",
                               note=f"step directory missing; run `make {step}` (or RUN=... for another run)"))
            continue
        out += judge_step(step, gs, data, run.context)
    from checks import rules

    judged = [s for s in chosen if goldens.steps.get(s) and run.step(s).present]
    out += rules.findings(run, goldens, judged)
    if not any(f.status in (PASS, FAIL, XFAIL, XPASS) for f in out) and not any(f.status == ERROR for f in out):
        out.append(Finding("run", "coverage", ERROR, note="nothing was checked: every check was skipped"))
    return out
