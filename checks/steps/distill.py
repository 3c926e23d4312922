"""distill: knowledge distillation with Megatron-Bridge (ModelOpt's examples/megatron_bridge/distill.py), judged
from its training log (parsed by checks.steps.distill_log, derived values in checks.steps.distill_stats).

A distillation whose log begins with a resume is one run with the attempts it resumed from: they are read as one
log, earliest first, back to the attempt that started from scratch. Its rules: one clean run per log, the settings
distill.py echoed against the recorded command, every iteration line against those settings. `checks watch`
follows it live (growing counts, the loss trend, NaN, the projected end); `checks diff` compares its loss curves."""

from __future__ import annotations

import math

from checks import plots, rulekit, rundir
from checks.findings import CHANGED, ERROR, FAIL, PASS, SAME, Finding
from checks.goldens import Tolerance
from checks.stepdef import ConfigSource, Live, PathUse, Rule, Step
from checks.steps.distill_log import BLOCKS, FORMATS, NEEDLES, DistillRecord, parse
# The parser's names, found here as before (checks.steps.distill is the step; its log is read by distill_log).
from checks.steps.distill_log import Iteration, Segment, parse_log
from checks.steps.distill_stats import expected_lr

__all__ = ["STEP", "DistillRecord", "Iteration", "Segment", "parse", "parse_log", "expected_lr", "NEEDLES", "BLOCKS",
           "FORMATS", "load", "nan_reason", "loss_curves"]
SCAN = (NEEDLES, BLOCKS)
SETTINGS_SOURCE = "runner (step.json command) vs distill.py's arguments block"
LOSS_TOL = Tolerance("rel", 0.05)  # loss curves in `checks diff`; goldens `diff: {loss_curve: {rel: x}}` overrides
# The record's counts that mean a loss went NaN (training_log leaves a NaN loss out of its line), for stop_on_nan.
NAN_SIGNS = {"nan_iterations": "number of nan iterations", "nonfinite_losses": "a non-finite loss",
             "dropped_loss_values": "a loss missing from the line"}


def load(run, sdir) -> DistillRecord:
    """distill/step.log; a log that begins with a resume is read with the attempts it resumed from."""
    log = sdir / rundir.LOG
    rec = parse(run.lines(log, SCAN), run.rel(log))
    if not (rec.segments and rec.segments[0].resumed_from is not None):
        return rec
    chain = [log]
    for attempt in run.attempts(sdir):
        alog = attempt / rundir.LOG
        if not alog.is_file():
            continue
        chain.insert(0, alog)
        first = parse(run.lines(alog, SCAN), run.rel(alog))
        if not (first.segments and first.segments[0].resumed_from is not None):
            break
    if len(chain) == 1:
        rec.errors["resume"] = (f"{run.rel(log)} resumes from iteration {rec.segments[0].resumed_from}, but no "
                                f"earlier attempt's log is under {run.rel(sdir / rundir.ATTEMPTS)}")
        return rec
    return parse((ln for p in chain for ln in run.lines(p, SCAN)), run.rel(chain[-1]))


# ---------------------------------------------------------------- rules


def one_run(run, data) -> list[Finding]:
    rec = data.record
    p = [f"a second run started from scratch at {w}" for w in rec.restarts_from_scratch]
    p += [f"failed after the completion line: {rec.trouble_after_completion}"] if rec.trouble_after_completion else []
    p += [f"arguments changed: {c}" for c in rec.args_changed]
    p += [rec.errors["resume"]] if "resume" in rec.errors else []
    where = (rec.restarts_from_scratch or [rec.trouble_after_completion or ""])[0] or ""
    return [rulekit.one_run("distill", "one_run", p, where)]


def settings(run, data) -> list[Finding]:
    """distill.py's arguments block against the recorded command: every flag echoed, each with its value."""
    rec, command = data.record, rulekit.recorded_command(data, "distill")
    f = Finding("distill", "settings_echoed_match_command", ERROR, source=SETTINGS_SOURCE, tolerance="exact")
    if command is None:
        f.note = "step.json records no command to compare the log with"
        return [f]
    if not rec.args:
        f.note = "the log has no arguments block (distill.py prints it on rank 0 before training)"
        return [f]
    return [rulekit.echoed_settings("distill", rec.args, command, source=SETTINGS_SOURCE, all_echoed=True,
                                    where=rec.where.get("args", ""))]


def iterations_match_arguments(run, data) -> list[Finding]:
    """Every iteration line repeats the global batch size and train_iters: they must be the echoed arguments'."""
    rec = data.record
    if rulekit.recorded_command(data, "distill") is None or not rec.args:
        return []  # the settings rule says why there is nothing to compare
    gbs, total = rec.args.get("gbs"), rec.args.get("train_iters")
    bad = next((i for i in rec.iterations if (isinstance(gbs, int) and i.global_batch_size not in (None, gbs))
                or (isinstance(total, int) and i.train_iters != total)), None)
    f = Finding("distill", "iterations_match_arguments", PASS, tolerance="exact", expected={"gbs": gbs, "train_iters": total},
                source="Megatron-Bridge prints the global batch size and N/train_iters on every iteration line")
    if bad is not None:
        f.status, f.where = FAIL, f"{bad.src}:{bad.line}"
        f.measured = {"gbs": bad.global_batch_size, "train_iters": bad.train_iters}
        f.note = f"iteration {bad.iteration} ran with global batch size {bad.global_batch_size} of {bad.train_iters} " \
                 f"iterations; the arguments say {gbs} of {total}: not the run the arguments describe"
    return [f]


# ---------------------------------------------------------------- watch and diff


def nan_reason(rec: DistillRecord) -> str | None:
    """Why the run holds a NaN now, from the record's counts: the earliest logged iteration at which Megatron counted
    a NaN iteration, logged a non-finite loss, or left out a loss it printed before."""
    order = {f"{i.src}:{i.line}": n for n, i in enumerate(rec.iterations)}
    first = {k: order[rec.where[k]] for k in NAN_SIGNS if getattr(rec, k) and rec.where.get(k) in order}
    if not first:
        return None
    i = rec.iterations[min(first.values())]
    why = [f"{label} {i.nan}" if k == "nan_iterations" else label for k, label in NAN_SIGNS.items()
           if first.get(k) == min(first.values())]
    return f"NaN at iteration {i.iteration}: {'; '.join(why)} ({i.src}:{i.line})"


def _deviation(common: list[int], b: dict, k: dict, name: str, tol: Tolerance) -> list[Finding]:
    pairs = [(b[i].get(name, math.nan), k[i].get(name, math.nan)) for i in common]
    devs = [abs(y - x) / max(abs(x), 1e-12) for x, y in pairs]
    worst = max(devs, key=lambda d: -1 if math.isnan(d) else d)
    out = []
    for what, dev, at in (("max", worst, common[devs.index(worst)]), ("final", devs[-1], common[-1])):
        ok = not math.isnan(dev) and dev <= tol.value
        out.append(Finding("distill", f"loss curve '{name}' ({what} deviation)", SAME if ok else CHANGED,
                           expected=None, measured=dev, high=tol.value, tolerance=f"±{tol.value * 100:g}%",
                           note=f"{dev * 100:.3g}% at iteration {at} over {len(common)} shared iterations"))
    return out


def loss_curves(base: DistillRecord, cand: DistillRecord, goldens) -> list[Finding]:
    """Per loss name: the largest and the final deviation over the iterations both runs logged."""
    tol = goldens.diff.get("loss_curve", LOSS_TOL)
    b = {i.iteration: i.losses for i in getattr(base, "iterations", [])}
    k = {i.iteration: i.losses for i in getattr(cand, "iterations", [])}
    common = sorted(set(b) & set(k))
    if not common:
        return [Finding("distill", "loss curve", CHANGED, len(b), len(k), note="no iteration logged by both runs")] \
            if b or k else []
    names = sorted(set().union(*(b[i] for i in common)) | set().union(*(k[i] for i in common)))
    return [f for name in names for f in _deviation(common, b, k, name, tol)]


STEP = Step(
    name="distill", order=20, doc="knowledge distillation (Megatron-Bridge, distill.py): its training log",
    record=DistillRecord, load=load, parse=parse, scan=SCAN, formats=FORMATS,
    completion=("completed", "last_iteration", "checkpoints"),
    rules=(Rule("one_run", one_run, rulekit.ONE_RUN, "no restart from scratch, no failure after the completion line, "
                "the same arguments throughout, a resume only from its own attempts", completeness=True),
           Rule("settings_echoed_match_command", settings, SETTINGS_SOURCE,
                "every flag of the recorded command in the arguments block, with its value", completeness=True, live=True),
           Rule("iterations_match_arguments", iterations_match_arguments, "Megatron-Bridge iteration lines",
                "every iteration line's global batch size and train_iters are the arguments'", live=True)),
    live=Live(growing=("nan_iterations", "skipped_iterations", "nonfinite_losses", "dropped_loss_values", "out_of_order",
                       "iterations_without_loss", "consumed_samples_mismatches", "lr_schedule_max_rel_error"),
              early=("tokens_per_iteration",), scan=True, iterations=True, nan_reason=nan_reason,
              time_golden="minutes_per_1k_iters"),
    diff=loss_curves,
    figure=plots.loss_figure,
    config=(ConfigSource("command", "the recorded command"), ConfigSource("argparse", "distill.py at MODELOPT_REF"),
            ConfigSource("echo", "the arguments block of the log")),
    paths=(PathUse("prune/hf", "reads"), PathUse("distill/output/checkpoints", "writes")),
)
