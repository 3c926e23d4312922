"""Judging one step: each golden against a record (verify: against the golden's value; diff: against the baseline's
value, with the same tolerance), the mean of other checks, and the runner's exit codes. Pure: it reads nothing and
prints nothing; checks.engine calls it for every step of a run."""

from __future__ import annotations

import math

from checks.errors import FormatNotRecognised
from checks.findings import CHANGED, ERROR, FAIL, PASS, SAME, SKIP, XFAIL, XPASS, Finding, Status
from checks.goldens import Golden, Tolerance
from checks.run import Context, StepData
from checks.values import (Missing, bounds, compare, describe, gpu_key, is_number, locate, measure)

__all__ = ["judge_value", "judge_mean", "diff_value", "each_golden", "exit_codes", "parse_error"]


def _gate(g: Golden, ctx: Context, record_format: str | None) -> str | None:
    """Why a golden does not apply to this run (a SKIP note), or None: its log formats and its `requires`."""
    if g.formats and record_format is not None and record_format not in g.formats:
        return f"not printed by log format {record_format} (checked for {', '.join(g.formats)})"
    want = g.requires.get("world_size")
    if "world_size" in g.requires and ctx.world_size.get(g.step) != want:
        have = ctx.world_size.get(g.step)
        return f"golden is for world_size {want}; this run: {have if have is not None else 'unknown'}"
    if "addition" in g.requires and g.requires["addition"] not in ctx.deviations.get(g.step, set()):
        return (f"needs the kit's opt-in addition `{g.requires['addition']}`, which this run did not include "
                "(see README, Errata)")
    return None


def expected_value(g: Golden, gpu_model: str | None) -> tuple[object, str | None]:
    """(the value this run is held to, None) or (None, why there is none: a SKIP note). by_gpu picks this GPU's."""
    if g.by_gpu is None:
        return g.expect, None
    if gpu_model is None:
        return None, "GPU model unknown (no gpu.model in manifest.json); absolute figure not judged"
    key = gpu_key(gpu_model, list(g.by_gpu))
    if key is None:
        return None, (f"no golden for GPU {gpu_model!r} (goldens exist for {', '.join(g.by_gpu)}); "
                      "ratios still judged")
    return g.by_gpu[key], None


def _missing(g: Golden, record: object, miss: Missing, v: Finding) -> Finding:
    """A value the record lacks: SKIP for an optional check of a variant that did not run, else ERROR saying why."""
    errors = (record.get("errors") if isinstance(record, dict) else getattr(record, "errors", None)) or {}
    # An optional run that is present but unreadable is an error, not an absence.
    broken = any(f"{p}.".startswith(f"{k}.") for p in (g.ratio or (g.path,)) for k in errors)
    if g.optional and miss.depth <= 1 and not broken:
        v.status, v.note = SKIP, f"{miss.segment!r} not in this run (optional)"
        return v
    why = "; ".join(f"{k}: {e}" for k, e in errors.items())
    v.status = ERROR
    v.note = f"value not found: {g.ratio or g.path} (stopped at {miss.segment!r})" + (f" — {why}" if why else "")
    return v


def _measured(g: Golden, record: object, v: Finding) -> Finding | None:
    """Fill v.measured; a finished finding (SKIP or ERROR) when the value cannot be had, else None."""
    try:
        v.measured = measure(g, record)
    except TypeError as e:
        v.status, v.note = ERROR, str(e)
        return v
    except Missing as miss:
        return _missing(g, record, miss, v)
    return None


def _verdict(g: Golden, v: Finding) -> Finding:
    """PASS/FAIL against the golden's tolerance, then its xfail mark or the hint to bless."""
    v.status, v.note = compare(v.measured, v.expected, g.tol)
    if g.xfail and v.status in (PASS, FAIL):
        v.status = XFAIL if v.status == FAIL else XPASS
        v.note = (f"known discrepancy: {g.xfail}" if v.status == XFAIL else
                  f"marked xfail ({g.xfail}) but passed: the discrepancy is gone; remove the mark if that is intended")
    elif v.status == FAIL:
        v.note = f"{v.note}. Note: {g.note}" if g.note else f"{v.note}; if the change is intended: checks bless"
    return v


def judge_value(g: Golden, record: object, ctx: Context, record_format: str | None = None) -> Finding:
    """One golden against one record. A check that does not apply to this GPU is SKIP, with the measured value shown."""
    v = Finding(g.step, g.id, ERROR, source=g.source)
    skip = _gate(g, ctx, record_format)
    if skip:
        v.status, v.note = SKIP, skip
        return v
    expected, why = expected_value(g, ctx.gpu_model)
    if why:
        v.where = locate(record, g.ratio or g.path)
        try:
            v.measured = measure(g, record)  # shown (and what bless files under this GPU), not judged
        except (Missing, TypeError):
            pass
        v.status, v.note = SKIP, why
        return v
    v.expected, v.tolerance = expected, describe(g.tol, expected)
    v.low, v.high = bounds(g.tol, expected)
    v.where = locate(record, g.ratio or g.path)
    return _measured(g, record, v) or _verdict(g, v)


def diff_value(g: Golden, base: object, cand: object, same_gpu: bool, override: Tolerance | None = None) -> Finding:
    """One golden's value in two runs, the baseline's value as the reference, with the golden's tolerance; a limit
    (at_most/at_least) is compared exactly unless the goldens' `diff:` section gives that check a tolerance."""
    c = Finding(g.step, g.id, ERROR, tolerance=describe(g.tol, None), source=g.source)
    if g.by_gpu is not None and not same_gpu:
        c.status, c.note = SKIP, "the runs used different GPU models; absolute figures are not comparable"
        return c
    found = {}
    for side, record in (("expected", base), ("measured", cand)):
        side_finding = Finding(g.step, g.id, ERROR)
        found[side] = None if _measured(g, record, side_finding) else side_finding.measured
    c.expected, c.measured = found["expected"], found["measured"]
    c.where = locate(cand, g.ratio or g.path)
    if c.expected is None and c.measured is None:
        c.status, c.note = (SKIP, "in neither run (optional)") if g.optional else (ERROR, "in neither run")
        why = _why_missing(g, cand)
        c.note += f"; in the candidate: {why}" if why and not g.optional else ""
        return c
    if c.expected is None or c.measured is None:
        c.status, c.note = CHANGED, "only in the " + ("candidate" if c.expected is None else "baseline")
        return c
    tol = override or (g.tol if g.tol.kind not in ("at_most", "at_least") else Tolerance("exact"))
    status, msg = compare(c.measured, c.expected, tol)
    c.tolerance, (c.low, c.high) = describe(tol, c.expected), bounds(tol, c.expected)
    c.status = {PASS: SAME, FAIL: CHANGED}.get(status, ERROR)
    c.note = msg if c.status != SAME else ""
    return c


def _why_missing(g: Golden, record: object) -> str:
    """What the loader said of the part of the record a golden's path goes through (e.g. a missing checkpoint)."""
    errors = getattr(record, "errors", None) or {}
    hits = [f"{k}: {e}" for k, e in errors.items() if any(f"{p}.".startswith(f"{k}.") for p in (g.ratio or (g.path,)))]
    return "; ".join(hits)


def judge_mean(g: Golden, found: dict[str, Finding], *, against_golden: bool = True) -> Finding:
    """The mean of other checks (e.g. the tutorial's Average column), over the parts that ran, in verify (the parts
    against their goldens: `against_golden`) and in diff (against the baseline's values) alike. In verify, with
    every part, the golden's own value; otherwise the mean of the parts' references, saying which are left out. Its
    half-width is sqrt(sum of the parts' half-widths squared) / k: the parts' errors are independent."""
    v = Finding(g.step, g.id, ERROR, source=g.source, tolerance="from its parts")
    parts = [found[i] for i in g.mean_of]
    broken = [p.id for p in parts if p.status == ERROR]
    if broken:
        v.note = "a part could not be judged: " + ", ".join(broken)
        return v
    ran = [p for p in parts if _ran(p)]
    if not ran:
        v.status, v.note = SKIP, "none of its parts ran"
        return v
    left_out = [p.id for p in parts if p not in ran]
    whole = g.expect if against_golden and not left_out else None
    _mean(v, ran, whole, (PASS, FAIL) if against_golden else (SAME, CHANGED))
    if left_out:
        ref = "the goldens' values" if against_golden else "the baseline's values"
        v.note = "; ".join([v.note] * bool(v.note) + [f"over the {len(ran)} of {len(parts)} benchmarks that ran (left out: "
                                                      f"{', '.join(left_out)}); expected recomputed from {ref} for those"])
    return v


def _ran(p: Finding) -> bool:
    return p.status != SKIP and is_number(p.measured) and is_number(p.expected)


def _mean(v: Finding, ran: list[Finding], whole: object, verdicts: tuple[Status, Status]) -> None:
    """Fill a mean's finding from the parts that ran; `whole`: its reference when every part ran (else theirs)."""
    v.expected = whole if whole is not None else sum(float(p.expected) for p in ran) / len(ran)
    v.measured = sum(float(p.measured) for p in ran) / len(ran)
    half = math.sqrt(sum(_half(p) ** 2 for p in ran)) / len(ran)
    v.low, v.high = float(v.expected) - half, float(v.expected) + half
    v.tolerance, v.where = f"±{half:.2f} (from {len(ran)} parts)", ran[-1].where
    ok = v.low <= v.measured <= v.high
    v.status = verdicts[0] if ok else verdicts[1]
    v.note = "" if ok else f"off by {v.measured - float(v.expected):+.3g} (allowed ±{half:.3g})"


def _half(p: Finding) -> float:
    return (p.high - p.low) / 2 if p.low is not None and p.high is not None else 0.0


def each_golden(gs: list[Golden], one, *, against_golden: bool = True) -> list[Finding]:
    """Every golden's finding, in the goldens' order: `one(g)` for a plain check, then each mean from its parts'."""
    found = {g.id: one(g) for g in gs if not g.mean_of}
    return [found[g.id] if not g.mean_of else judge_mean(g, found, against_golden=against_golden) for g in gs]


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
            elif is_number(code) and isinstance(code, int):
                f.status, f.note = FAIL, f"the step exited with {code}; see {meta.rel.rsplit('/', 1)[0]}/step.log"
            else:
                f.note = f"{meta.rel} has no integer exit_code"
        out.append(f)
    return out


def parse_error(step: str, data: StepData) -> Finding:
    """The step's output could not be parsed at all: a log in no known format is its own ERROR (log_format)."""
    fmt = isinstance(data.error, FormatNotRecognised)
    return Finding(step, "log_format" if fmt else "parse", ERROR, expected="a log format the parser knows" if fmt else None,
                   measured="not recognised" if fmt else None, note=data.error.render(), where=data.error.where or "")
