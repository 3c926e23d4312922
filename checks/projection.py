"""The projection of a step's end from its log's own clock, and the loss trend, for `checks watch` and `make plan`.

The clock is the log's: Megatron's "elapsed time per iteration (ms)", the mean over each logged interval (start-up
before the first iteration, and the time Megatron spends saving checkpoints and evaluating, are not in it; the wall
clock is). Each logged line after the first is one steady-state interval (the first includes start-up and
compilation). With k intervals of mean times x_i:
    rate            m = median(x_i)
    half-width      h = z * s / sqrt(k)     s = the intervals' standard deviation, z for `confidence` (1.96)
    step time       elapsed + R * m  ±  R * h      elapsed = sum of (x_i * iterations in interval i), R = iterations left
    GPU-hours       world size * step time / 3600  (world size from step.json, else the manifest)
h is the confidence interval of the mean time per iteration (the median is the robust point estimate of it: a stall
or a save spike does not move it), scaled to the iterations left: it narrows as 1/sqrt(k) and to 0 at the end. It
assumes intervals are independent; a slow node that stays slow is a shift of the rate, which the projection follows
as it is logged."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from checks.findings import FAIL, PASS, Finding
from checks.judge import expected_value
from checks.values import gpu_key, is_number
from checks.watchpolicy import Planned, Policy

CLOCK = "log: Megatron's 'elapsed time per iteration (ms)' (excludes start-up, checkpoint saves and evaluation)"


@dataclass
class Projection:
    iteration: int
    train_iters: int
    intervals: int  # steady-state intervals the rate comes from
    ms_per_iter: float | None  # median of the steady intervals
    ms_halfwidth: float | None  # z * s / sqrt(k); None with fewer than 2 intervals
    elapsed_s: float  # iterations logged so far, by the log's clock
    remaining_iters: int
    confidence: float

    @property
    def remaining_s(self) -> float | None:
        if self.remaining_iters == 0:
            return 0.0
        return None if self.ms_per_iter is None else self.remaining_iters * self.ms_per_iter / 1000

    @property
    def halfwidth_s(self) -> float | None:
        if self.remaining_iters == 0:
            return 0.0
        return None if self.ms_halfwidth is None else self.remaining_iters * self.ms_halfwidth / 1000

    @property
    def step_s(self) -> float | None:
        r = self.remaining_s
        return None if r is None else self.elapsed_s + r


def project(iterations: list, train_iters: int | None, confidence: float = 0.95) -> Projection | None:
    """The step's time from its logged iterations (see the module docstring for the method)."""
    seq = []
    for i in iterations:
        ms = i.ms_per_iter
        if ms is None or not math.isfinite(ms) or ms <= 0:
            continue
        if seq and i.iteration <= seq[-1].iteration:
            continue  # logged again after a resume: the first record of an iteration counts
        seq.append(i)
    if not seq or not train_iters:
        return None
    gaps = [b.iteration - a.iteration for a, b in zip(seq, seq[1:])]
    first_n = min(seq[0].iteration, min(gaps)) if gaps else seq[0].iteration
    elapsed = seq[0].ms_per_iter * first_n / 1000 + sum(b.ms_per_iter * g / 1000 for b, g in zip(seq[1:], gaps))
    steady = [b.ms_per_iter for b in seq[1:]]
    median = statistics.median(steady) if steady else None
    half = None
    if len(steady) >= 2:
        z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
        half = z * statistics.stdev(steady) / math.sqrt(len(steady))
    return Projection(seq[-1].iteration, train_iters, len(steady), median, half, elapsed,
                      max(0, train_iters - seq[-1].iteration), confidence)


@dataclass
class Expected:
    step_s: float | None
    ms_per_iter: float | None
    source: str


def _golden_time(step: str, field: str, train_iters: int, goldens, gpu_model: str | None,
                 world_size: int | None) -> Expected | None:
    """The time per 1,000 iterations a golden of the step gives (`field`, e.g. minutes_per_1k_iters), for this GPU
    and world size; None when no golden applies."""
    for g in goldens.steps.get(step, []):
        want = g.requires.get("world_size")
        if g.path != field or (want is not None and want != world_size):
            continue
        value, why = expected_value(g, gpu_model)
        if why or not is_number(value):
            continue
        on = f" on {gpu_key(gpu_model, list(g.by_gpu))}" if g.by_gpu is not None else ""
        ms = float(value) * 60  # minutes per 1,000 iterations -> ms per iteration
        return Expected(ms * train_iters / 1000, ms, f"golden {step}.{field}: {value:g} min per 1k iterations{on}"
                        + (f" at world size {want}" if want else "") + f" ({g.source})")
    return None


def expected_time(step: str, time_golden: str | None, train_iters: int | None, goldens, gpu_model: str | None,
                  world_size: int | None, planned: Planned | None) -> Expected:
    """The step time expected at this world size: the step's golden time per 1,000 iterations when one applies
    (its GPU model and world size: 45 min per 1,000 iterations on H100 at 768 GPUs, the tutorial's), else the
    profile's `hours` for the unit, scaled by profile world size / actual world size (linear scaling: GPU-hours kept)."""
    if time_golden and goldens is not None and train_iters:
        got = _golden_time(step, time_golden, train_iters, goldens, gpu_model, world_size)
        if got is not None:
            return got
    if planned is not None and planned.hours > 0:
        step_s = planned.hours * 3600
        src = f"profile: {planned.hours:g} h on {planned.world_size} GPUs ({planned.source})"
        if world_size and planned.world_size and world_size != planned.world_size:
            step_s *= planned.world_size / world_size
            src += f", scaled to {world_size} GPUs assuming linear scaling"
        return Expected(step_s, step_s * 1000 / train_iters if train_iters else None, src)
    return Expected(None, None, "no golden minutes_per_1k_iters for this GPU and world size, and no hours in the profile")


# ---------------------------------------------------------------- decided checks


def loss_trend(step: str, rec, policy: Policy, source: str) -> tuple[dict | None, Finding | None]:
    """(what the status shows, the decided check) for the record's main loss over the policy's window. The record's
    own `loss_reduction` (first against last tenth of the run, the golden `loss_falls` at the end) cannot see a
    loss that turns up late in a long run; window against window can, while it runs."""
    name = rec.main_loss
    if name is None:
        return None, None
    vals = [(i.iteration, i.losses[name], i.line) for i in rec.iterations
            if name in i.losses and math.isfinite(i.losses[name])]
    info: dict = {"name": name, "last": vals[-1][1] if vals else None, "trend": None, "change_pct": None,
                  "window": policy.loss_window}
    w = policy.loss_window
    if not w or len(vals) < 2 * w:
        return info, None
    prev = statistics.fmean(v for _, v, _ in vals[-2 * w:-w])
    last = statistics.fmean(v for _, v, _ in vals[-w:])
    change = (last / prev - 1) * 100 if prev > 0 else math.inf
    info["change_pct"] = round(change, 3)
    info["trend"] = "falling" if change < -1 else "rising" if change > 1 else "flat"
    f = Finding(step, "loss_trend", PASS if change <= policy.max_loss_rise_pct else FAIL,
                expected=round(prev, 6), measured=round(last, 6), high=round(prev * (1 + policy.max_loss_rise_pct / 100), 6),
                tolerance=f"≤ +{policy.max_loss_rise_pct:g}% window to window", where=f"{source}:{vals[-1][2]}",
                source=f"policy ({policy.where}): mean {name} over the last {w} logged values vs the {w} before",
                note=f"{info['trend']} ({change:+.1f}% from iteration {vals[-2 * w][0]}-{vals[-w - 1][0]} "
                     f"to {vals[-w][0]}-{vals[-1][0]})")
    return info, f
