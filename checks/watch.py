"""`checks watch`: judge a step while it runs, project its end, and say when the profile's policy would stop it.

The watched log is the runner's `RUN_DIR/<unit>/step.log` (the tee of the step's output on every runner; for
Slurm, the runner's copy of the job's output). `Follower` reads it from where it stopped (byte offsets, only
complete lines, picked by `logread.Scanner` as `checks verify` picks them), so one update costs what the log grew by, and memory holds only the lines the parser reads. The step's own pure parser
(`checks.steps.distill`, `checks.steps.bench`) turns those lines into the record `checks verify` judges.

Decided now, while the step runs (each a `checks.findings.Finding`, judged by the code `checks verify` uses):
- values of the record that can only grow, against their goldens with `checks.judge.judge_value` (NaN / skipped
  iterations, non-finite losses, a loss missing from a line, iterations out of order, the learning rate's
  largest deviation from its schedule, `lr_schedule_max_rel_error`): a FAIL is final, a PASS means "so far";
- settings the log echoes: distill.py's arguments block against the command the runner recorded (step.json
  `command`, `checks.rules`), `train_iters` against the golden `last_iteration`, `tokens_per_iteration`;
- the loss trend: the mean of the last `loss_window` logged values of the record's main loss against the window
  before (falling / flat / rising); more than `max_loss_rise_pct` above is a FAIL (a diverging run);
- bench: the weights' memory at load ("Model loading took X GiB") as soon as vLLM prints it;
- the projection (below) against the expected step time, once `after_iterations` are logged.
When the log says the step finished (or step.json says it ended), every golden of the step is judged as
`checks verify` would.

Projection, and its uncertainty. The clock is the log's own: Megatron's "elapsed time per iteration (ms)",
the mean over each logged interval (start-up before the first iteration, and the time Megatron spends saving
checkpoints and evaluating, are not in it; the wall clock is). Each logged line after the first is one
steady-state interval (the first includes start-up and compilation). With k intervals of mean times x_i:
    rate            m = median(x_i)
    half-width      h = z * s / sqrt(k)     s = the intervals' standard deviation, z for `confidence` (1.96)
    step time       elapsed + R * m  ±  R * h      elapsed = sum of (x_i * iterations in interval i), R = iterations left
    GPU-hours       world size * step time / 3600  (world size from step.json, else the manifest)
h is the confidence interval of the mean time per iteration (the median is the robust point estimate of it:
a stall or a save spike does not move it), scaled to the iterations left: it narrows as 1/sqrt(k) and to 0 at
the end. It assumes intervals are independent; a slow node that stays slow is a shift of the rate, which
the projection follows as it is logged. The run's GPU-hours add the other steps: measured (step.json seconds x
world size) where finished, else the profile's estimate.

Expected step time: the golden `distill.minutes_per_1k_iters` when it applies (its GPU model and world size:
45 min per 1,000 iterations on H100 at 768 GPUs, the tutorial's), else the profile's `hours` for the unit,
scaled by profile world size / actual world size (linear scaling: GPU-hours kept).

Policy (`watch:` in recipes/profiles/<name>.yaml, validated by `policy_from`): when to stop. `stop` is set on
the first NaN (`stop_on_nan`), on a FAIL (`stop_on_failed_check`), or when even the lower end of the projected
step time's interval is more than `max_projected_overrun_pct` over the expected, after `after_iterations`
(an iteration count, or a fraction of train_iters). `checks watch` only reports the stop (exit 1); `make
<step> WATCH=1` ends the step (kitlib.hooks.Watch)."""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from checks import render, rules, rundir, yamlio
from checks.errors import CheckError, FormatNotRecognised
from checks.findings import ERROR, FAIL, FAILING, PASS, SKIP, Finding, summary
from checks.judge import _num, gpu_key, judge_value
from checks.logread import CHUNK, Line, Scanner
from checks.run import Meta, Run, StepData
from checks.steps import bench, distill

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "recipes" / "profiles"
LIVE_STEPS = ("distill", "bench")
CLOCK = "log: Megatron's 'elapsed time per iteration (ms)' (excludes start-up, checkpoint saves and evaluation)"
# Goldens on values that can only grow during a run: a FAIL is final the moment it is seen.
GROWING = ("nan_iterations", "skipped_iterations", "nonfinite_losses", "dropped_loss_values", "out_of_order",
           "iterations_without_loss", "consumed_samples_mismatches", "lr_schedule_max_rel_error")
# The record's counts that mean a loss went NaN (training_log leaves a NaN loss out of its line), for stop_on_nan.
NAN_SIGNS = {"nan_iterations": "number of nan iterations", "nonfinite_losses": "a non-finite loss",
             "dropped_loss_values": "a loss missing from the line"}


# ---------------------------------------------------------------- policy

POLICY_KEYS = ("every_s", "after_iterations", "max_projected_overrun_pct", "stop_on_nan", "stop_on_failed_check",
               "loss_window", "max_loss_rise_pct", "confidence")


@dataclass(frozen=True)
class Policy:
    every_s: float = 30.0  # how often the runner's watcher re-reads the log
    after_iterations: float = 0.05  # an iteration count (int), or a fraction (0 < x < 1) of train_iters
    max_projected_overrun_pct: float | None = None  # None: project, never stop on time
    stop_on_nan: bool = True
    stop_on_failed_check: bool = True
    loss_window: int = 0  # logged values per window; 0: no trend check
    max_loss_rise_pct: float = 50.0
    confidence: float = 0.95
    where: str = "built-in defaults"

    def gate(self, train_iters: int | None) -> int:
        """The iteration from which the projection may decide."""
        a = self.after_iterations
        if isinstance(a, float) and 0 < a < 1:
            return math.ceil(a * train_iters) if train_iters else 0
        return int(a)

    def describe(self) -> str:
        parts = [f"after {self.after_iterations:g} iterations" if not (isinstance(self.after_iterations, float)
                                                                        and self.after_iterations < 1)
                 else f"after {self.after_iterations:.0%} of the iterations"]
        if self.max_projected_overrun_pct is not None:
            parts.append(f"stop when projected > +{self.max_projected_overrun_pct:g} %")
        if self.stop_on_nan:
            parts.append("stop on NaN")
        if self.stop_on_failed_check:
            parts.append("stop on a failed check")
        return f"{', '.join(parts)} ({self.where})"


def policy_from(node: object, where: str, what: str = "the `watch:` policy") -> Policy:
    """A policy mapping (the profile's `watch:`), validated: unknown keys, wrong types and values out of range
    are CheckErrors naming file:line."""
    m = yamlio.mapping(node, what, where, allowed=POLICY_KEYS)
    out: dict = {}

    def bad(key: str, expected: str) -> CheckError:
        return CheckError(f"`{key}` in {what} is out of range", where=m.where(key), found=repr(m[key]), expected=expected)

    for key in ("every_s", "max_loss_rise_pct", "confidence", "max_projected_overrun_pct"):
        if key not in m:
            continue
        if key == "max_projected_overrun_pct" and m[key] is None:
            out[key] = None  # written as `null`: never stop on time
            continue
        v = float(yamlio.typed(m, key, (int, float), what))
        if key == "every_s" and v <= 0:
            raise bad(key, "seconds > 0")
        if key in ("max_loss_rise_pct", "max_projected_overrun_pct") and v < 0:
            raise bad(key, "a percentage >= 0")
        if key == "confidence" and not 0.5 <= v < 1:
            raise bad(key, "a probability in [0.5, 1), e.g. 0.95")
        out[key] = v
    if "after_iterations" in m:
        v = yamlio.typed(m, "after_iterations", (int, float), what)
        if isinstance(v, int) and v < 0 or isinstance(v, float) and not 0 < v < 1:
            raise bad("after_iterations", "an iteration count (e.g. 200) or a fraction of train_iters (e.g. 0.05)")
        out["after_iterations"] = v
    if "loss_window" in m:
        v = yamlio.typed(m, "loss_window", int, what)
        if v < 0 or v == 1:
            raise bad("loss_window", "logged values per window, >= 2 (or 0: no loss trend check)")
        out["loss_window"] = v
    for key in ("stop_on_nan", "stop_on_failed_check"):
        if key in m:
            out[key] = yamlio.typed(m, key, bool, what)
    return Policy(**out, where=m.where() if isinstance(m, yamlio.YMap) else where)


def read_profile(name: str | None) -> yamlio.YMap | None:
    """recipes/profiles/<name>.yaml as data (kitlib.profile validates the rest of it); None if there is none."""
    if not name or not re.fullmatch(r"[\w-]+", name) or not (PROFILES / f"{name}.yaml").is_file():
        return None
    doc = yamlio.load(PROFILES / f"{name}.yaml", "profile")
    return doc if isinstance(doc, yamlio.YMap) else None


def profile_policy(doc: yamlio.YMap | None) -> Policy:
    if doc is None or "watch" not in doc:
        return Policy()
    return policy_from(doc["watch"], doc.where("watch"), f"`watch:` of {doc.file}")


def load_policy(spec: str | None, run_profile: str | None) -> Policy:
    """--policy: a YAML file (a profile, a `{watch: ...}` document or the policy mapping itself) or a profile
    name; without it the run's own profile (manifest.json `profile`), else the built-in defaults."""
    if spec is None:
        return profile_policy(read_profile(run_profile))
    path = Path(spec)
    if path.is_file():
        doc = yamlio.load(path, "watch policy")
        if isinstance(doc, dict) and "steps" in doc and "schema" in doc:
            if "watch" not in doc:
                raise CheckError("the profile has no `watch:` section", where=str(path),
                                 hint="add one (see recipes/profiles/full.yaml) or pass another --policy")
            return profile_policy(doc)
        if isinstance(doc, dict) and set(doc) == {"watch"}:
            return policy_from(doc["watch"], doc.where("watch"), f"`watch:` of {path}")
        return policy_from(doc, str(path), f"the policy in {path}")
    doc = read_profile(spec)
    if doc is None:
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise CheckError(f"--policy {spec}: no such file or profile", expected=f"a YAML file, or one of {known}")
    return profile_policy(doc)


# ---------------------------------------------------------------- the profile's plan (hours, world size)


@dataclass
class Planned:
    """One unit of a profile as the plan estimates it (mirrors kitlib.profile.load's expansion)."""

    name: str
    hours: float
    world_size: int
    source: str
    group: str | None = None

    @property
    def gpu_hours(self) -> float:
        return self.hours * self.world_size  # a CPU-only step (0 GPUs) costs no GPU-hours


def planned_units(doc: yamlio.YMap | None) -> dict[str, Planned]:
    out: dict[str, Planned] = {}
    steps = doc.get("steps") if isinstance(doc, dict) else None
    for step, spec in (steps.items() if isinstance(steps, dict) else ()):
        if not isinstance(spec, dict):
            continue
        ws = _int(spec.get("nodes", 1)) * _int(spec.get("gpus_per_node", 0))
        for variant, vspec in (spec.get("variants") or {None: {}}).items():
            vspec = vspec if isinstance(vspec, dict) else {}
            name = f"{step}/{variant}" if variant else step
            hours = vspec.get("hours", spec.get("hours", 0))
            out[name] = Planned(name, float(hours) if _num(hours) else 0.0, ws,
                                str(vspec.get("hours_source", spec.get("hours_source", ""))), vspec.get("group"))
    return out


# ---------------------------------------------------------------- following a growing log


class NoLog(CheckError):
    """The step's log does not exist (yet)."""


class Follower:
    """A growing log read from where it stopped: only complete lines (a line being written is read when its
    newline arrives, or at the end with `final=True`), numbered, cleaned, and kept only where they hold one of
    `needles` or lie in a block (by `logread.Scanner`, as `logread.scan`); `needles=None` keeps every line. A log that
    shrank or was replaced (the runner moves a failed attempt's log away) is read again from its start."""

    def __init__(self, path: Path, needles: tuple[str, ...] | None = None, blocks: tuple[tuple[str, str], ...] = (),
                 max_block: int = 2000) -> None:
        self.path = Path(path)
        self.needles, self.blocks, self.max_block = needles, tuple(blocks), max_block
        self._reset(None)

    def _reset(self, ino: int | None) -> None:
        self.ino, self.pos, self.carry = ino, 0, b""
        self.lines: list[Line] = []
        self.scanner = Scanner(self.needles, self.blocks, self.max_block)  # line numbers and open block

    def poll(self, final: bool = False) -> int:
        """Read what the log grew by; returns how many lines were kept. NoLog if there is no such file."""
        try:
            st = os.stat(self.path)
            f = open(self.path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NoLog("no log yet", where=str(self.path), expected="the step's output, teed there by the runner",
                        hint="the step has not started: start it (make <step>), or wait") from None
        except (IsADirectoryError, PermissionError) as e:
            raise CheckError("the step's log cannot be read", where=str(self.path), found=type(e).__name__) from None
        before = len(self.lines)
        with f:
            if st.st_ino != self.ino or st.st_size < self.pos:
                self._reset(st.st_ino)
                before = 0
            f.seek(self.pos)
            while chunk := f.read(CHUNK):
                self.pos += len(chunk)
                buf = self.carry + chunk
                cut = buf.rfind(b"\n") + 1
                self.carry = buf[cut:]
                if cut:
                    self._take(buf[:cut])
        if final and self.carry:
            self._take(self.carry)
            self.carry = b""
        return len(self.lines) - before

    def _take(self, work: bytes) -> None:
        self.lines.extend(self.scanner.lines(work))


# ---------------------------------------------------------------- projection


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


def expected_time(unit: str, train_iters: int | None, goldens, gpu_model: str | None, world_size: int | None,
                  planned: Planned | None) -> Expected:
    """The step time the tutorial expects at this world size (see the module docstring)."""
    if unit == "distill" and goldens is not None and train_iters:
        for g in goldens.steps.get("distill", []):
            if g.path != "minutes_per_1k_iters":
                continue
            want = g.requires.get("world_size")
            if want is not None and want != world_size:
                continue
            value, on = g.expect, ""
            if g.by_gpu is not None:
                key = gpu_key(gpu_model, list(g.by_gpu)) if gpu_model else None
                if key is None:
                    continue
                value, on = g.by_gpu[key], f" on {key}"
            if _num(value):
                ms = float(value) * 60  # minutes per 1,000 iterations -> ms per iteration
                return Expected(ms * train_iters / 1000, ms, f"golden distill.minutes_per_1k_iters: {value:g} min per "
                                f"1k iterations{on}" + (f" at world size {want}" if want else "") + f" ({g.source})")
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


def nan_reason(rec) -> str | None:
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


# ---------------------------------------------------------------- status


@dataclass
class Status:
    run_dir: str
    unit: str
    log: str
    state: str  # waiting | running | finished (the log says so) | ended (step.json has an exit code) | stopped
    updated: str
    iteration: int | None = None
    train_iters: int | None = None
    projection: Projection | None = None
    expected: Expected | None = None
    world_size: int | None = None
    gpu_hours: float | None = None
    gpu_hours_pm: float | None = None
    expected_gpu_hours: float | None = None
    run_gpu_hours: float | None = None
    expected_run_gpu_hours: float | None = None
    loss: dict | None = None
    findings: list[Finding] = field(default_factory=list)
    stop: str | None = None
    stop_iteration: int | None = None
    policy: str = ""
    last_growth_s: float | None = None
    changed: bool = True  # the log grew, or the state changed, since the last update
    projected_end: str | None = None

    @property
    def overrun_pct(self) -> float | None:
        p, e = self.projection, self.expected
        if p is None or e is None or p.step_s is None or not e.step_s:
            return None
        return (p.step_s / e.step_s - 1) * 100

    def to_json(self) -> dict:
        """The status file for schedulers: flat keys, hours and GPU-hours, ISO times (UTC)."""
        p, e = self.projection, self.expected
        hours = lambda s: None if s is None else round(s / 3600, 4)  # noqa: E731
        return _json_safe({
            "schema": 1, "updated": self.updated, "run_dir": self.run_dir, "step": self.unit, "log": self.log,
            "state": self.state, "iteration": self.iteration, "train_iters": self.train_iters,
            "ms_per_iter": _r(p.ms_per_iter if p else None, 2), "ms_per_iter_pm": _r(p.ms_halfwidth if p else None, 2),
            "intervals": p.intervals if p else None, "confidence": p.confidence if p else None, "clock": CLOCK,
            "projected_step_hours": hours(p.step_s) if p else None,
            "projected_step_hours_pm": hours(p.halfwidth_s) if p else None,
            "projected_remaining_hours": hours(p.remaining_s) if p else None,
            "projected_end": self.projected_end,
            "expected_step_hours": hours(e.step_s) if e else None, "expected_ms_per_iter": _r(e.ms_per_iter if e else None, 2),
            "expected_source": e.source if e else None, "overrun_pct": _r(self.overrun_pct, 3),
            "world_size": self.world_size, "projected_gpu_hours": _r(self.gpu_hours, 2),
            "projected_gpu_hours_pm": _r(self.gpu_hours_pm, 2), "expected_gpu_hours": _r(self.expected_gpu_hours, 2),
            "projected_run_gpu_hours": _r(self.run_gpu_hours, 2), "projected_run_gpu_hours_pm": _r(self.gpu_hours_pm, 2),
            "expected_run_gpu_hours": _r(self.expected_run_gpu_hours, 2), "loss": self.loss,
            **render.to_json(self.findings, {}),  # summary and findings, as `checks verify --json` writes them
            "stop": self.stop, "stop_iteration": self.stop_iteration, "policy": self.policy,
            "last_growth_s": _r(self.last_growth_s, 1),
        })

    def oneline(self) -> str:
        """One plain line per update (logs, CI, Slurm)."""
        head = f"[{self.updated}] {self.unit}:"
        if self.state == "waiting":
            return f"{head} waiting for {self.log}"
        parts = []
        if self.iteration is not None and self.train_iters:
            parts.append(f"iteration {self.iteration}/{self.train_iters} ({self.iteration / self.train_iters:.1%})")
        elif self.unit.startswith("distill"):
            parts.append("no iteration logged yet")
        p, e = self.projection, self.expected
        if p and p.ms_per_iter is not None:
            pm = f" ±{p.ms_halfwidth:.0f}" if p.ms_halfwidth is not None else ""
            parts.append(f"{p.ms_per_iter:.0f}{pm} ms/it ({p.intervals} intervals, log clock)")
        if p and p.step_s is not None:
            s = f"step {p.step_s / 3600:.2f} h" + (f" ±{p.halfwidth_s / 3600:.2f}" if p.halfwidth_s is not None else "")
            if e and e.step_s:
                s += f" vs {e.step_s / 3600:.2f} h expected ({self.overrun_pct:+.1f}%)"
            parts.append(s)
        if self.projected_end and self.state == "running":
            parts.append(f"ends ~{self.projected_end}")
        if self.gpu_hours is not None:
            g = f"{self.gpu_hours:,.0f}" + (f" ±{self.gpu_hours_pm:,.0f}" if self.gpu_hours_pm is not None else "") + " GPU-h"
            if self.run_gpu_hours is not None:
                g += f" (run {self.run_gpu_hours:,.0f}" + (f" of {self.expected_run_gpu_hours:,.0f} planned" if
                                                          self.expected_run_gpu_hours else "") + ")"
            parts.append(g)
        if self.loss and self.loss.get("last") is not None:
            parts.append(f"{self.loss['name']} {self.loss['last']:.4g}" + (f" {self.loss['trend']}" if self.loss["trend"] else ""))
        parts.append(" ".join(f"{n} {k}" for k, n in summary(self.findings).items() if n) or "no check decided yet")
        if self.stop:
            parts.append(f"STOP: {self.stop}")
        elif self.state != "running":
            parts.append(self.state)
        return f"{head} " + " | ".join(parts)

    def renderable(self):
        """The live terminal view (rich)."""
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("step", f"{escape(self.unit)}  [dim]{escape(self.log)}[/]  {self.state}")
        if self.iteration is not None and self.train_iters:
            grid.add_row("iteration", f"{self.iteration:,} / {self.train_iters:,} ({self.iteration / self.train_iters:.1%})")
        p, e = self.projection, self.expected
        if p and p.ms_per_iter is not None:
            pm = f" ± {p.ms_halfwidth:.1f}" if p.ms_halfwidth is not None else ""
            exp = f"   expected {e.ms_per_iter:.0f}" if e and e.ms_per_iter else ""
            grid.add_row("ms / iteration", f"{p.ms_per_iter:.1f}{pm} ({p.intervals} intervals, {p.confidence:.0%}){exp}")
        if p and p.step_s is not None:
            pm = f" ± {p.halfwidth_s / 3600:.2f}" if p.halfwidth_s is not None else ""
            over = self.overrun_pct
            exp = f"   expected {e.step_s / 3600:.2f} h ({over:+.1f}%)" if e and e.step_s and over is not None else ""
            grid.add_row("step time", f"{p.step_s / 3600:.2f} h{pm}{exp}")
        if e:
            grid.add_row("expected from", f"[dim]{escape(e.source)}[/]")
        if self.projected_end:
            grid.add_row("projected end", self.projected_end)
        if self.gpu_hours is not None:
            pm = f" ± {self.gpu_hours_pm:,.1f}" if self.gpu_hours_pm is not None else ""
            exp = f"   expected {self.expected_gpu_hours:,.1f}" if self.expected_gpu_hours else ""
            grid.add_row("GPU-hours", f"{self.gpu_hours:,.1f}{pm} on {self.world_size} GPUs{exp}")
        if self.run_gpu_hours is not None:
            exp = f"   planned {self.expected_run_gpu_hours:,.1f}" if self.expected_run_gpu_hours else ""
            grid.add_row("run GPU-hours", f"{self.run_gpu_hours:,.1f}{exp}")
        if self.loss and self.loss.get("last") is not None:
            grid.add_row("loss", f"{escape(self.loss['name'])} {self.loss['last']:.5g}"
                         + (f"  {self.loss['trend']} ({self.loss['change_pct']:+.1f}%)" if self.loss["trend"] else ""))
        grid.add_row("policy", f"[dim]{escape(self.policy)}[/]")
        if self.stop:
            grid.add_row("[bold red]STOP[/]", f"[bold red]{escape(self.stop)}[/]")
        t = Table(expand=False, show_edge=False)
        for col in ("check", "verdict", "expected", "measured", "where"):
            t.add_column(col, no_wrap=col != "measured", overflow="fold")
        for f in sorted(self.findings, key=lambda f: f.status == PASS):
            t.add_row(escape(f.id), f"[{render.STYLE[f.status]}]{f.status}[/]", escape(render.short(f.expected, 30)),
                      escape(render.short(f.measured, 30)), escape(f.where))
        return Group(grid, t)


# ---------------------------------------------------------------- the watcher


class Watcher:
    """Follows one unit of a run (`distill`, or `bench/<variant>`); `update()` reads what the log grew by and
    returns a Status. One Watcher per attempt; its `stop` is kept once decided."""

    def __init__(self, run_dir: Path, unit: str, *, policy: Policy | None = None, goldens=None,
                 profile: yamlio.YMap | None = None, clock=time.time) -> None:
        self.run_dir, self.unit = Path(run_dir), unit
        self.rel = Run.load(self.run_dir).rel  # CheckError now if it is no run directory; paths in messages
        self.step, _, self.variant = unit.partition("/")
        if self.step not in LIVE_STEPS:
            raise CheckError(f"nothing to watch live in step {self.step!r}", expected=", ".join(LIVE_STEPS) +
                             " (bench as bench/<variant>)", hint="other steps are judged when they end: checks verify")
        if self.step == "bench" and not self.variant:
            raise CheckError("bench runs one unit per variant", expected="--step bench/<variant>, e.g. bench/7b-fp8")
        self.sdir = self.run_dir / unit
        parser = distill if self.step == "distill" else None
        self.follower = Follower(self.sdir / rundir.LOG, parser.NEEDLES if parser else None, parser.BLOCKS if parser else ())
        self.policy = policy or Policy()
        self.goldens, self.profile, self.clock = goldens, profile, clock
        self.stop: str | None = None
        self.stop_iteration: int | None = None
        self.last_growth: float | None = None
        self.state: str | None = None
        self.status: Status | None = None

    def waiting(self) -> Status:
        changed = self.state != "waiting"
        self.state = "waiting"
        return Status(str(self.run_dir), self.unit, self.rel(self.follower.path), "waiting", _now(self.clock()),
                      policy=self.policy.describe(), changed=changed)

    def update(self) -> Status:
        run = Run.load(self.run_dir)
        meta = self._meta()
        code = meta.get("exit_code")
        ended = isinstance(code, int) and not isinstance(code, bool)
        grew = self.follower.poll(final=ended)
        now = self.clock()
        if grew or self.last_growth is None:
            self.last_growth = now
        log = self.rel(self.follower.path)
        ctx = run.context
        ws = meta.get("world_size") if _is_int(meta.get("world_size")) else None
        ws = ws or _manifest_ws(run.manifest, self.unit) or ctx.world_size.get(self.step)
        planned = planned_units(self.profile or read_profile(profile_name(run.manifest)))
        st = Status(str(self.run_dir), self.unit, log, "running", _now(now), world_size=ws,
                    policy=self.policy.describe(), last_growth_s=now - self.last_growth)
        rec = self._parse(log)
        finished = bool(rec is not None and getattr(rec, "completed", False))
        if self.step == "distill":
            self._distill(st, rec, run, meta, planned.get(self.unit), log, done=finished or ended)
        else:
            self._bench(st, rec, ctx, planned.get(self.unit))
        if finished or ended:
            st.findings = self._final(st.findings, rec, ctx, meta, code if ended else None, log)
        self._run_hours(st, planned, run.manifest)
        if not (finished or ended) and self.stop is None:
            self.stop = self._decide(st, rec)
            if self.stop:
                self.stop_iteration = st.iteration
        st.stop, st.stop_iteration = self.stop, self.stop_iteration
        st.state = "stopped" if self.stop else "finished" if finished else "ended" if ended else "running"
        st.changed = bool(grew) or st.state != self.state
        self.state, self.status = st.state, st
        return st

    # -- pieces

    def _meta(self) -> dict:
        p = self.sdir / rundir.META
        if not p.exists():
            return {}
        try:
            doc = rundir.read_json(p, "step.json")
        except CheckError:
            return {}  # being written, or broken: the runner's business; the log is what is watched
        return doc if isinstance(doc, dict) else {}

    def _parse(self, log: str):
        lines = self.follower.lines
        try:
            if self.step == "distill":
                return distill.parse(lines, log)
            return bench.parse(lines, log)
        except FormatNotRecognised:
            return None  # nothing the parser knows yet (the step is still loading)
        except CheckError as e:  # e.g. a traceback before the first iteration
            return _Failed(e)

    def _distill(self, st: Status, rec, run: Run, meta: dict, planned: Planned | None, log: str, done: bool) -> None:
        if isinstance(rec, _Failed):
            st.findings.append(Finding("distill", "log", ERROR, note=rec.error.render(), where=rec.error.where or ""))
            return
        if rec is None:
            return
        ctx = run.context
        st.iteration, st.train_iters = rec.last_iteration, rec.train_iters
        st.findings += self._goldens_live(rec, ctx)
        if rec.iterations or done:  # the arguments block is whole once an iteration follows it: half of it lacks flags
            step_json = Meta(self.sdir / rundir.META, self.rel(self.sdir / rundir.META), doc=meta)
            st.findings += rules.distill_settings(run, StepData("distill", self.sdir, True, metas=[step_json]), rec)
        st.loss, tf = loss_trend("distill", rec, self.policy, log)
        st.findings += [tf] if tf is not None else []
        p = project(rec.iterations, rec.train_iters, self.policy.confidence)
        e = expected_time(self.unit, rec.train_iters, self.goldens, ctx.gpu_model, st.world_size, planned)
        st.projection, st.expected = p, e
        if p and p.remaining_s is not None:
            st.projected_end = _now(self.clock() + p.remaining_s)
        if p and p.step_s is not None and st.world_size:
            st.gpu_hours = st.world_size * p.step_s / 3600
            st.gpu_hours_pm = st.world_size * p.halfwidth_s / 3600 if p.halfwidth_s is not None else None
        if e.step_s and st.world_size:
            st.expected_gpu_hours = st.world_size * e.step_s / 3600
        st.findings.append(self._projection_finding(p, e, rec, log))

    def _goldens_live(self, rec, ctx) -> list[Finding]:
        """Goldens on values that are decided before the end: growing values, the tokens per iteration, and
        train_iters (echoed in the arguments block) against the golden last iteration."""
        out = []
        its = f" (so far: iteration {rec.last_iteration})"
        for g in self.goldens.steps.get("distill", []) if self.goldens else []:
            if g.path in GROWING and getattr(rec, g.path, None) is not None:
                f = judge_value(g, rec, ctx, rec.format)
                if f.status == PASS:
                    f.note += its
                out.append(f)
            elif g.path == "tokens_per_iteration" and rec.tokens_per_iteration is not None:
                out.append(judge_value(g, rec, ctx, rec.format))
            elif g.path == "last_iteration" and rec.train_iters is not None and _num(g.expect):
                ok = rec.train_iters == g.expect
                out.append(Finding("distill", "train_iters", PASS if ok else FAIL, expected=g.expect, measured=rec.train_iters,
                                   tolerance="exact", source=f"golden distill.{g.id} ({g.source})",
                                   where=rec.where.get("args") or rec.where.get("iterations", ""),
                                   note="" if ok else "the run will not reach the tutorial's last iteration"))
        return out

    def _projection_finding(self, p: Projection | None, e: Expected, rec, log: str) -> Finding:
        pol = self.policy
        f = Finding("distill", "projected_step_hours", SKIP, tolerance="projection", source=e.source,
                    where=rec.where.get("iterations", ""))
        if e.step_s:
            f.expected = round(e.step_s / 3600, 4)
        if p is None or p.step_s is None:
            f.note = "not enough iterations logged to project"
            return f
        f.measured = round(p.step_s / 3600, 4)
        if not e.step_s:
            f.note = e.source
            return f
        limit = pol.max_projected_overrun_pct
        gate = pol.gate(p.train_iters)
        if limit is None:
            f.note = f"no max_projected_overrun_pct in the policy ({pol.where}): projection only"
            return f
        f.high = round(e.step_s * (1 + limit / 100) / 3600, 4)
        f.tolerance = f"≤ +{limit:g}% (decided from iteration {gate})"
        if p.iteration < gate or p.intervals < 3 or p.halfwidth_s is None:
            f.note = f"decided from iteration {gate} and 3 intervals (now {p.iteration}, {p.intervals})"
            return f
        low = p.step_s - p.halfwidth_s
        over = low > e.step_s * (1 + limit / 100)
        f.status = FAIL if over else PASS
        f.note = (f"projected {p.step_s / 3600:.2f} h ±{p.halfwidth_s / 3600:.2f} ({p.confidence:.0%}) at "
                  f"{p.ms_per_iter:.0f} ms/iteration after {p.iteration} of {p.train_iters} iterations"
                  + (f" > {f.high:.2f} h allowed ({e.step_s / 3600:.2f} h expected + {limit:g}%)" if over else ""))
        return f

    def _bench(self, st: Status, rec, ctx, planned: Planned | None) -> None:
        if isinstance(rec, _Failed):
            st.findings.append(Finding("bench", "log", ERROR, note=rec.error.render(), where=rec.error.where or ""))
            return
        if planned is not None:
            st.expected = Expected(planned.hours * 3600, None, f"profile: {planned.hours:g} h ({planned.source})")
            if st.world_size:
                st.expected_gpu_hours = st.gpu_hours = planned.hours * st.world_size
        if rec is None or rec.model_loading_gib is None:
            return
        record = bench.BenchRecord(runs={self.variant: rec})
        for g in self.goldens.steps.get("bench", []) if self.goldens else []:
            if g.path == f"runs.{self.variant}.model_loading_gib":
                st.findings.append(judge_value(g, record, ctx, getattr(rec, "format", None)))

    def _final(self, live: list[Finding], rec, ctx, meta: dict, code, log: str) -> list[Finding]:
        """The step ended: every golden of it, as `checks verify` judges them, plus what only watch decides."""
        out: list[Finding] = []
        if code is not None:
            ok = code == 0
            out.append(Finding(self.step, "exit_code", PASS if ok else FAIL, expected=0, measured=code, tolerance="exact",
                               source="runner (step.json)", where=self.rel(self.sdir / rundir.META),
                               note="" if ok else f"the step exited with {code}; see {log}"))
        if rec is not None and not isinstance(rec, _Failed) and self.goldens:
            record = rec if self.step == "distill" else bench.BenchRecord(runs={self.variant: rec})
            prefix = None if self.step == "distill" else f"runs.{self.variant}."
            for g in self.goldens.steps.get(self.step, []):
                if getattr(g, "mean_of", None):
                    continue
                paths = g.ratio or (g.path,)
                if prefix and not all((p or "").startswith(prefix) for p in paths):
                    continue
                out.append(judge_value(g, record, ctx, getattr(rec, "format", None)))
        if not out:
            return live
        have = {f.id for f in out}
        return out + [f for f in live if f.id not in have and f.id != "train_iters"]

    def _run_hours(self, st: Status, planned: dict[str, Planned], manifest: dict | None) -> None:
        main = {n: u for n, u in planned.items() if u.group != "extra"}
        if not main:
            return
        st.expected_run_gpu_hours = sum(u.gpu_hours for u in main.values())
        steps = (manifest or {}).get("steps") if isinstance((manifest or {}).get("steps"), dict) else {}
        total = 0.0
        for name, u in main.items():
            if name == self.unit:
                total += st.gpu_hours if st.gpu_hours is not None else u.gpu_hours
                continue
            info = steps.get(name) if isinstance(steps.get(name), dict) else {}
            if info.get("exit_code") == 0 and _num(info.get("seconds")) and _is_int(info.get("world_size")):
                total += info["world_size"] * info["seconds"] / 3600
            else:
                total += u.gpu_hours
        st.run_gpu_hours = total

    def _decide(self, st: Status, rec) -> str | None:
        pol = self.policy
        if pol.stop_on_nan and rec is not None and self.step == "distill" and not isinstance(rec, _Failed):
            why = nan_reason(rec)
            if why:
                return why
        proj = next((f for f in st.findings if f.id == "projected_step_hours"), None)
        if proj is not None and proj.status == FAIL:
            return proj.note
        if pol.stop_on_failed_check:
            bad = next((f for f in st.findings if f.status == FAIL), None)  # not XPASS: a discrepancy gone is no reason
            if bad is not None:
                return f"check {bad.step}.{bad.id} failed: measured {render.short(bad.measured, 80)}, " \
                       f"expected {render.short(bad.expected, 80)}" \
                       + (f" ({bad.where})" if bad.where else "")
        return None


@dataclass
class _Failed:
    error: CheckError


# ---------------------------------------------------------------- the command


def exit_code_of(st: Status) -> int:
    """0 healthy (finished, or so far with --once), 1 the policy said stop or a decided check failed."""
    if st.stop or any(f.status in FAILING or f.status == ERROR for f in st.findings):
        return 1
    return 0


def follow(w: Watcher, console, *, every_s: float, once: bool = False, status_file: Path | None = None,
           sleep=time.sleep) -> int:
    """Update until the step finishes, ends or the policy says stop (or once); show each update (a live view on
    a terminal, one plain line per update elsewhere) and write the status file."""
    live = None
    if console.is_terminal and not once:
        from rich.live import Live

        live = Live(console=console, refresh_per_second=4, auto_refresh=False)
        live.start()
    try:
        while True:
            try:
                st = w.update()
            except NoLog as e:
                if once:
                    raise CheckError(f"no log yet: {w.rel(w.follower.path)}", where=e.where,
                                     hint="the step has not started; without --once, checks watch waits for it") from None
                st = w.waiting()
            if status_file is not None:
                rundir.write_atomic(status_file, json.dumps(st.to_json(), indent=2, default=str, allow_nan=False) + "\n")
            if live is not None:
                live.update(st.renderable(), refresh=True)
            elif st.changed or once:
                console.print(st.oneline(), markup=False, highlight=False, soft_wrap=True)
            if once or st.state in ("finished", "ended", "stopped"):
                if live is not None and st.stop:
                    live.stop()
                    live = None
                    console.print(f"stop: {st.stop}", markup=False, highlight=False, soft_wrap=True)
                return exit_code_of(st)
            sleep(every_s)
    finally:
        if live is not None:
            live.stop()


def default_unit(run_dir: Path) -> str:
    """The unit that is running (its step.json has no exit code yet), else distill."""
    run_dir = Path(run_dir)
    candidates = [run_dir / "distill"] + sorted(p for p in (run_dir / "bench").glob("*") if p.is_dir()
                                                and p.name != rundir.ATTEMPTS)
    for d in candidates:
        try:
            doc = rundir.read_json(d / rundir.META, "step.json")
        except CheckError:
            continue
        if isinstance(doc, dict) and doc.get("exit_code") is None:
            return str(d.relative_to(run_dir))
    return "distill"


def default_goldens(run_manifest: dict | None, explicit: Path | None):
    """--expected, else expected/<the run's profile>.yaml of the kit (None if there is none)."""
    from checks import goldens

    if explicit is not None:
        return goldens.load(explicit)
    path = ROOT / "expected" / f"{profile_name(run_manifest) or 'full'}.yaml"
    return goldens.load(path) if path.is_file() else None


def measure_step(step_dir: Path, world_size: int | None, confidence: float = 0.95) -> Projection | None:
    """For `make plan`: the projection of a distillation's log as it stands (None without iterations)."""
    f = Follower(Path(step_dir) / rundir.LOG, distill.NEEDLES, distill.BLOCKS)
    try:
        f.poll(final=True)
        rec = distill.parse(f.lines, str(Path(step_dir) / rundir.LOG))
    except CheckError:
        return None
    return project(rec.iterations, rec.train_iters, confidence) if rec.iterations else None


# ---------------------------------------------------------------- small helpers


def _now(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, nd)


def _json_safe(x: object) -> object:
    """Strict JSON for schedulers: a non-finite float (a diverged loss) as its text, never NaN or Infinity."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    return [_json_safe(v) for v in x] if isinstance(x, (list, tuple)) else x


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _int(x: object) -> int:
    return x if _is_int(x) else 0


def profile_name(manifest: dict | None) -> str | None:
    p = (manifest or {}).get("profile")
    return p if isinstance(p, str) else None


def _manifest_ws(manifest: dict | None, unit: str) -> int | None:
    info = ((manifest or {}).get("steps") or {}).get(unit)
    ws = info.get("world_size") if isinstance(info, dict) else None
    return ws if _is_int(ws) else None
