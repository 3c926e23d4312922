"""The one comparison engine: a step's record + its goldens -> verdicts. It judges; it never prints."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

from checks import rundir
from checks.errors import CheckError, FormatNotRecognised
from checks.goldens import Golden, Goldens, Tolerance

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"


@dataclass
class Verdict:
    step: str
    id: str
    status: str
    expected: object = None
    measured: object = None
    tolerance: str = ""
    source: str = ""
    message: str = ""


@dataclass
class Context:
    """What the goldens may be conditioned on, read from the run's manifest."""

    gpu_model: str | None = None
    world_size: dict[str, int] = dataclasses.field(default_factory=dict)


def context_from_manifest(manifest: object) -> Context:
    ctx = Context()
    if not isinstance(manifest, dict):
        return ctx
    gpu = manifest.get("gpu")
    if isinstance(gpu, dict) and isinstance(gpu.get("model"), str):
        ctx.gpu_model = gpu["model"]
    steps = manifest.get("steps")
    for step, info in (steps.items() if isinstance(steps, dict) else ()):
        ws = info.get("world_size") if isinstance(info, dict) else None
        if isinstance(ws, int):
            ctx.world_size[step] = ws
    return ctx


def run_context(run_dir: Path) -> Context:
    """The context of a run, or an empty one when its manifest cannot be read (for diff and reports;
    `verify` reports the unreadable manifest as an ERROR of its own)."""
    try:
        return context_from_manifest(rundir.read_json(Path(run_dir) / rundir.MANIFEST))
    except CheckError:
        return Context()


def gpu_key(gpu_model: str, keys: list[str]) -> str | None:
    """The golden key naming this GPU: a key matches when it appears in the model name as whole words;
    the longest match wins ('H100' matches 'NVIDIA H100 80GB HBM3')."""
    hits = [k for k in keys if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", gpu_model, re.IGNORECASE)]
    return max(hits, key=len) if hits else None


class _Missing(Exception):
    def __init__(self, depth: int, segment: str) -> None:
        self.depth, self.segment = depth, segment


def resolve(record: object, path: str) -> object:
    """Follow a dotted path into a record (dataclasses, dicts, lists). Keys that contain dots
    (e.g. 'mlp.up_proj') are matched greedily. Raises _Missing with how deep it got."""
    node: object = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record
    parts = path.split(".")
    i = depth = 0
    while i < len(parts):
        if isinstance(node, dict):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in node:
                    node, i = node[key], j
                    break
            else:
                raise _Missing(depth, parts[i])
        elif isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
            node, i = node[int(parts[i])], i + 1
        else:
            raise _Missing(depth, parts[i])
        if node is None:
            raise _Missing(depth, parts[i - 1])
        depth += 1
    return node


def measure(g: Golden, record: object) -> object:
    """The value a golden names in a record: its path, or the ratio of two paths.
    Raises _Missing when the record lacks it, TypeError when a ratio cannot be formed."""
    if g.ratio:
        num, den = (resolve(record, p) for p in g.ratio)
        if not (_num(num) and _num(den)) or float(den) == 0:
            raise TypeError(f"cannot form ratio {g.ratio[0]} / {g.ratio[1]} from {num!r} / {den!r}")
        return float(num) / float(den)
    return resolve(record, g.path)


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


def compare(measured: object, expected: object, t: Tolerance) -> tuple[str, str]:
    """(status, message) for one value. NaN and inf never pass a numeric tolerance."""
    if t.kind == "exact":
        ok = _equal(measured, expected)
        return (PASS, "") if ok else (FAIL, "differs")
    if not _num(measured):
        return ERROR, f"expected a number, found {type(measured).__name__} {measured!r}"
    m = float(measured)
    if not math.isfinite(m):
        return FAIL, f"measured value is {m}"
    if t.kind == "at_most":
        return (PASS, "") if m <= t.value else (FAIL, f"{m:g} > {t.value:g}")
    if t.kind == "at_least":
        return (PASS, "") if m >= t.value else (FAIL, f"{m:g} < {t.value:g}")
    if not _num(expected):
        return ERROR, f"golden is not a number: {expected!r}"
    e = float(expected)
    width = {"abs": lambda: t.value, "rel": lambda: t.value * abs(e), "binomial": lambda: binomial_width(t, e)}[t.kind]()
    diff = m - e
    if abs(diff) <= width:
        return PASS, ""
    return FAIL, f"off by {diff:+.4g} (allowed ±{width:.4g})"


def _equal(a: object, b: object) -> bool:
    if _num(a) and _num(b):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def judge_value(g: Golden, record: object, ctx: Context, record_format: str | None = None) -> Verdict:
    v = Verdict(g.step, g.id, ERROR, source=g.source)
    if g.formats and record_format is not None and record_format not in g.formats:
        v.status, v.message = SKIP, f"not printed by log format {record_format} (checked for {', '.join(g.formats)})"
        return v
    for key, want in g.requires.items():
        if key == "world_size":
            have = ctx.world_size.get(g.step)
            if have != want:
                v.status = SKIP
                v.message = f"golden is for world_size {want}; this run: {have if have is not None else 'unknown'}"
                return v
    expected = g.expect
    if g.by_gpu is not None:
        if ctx.gpu_model is None:
            v.status, v.message = SKIP, "GPU model unknown (no gpu.model in manifest.json); absolute figure not judged"
            return v
        key = gpu_key(ctx.gpu_model, list(g.by_gpu))
        if key is None:
            v.status = SKIP
            v.message = f"no golden for GPU {ctx.gpu_model!r} (goldens exist for {', '.join(g.by_gpu)}); ratios still judged"
            return v
        expected = g.by_gpu[key]
    v.expected, v.tolerance = expected, describe(g.tol, expected)
    try:
        v.measured = measure(g, record)
    except TypeError as e:
        v.message = str(e)
        return v
    except _Missing as miss:
        errors = (record.get("errors") if isinstance(record, dict) else getattr(record, "errors", None)) or {}
        # An optional run that is present but unreadable is an error, not an absence.
        broken = any(f"{p}.".startswith(f"{k}.") for p in (g.ratio or (g.path,)) for k in errors)
        if g.optional and miss.depth <= 1 and not broken:
            v.status, v.message = SKIP, f"{miss.segment!r} not in this run (optional)"
            return v
        why = "; ".join(f"{k}: {e}" for k, e in errors.items())
        v.message = f"value not found: {g.ratio or g.path} (stopped at {miss.segment!r})" + (f" — {why}" if why else "")
        return v
    v.status, v.message = compare(v.measured, expected, g.tol)
    if v.status == FAIL and g.note:
        v.message = f"{v.message}. Note: {g.note}"
    return v


def judge_step(step: str, goldens: list[Golden], record: object, ctx: Context) -> list[Verdict]:
    fmt = getattr(record, "format", None)
    return [judge_value(g, record, ctx, fmt) for g in goldens]


def verify(run_dir: Path, goldens: Goldens, steps: list[str] | None = None) -> list[Verdict]:
    """Judge every selected step of a run directory. Bad input becomes ERROR verdicts, never an exception."""
    from checks.steps import module

    run_dir = Path(run_dir)
    verdicts: list[Verdict] = []
    if not run_dir.is_dir():
        return [Verdict("run", "run_dir", ERROR, expected="a run directory", measured=str(run_dir),
                        message=f"no such directory: {run_dir}; run `make reproduce` or pass an existing runs/<id>")]
    manifest = None
    try:
        manifest = rundir.read_json(run_dir / rundir.MANIFEST)
    except CheckError as e:
        verdicts.append(Verdict("run", "manifest", ERROR, expected="manifest.json written by the runner",
                                message=e.render()))
    ctx = context_from_manifest(manifest)
    for step in steps or list(goldens.steps):
        gs = goldens.steps.get(step)
        if not gs:
            verdicts.append(Verdict(step, "goldens", ERROR, message=f"no `{step}:` section in {goldens.file}; "
                                    "add goldens for it or leave the step out (--step)"))
            continue
        sdir = rundir.step_dir(run_dir, step)
        if not sdir.is_dir():
            verdicts.append(Verdict(step, "output", ERROR, expected=f"{sdir}/",
                                    message=f"step directory missing; run `make {step}` (or RUN=... for another run)"))
            continue
        verdicts.extend(_exit_status(step, sdir))
        try:
            record = module(step).load(sdir)
        except FormatNotRecognised as e:
            verdicts.append(Verdict(step, "log_format", ERROR, expected="a log format the parser knows",
                                    measured="not recognised", message=e.render()))
            continue
        except CheckError as e:
            verdicts.append(Verdict(step, "parse", ERROR, message=e.render()))
            continue
        verdicts.extend(judge_step(step, gs, record, ctx))
    if not any(v.status in (PASS, FAIL) for v in verdicts) and not any(v.status == ERROR for v in verdicts):
        verdicts.append(Verdict("run", "coverage", ERROR, message="nothing was checked: every check was skipped"))
    return verdicts


def _exit_status(step: str, sdir: Path) -> list[Verdict]:
    """The runner's step.json says how the step ended; without it the step never finished under a runner."""
    out = []
    for meta_path in rundir.meta_files(step, sdir):
        vid = "exit_code" if meta_path.parent == sdir else f"{meta_path.parent.name}_exit_code"
        v = Verdict(step, vid, ERROR, expected=0, tolerance="exact", source="runner (step.json)")
        try:
            meta = rundir.read_json(meta_path)
        except CheckError as e:
            v.message = e.render().replace("log file missing", "step.json missing") + \
                "\n  (the runner writes step.json when the step ends; without it the step did not finish)"
            out.append(v)
            continue
        v.measured = meta.get("exit_code") if isinstance(meta, dict) else None
        if v.measured == 0:
            v.status = PASS
        elif isinstance(v.measured, int):
            v.status, v.message = FAIL, f"the step exited with {v.measured}; see {meta_path.parent / rundir.LOG}"
        else:
            v.message = f"{meta_path} has no integer exit_code"
        out.append(v)
    return out


def exit_code(verdicts: list[Verdict]) -> int:
    statuses = {v.status for v in verdicts}
    return 2 if ERROR in statuses else 1 if FAIL in statuses else 0
