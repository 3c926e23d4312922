"""distill: Megatron-Bridge training log of ModelOpt's examples/megatron_bridge/distill.py.

Per-iteration lines (megatron/bridge/training/utils/train_utils.py, training_log):
  " [YYYY-mm-dd HH:MM:SS] iteration   N/  T | consumed samples: S | elapsed time per iteration (ms): X |
    [throughput per GPU (TFLOP/s/GPU): X |] learning rate: X.XXXXXXE-05 | global batch size: B |
    <loss name>: X.XXXXXXE+00 | ... | loss scale: X | [grad norm: X |] number of skipped iterations: K |
    number of nan iterations: K |"
A loss that is NaN is *omitted* from that line (it is printed only when >= 0), so a loss name missing
from some lines is itself a sign of NaN. Memory: "[Rank R] (after N iterations) memory (GB) | key: v | ...".
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from checks import rundir
from checks.errors import FormatNotRecognised
from checks.textparse import clean, number

FORMATS = ("megatron-bridge",)


@dataclass
class Iteration:
    iteration: int
    train_iters: int
    consumed_samples: int | None
    ms_per_iter: float | None
    lr: float | None
    global_batch_size: int | None
    losses: dict[str, float]
    tflops_per_gpu: float | None = None
    grad_norm: float | None = None
    skipped: int = 0
    nan: int = 0


@dataclass
class DistillRecord:
    format: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    iterations: list[Iteration] = field(default_factory=list)
    memory_gb: dict[str, float] = field(default_factory=dict)  # peak of each reported key
    checkpoints: list[int] = field(default_factory=list)
    completed: bool = False
    # Derived, so that goldens can name them.
    train_iters: int | None = None
    last_iteration: int | None = None
    tokens_per_iteration: int | None = None
    median_ms_per_iter: float | None = None
    minutes_per_1k_iters: float | None = None
    nan_iterations: int = 0
    skipped_iterations: int = 0
    nonfinite_losses: int = 0
    dropped_loss_values: int = 0
    missing_iterations: list[int] = field(default_factory=list)
    out_of_order: int = 0
    final_losses: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


_ITER = re.compile(r"\biteration\s+(\d+)\s*/\s*(\d+)\s*\|(.*)$")
_ARG = re.compile(r"^(\w+)\s{2,}(.*?)\s*$")
_MEM = re.compile(r"\(after (\d+) iterations\) memory \(GB\)((?:\s*\|\s*[\w-]+:\s*[^|]+)+)")
_SAVED = re.compile(r"successfully saved checkpoint from iteration\s+(\d+)")
_DONE = "Distillation done!"
_NOT_LOSS = {
    "consumed samples", "skipped samples", "elapsed time per iteration (ms)", "throughput per GPU (TFLOP/s/GPU)",
    "energy per GPU (J/iter/GPU)", "power per GPU (W/GPU)", "learning rate", "global batch size", "loss scale",
    "grad norm", "num zeros", "params norm", "max attention logit", "number of skipped iterations",
    "number of nan iterations",
}


def parse_log(text: str) -> DistillRecord:
    lines = clean(text)
    rec = DistillRecord()
    in_args = False
    for line in lines:
        s = line.strip()
        if "=== Arguments ===" in s:
            in_args = True
            continue
        if in_args:
            if s.startswith("====="):
                in_args = False
            elif m := _ARG.match(s):
                rec.args[m.group(1)] = m.group(2)
            continue
        if m := _ITER.search(line):
            it = _iteration(int(m.group(1)), int(m.group(2)), m.group(3))
            if it is not None:
                rec.iterations.append(it)
        elif m := _MEM.search(line):
            for part in m.group(2).split("|"):
                if ":" in part:
                    k, v = part.split(":", 1)
                    x = number(v)
                    if x is not None:
                        rec.memory_gb[k.strip()] = max(x, rec.memory_gb.get(k.strip(), x))
        elif m := _SAVED.search(line):
            rec.checkpoints.append(int(m.group(1)))
        elif _DONE in s:
            rec.completed = True
    rec.checkpoints = sorted(set(rec.checkpoints))
    if rec.iterations:
        rec.format = "megatron-bridge"
    elif not rec.args:
        raise FormatNotRecognised(
            "distill log format not recognised",
            expected="Megatron-Bridge training lines (' iteration N/T | consumed samples: ...')",
            found="no iteration line and no distill.py arguments block",
            hint="check that this is the distillation step's log; if Megatron-Bridge changed its "
            "log format, teach checks/steps/distill.py the new format",
        )
    _derive(rec)
    return rec


def _iteration(n: int, total: int, rest: str) -> Iteration | None:
    fields: dict[str, str] = {}
    for part in rest.split("|"):
        if ":" in part:
            k, v = part.rsplit(":", 1)
            fields[k.strip()] = v.strip()
    if "consumed samples" not in fields:
        return None
    losses = {k: number(v) for k, v in fields.items() if k not in _NOT_LOSS}
    return Iteration(
        iteration=n,
        train_iters=total,
        consumed_samples=_int(fields.get("consumed samples")),
        ms_per_iter=number(fields.get("elapsed time per iteration (ms)", "")),
        lr=number(fields.get("learning rate", "")),
        global_batch_size=_int(fields.get("global batch size")),
        losses={k: (v if v is not None else math.nan) for k, v in losses.items()},
        tflops_per_gpu=number(fields.get("throughput per GPU (TFLOP/s/GPU)", "")),
        grad_norm=number(fields.get("grad norm", "")),
        skipped=_int(fields.get("number of skipped iterations")) or 0,
        nan=_int(fields.get("number of nan iterations")) or 0,
    )


def _int(s: str | None) -> int | None:
    try:
        return int(s) if s is not None else None
    except ValueError:
        return None


def _derive(rec: DistillRecord) -> None:
    its = rec.iterations
    gbs, seq = _int(rec.args.get("gbs")), _int(rec.args.get("seq_length"))
    if gbs and seq:
        rec.tokens_per_iteration = gbs * seq
    rec.train_iters = _int(rec.args.get("train_iters")) or (its[-1].train_iters if its else None)
    if not its:
        return
    rec.last_iteration = its[-1].iteration
    # The first logged interval includes start-up and compilation; it is not the steady state.
    steady = [i.ms_per_iter for i in its[1:] if i.ms_per_iter is not None and math.isfinite(i.ms_per_iter)]
    if steady:
        rec.median_ms_per_iter = statistics.median(steady)
        rec.minutes_per_1k_iters = rec.median_ms_per_iter * 1000 / 60_000
    rec.nan_iterations = sum(i.nan for i in its)
    rec.skipped_iterations = sum(i.skipped for i in its)
    names = set().union(*(i.losses for i in its))
    rec.nonfinite_losses = sum(1 for i in its for v in i.losses.values() if not math.isfinite(v))
    rec.dropped_loss_values = sum(1 for i in its for k in names if k not in i.losses)
    interval = _int(rec.args.get("log_interval")) or _guess_interval(its)
    if interval:
        seen = {i.iteration for i in its}
        first = its[0].iteration
        expected = range(first, rec.last_iteration + 1, interval)
        rec.missing_iterations = [k for k in expected if k not in seen][:1000]
    order = [i.iteration for i in its]
    # A resumed run logs some iterations again; anything else out of order means interleaved logs.
    rec.out_of_order = sum(1 for a, b in zip(order, order[1:]) if b <= a)
    rec.final_losses = dict(its[-1].losses)


def _guess_interval(its: list[Iteration]) -> int | None:
    gaps = [b.iteration - a.iteration for a, b in zip(its, its[1:]) if b.iteration > a.iteration]
    return min(gaps) if gaps else None


def load(path: Path) -> DistillRecord:
    return parse_log(rundir.read_text(rundir.step_log(Path(path))))
