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
import re

from checks import engine, registry
from checks.commands import command_flags
from checks.findings import CHANGED, DIFFERS, ERROR, PASS, FAIL, SAME, Finding
from checks.goldens import Golden, Goldens, Tolerance
from checks.run import Run
from checks.values import bounds, compare, describe, equal, locate, plain


def diff_runs(baseline: Run, candidate: Run, goldens: Goldens, steps: list[str] | None = None) -> list[Finding]:
    """The run-wide context (GPU model, manifests), then per step: how each side ran it, what the engine judges
    (checks.engine.evaluate with the baseline), and every other parsed field."""
    changes = [_gpu(baseline, candidate)] + manifests(baseline, candidate)
    for step in steps or list(goldens.steps):
        changes += step_settings(step, baseline, candidate)
        changes += engine.evaluate(goldens, candidate, baseline=baseline, steps=[step])
        base, cand = baseline.step(step), candidate.step(step)
        if base.record is not None and cand.record is not None and base.error is None and cand.error is None:
            changes += other_fields(step, base.record, cand.record, goldens.steps.get(step, []), goldens.diff,
                                    (baseline, candidate))
    return changes


def _gpu(baseline: Run, candidate: Run) -> Finding:
    cb, cc = baseline.context.gpu_model, candidate.context.gpu_model
    if cb is not None and cb == cc:
        return Finding("run", "GPU model", SAME, cb, cc, tolerance="exact", where="manifest.json")
    return Finding("run", "GPU model", CHANGED if cb != cc else ERROR, cb, cc,
                   note="absolute throughput is compared only on the same GPU")


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
LAUNCHERS = ("vllm", "nemo-evaluator-launcher")  # a command's script when it is no `*.py`
_ABSENT = object()


def _context(step: str, fid: str, b: object, c: object, where: str = "") -> Finding:
    """A value that explains the numbers (a version, a flag, a parsed field no golden names): SAME or DIFFERS."""
    b, c = (None if x is _ABSENT else x for x in (b, c))
    same = equal(b, c)
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
        return {prefix.rstrip("."): plain(x)}
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
            out[path] = _strip(plain(v))
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
    steps = "|".join(map(re.escape, registry.names()))
    return re.compile(rf"[^\s'\"=]*/(?:{alt})(?=/(?:{steps})\b|/?$|\s)") if alt else None


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
            out.append(_judged(step, path, b, c, tol, locate(cand, path)))
            continue
        f = _context(step, path, b, c, locate(cand, path))
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
    f = Finding(step, path, CHANGED, b, c, tolerance=describe(tol, b), where=where, source="goldens `diff:`")
    if b is None or c is None:
        f.note = "only in the " + ("candidate" if b is None else "baseline")
        return f
    status, msg = compare(c, b, tol)
    f.low, f.high = bounds(tol, b)
    f.status, f.note = {PASS: SAME, FAIL: CHANGED}.get(status, ERROR), msg
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


def _unit_settings(unit: str, info: dict, label: str, pat: re.Pattern | None) -> dict[str, object]:
    """One unit's script, flags (run paths as `<run>`) and deviations, keyed for the diff."""
    flat: dict[str, object] = {}
    cmd = info.get("command") if isinstance(info.get("command"), str) else ""
    if cmd:
        cmd = str(_normal(cmd, pat))
        flat[f"{label}command script"] = next((w for w in cmd.split() if w.endswith(".py") or w in LAUNCHERS), None)
        flat.update({f"{label}command {k}": v for k, v in command_flags(cmd).items()})
    devs = [d.get("id") for d in info.get("deviations") or [] if isinstance(d, dict)]
    flat[f"{label}deviations"] = sorted(str(d) for d in devs if d)
    return flat


def _side(step: str, run: Run) -> tuple[dict[str, object], bool]:
    """(every unit's settings of the step in one run's manifest, whether it has any unit of the step)."""
    steps = (run.manifest or {}).get("steps")
    units = {u: i for u, i in (steps.items() if isinstance(steps, dict) else ())
             if str(u).split("/", 1)[0] == step and isinstance(i, dict)}
    pat = _run_pattern(run)
    flat: dict[str, object] = {}
    for unit, info in sorted(units.items()):
        flat.update(_unit_settings(unit, info, "" if unit == step else unit.split("/", 1)[1] + " ", pat))
    return flat, bool(units)


def step_settings(step: str, baseline: Run, candidate: Run) -> list[Finding]:
    """How each side ran the step: the script, every flag of its command (run paths as `<run>`) and the
    errata or additions applied (step.json deviations)."""
    (fb, hb), (fc, hc) = _side(step, baseline), _side(step, candidate)
    if not (hb or hc):
        return []
    out, same = [], []
    for key in list(fb) + [k for k in fc if k not in fb]:
        f = _context(step, key, fb.get(key, _ABSENT), fc.get(key, _ABSENT), "manifest.json")
        (same if f.status == SAME and " --" in f" {key}" else out).append(f)
    return out + _equal_ones(step, "command, other flags", same)
