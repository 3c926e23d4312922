"""distill: Megatron-Bridge training log of ModelOpt's examples/megatron_bridge/distill.py.

Per-iteration lines (megatron/bridge/training/utils/train_utils.py, training_log):
  " [YYYY-mm-dd HH:MM:SS] iteration   N/  T | consumed samples: S | elapsed time per iteration (ms): X |
    [throughput per GPU (TFLOP/s/GPU): X |] learning rate: X.XXXXXXE-05 | global batch size: B |
    <loss name>: X.XXXXXXE+00 | ... | loss scale: X | [grad norm: X |] number of skipped iterations: K |
    number of nan iterations: K |"
A loss that is NaN is *omitted* from that line (it is printed only when >= 0), so a loss name missing
from some lines is itself a sign of NaN. Memory: "[Rank R] (after N iterations) memory (GB) | key: v | ...".

Only the known Megatron fields and names ending in "loss" are read from an iteration line: another rank's
print can land inside it, and such foreign fragments are counted, never taken for a loss.
The log is read with `logread.scan` (only lines holding NEEDLES, plus the arguments block), so a log of
gigabytes parses at disk speed in constant memory.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.errors import FormatNotRecognised
from checks.logread import Line, text_lines
from checks.textparse import integer, number

FORMATS = ("megatron-bridge",)
NEEDLES = ("iteration", "memory (GB)", "Distillation done")
BLOCKS = (("=== Arguments ===", "====="),)


@dataclass(slots=True)
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
    line: int = 0


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
    foreign_fragments: int = 0  # text of other ranks found inside iteration lines (not taken as values)
    missing_iterations: list[int] = field(default_factory=list)
    out_of_order: int = 0
    final_losses: dict[str, float] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


_ITER = re.compile(r"\biteration\s+(\d+)\s*/\s*(\d+)\s*\|(.*)$")
_ARG = re.compile(r"^(\w+)\s{2,}(.*?)\s*$")
_MEM = re.compile(r"\(after (\d+) iterations\) memory \(GB\)((?:\s*\|\s*[\w-]+:\s*[^|]+)+)")
_SAVED = re.compile(r"successfully saved checkpoint from iteration\s+(\d+)")
_DONE = "Distillation done!"
_KNOWN = {
    "consumed samples", "skipped samples", "elapsed time per iteration (ms)", "throughput per GPU (TFLOP/s/GPU)",
    "energy per GPU (J/iter/GPU)", "power per GPU (W/GPU)", "learning rate", "global batch size", "loss scale",
    "grad norm", "num zeros", "params norm", "max attention logit", "number of skipped iterations",
    "number of nan iterations", "tokens per second per GPU", "tokens/sec/GPU",
}
_NUMERIC = re.compile(r"^[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf|NaN|INF|NAN|Inf)$")


def parse_log(text: str, source: str = "step.log") -> DistillRecord:
    return parse(text_lines(text), source)


def parse(lines: Iterable[Line], source: str = "step.log") -> DistillRecord:
    rec = DistillRecord()
    in_args = False
    for ln in lines:
        line = ln.text
        s = line.strip()
        if "=== Arguments ===" in s:
            in_args = True
            rec.where.setdefault("args", f"{source}:{ln.no}")
            continue
        if in_args:
            if s.startswith("====="):
                in_args = False
            elif m := _ARG.match(s):
                rec.args[m.group(1)] = m.group(2)
            continue
        if "iteration" in line:
            if m := _ITER.search(line):
                it = _iteration(rec, int(m.group(1)), int(m.group(2)), m.group(3), ln.no)
                if it is not None:
                    rec.iterations.append(it)
                continue
            if "checkpoint" in line and (m := _SAVED.search(line)):
                rec.checkpoints.append(int(m.group(1)))
                rec.where["checkpoints"] = f"{source}:{ln.no}"
                continue
            if "memory (GB)" in line and (m := _MEM.search(line)):
                _memory(rec, m.group(2))
                rec.where.setdefault("memory_gb", f"{source}:{ln.no}")
                continue
        if _DONE in s:
            rec.completed = True
            rec.where["completed"] = f"{source}:{ln.no}"
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
    _derive(rec, source)
    return rec


def _memory(rec: DistillRecord, text: str) -> None:
    for part in text.split("|"):
        if ":" in part:
            k, v = part.split(":", 1)
            x = number(v)
            if x is not None:
                rec.memory_gb[k.strip()] = max(x, rec.memory_gb.get(k.strip(), x))


def _iteration(rec: DistillRecord, n: int, total: int, rest: str, no: int) -> Iteration | None:
    fields: dict[str, str] = {}
    losses: dict[str, float] = {}
    for part in rest.split("|"):
        if ":" not in part:
            if part.strip():
                rec.foreign_fragments += 1
            continue
        k, v = part.rsplit(":", 1)
        k, v = k.strip(), v.strip()
        if k in _KNOWN:
            fields[k] = v
        elif k.endswith("loss") and _NUMERIC.match(v):
            x = number(v)
            losses[k] = x if x is not None else math.nan
        else:
            rec.foreign_fragments += 1
    if "consumed samples" not in fields:
        return None
    return Iteration(
        iteration=n,
        train_iters=total,
        consumed_samples=integer(fields.get("consumed samples")),
        ms_per_iter=number(fields.get("elapsed time per iteration (ms)", "")),
        lr=number(fields.get("learning rate", "")),
        global_batch_size=integer(fields.get("global batch size")),
        losses=losses,
        tflops_per_gpu=number(fields.get("throughput per GPU (TFLOP/s/GPU)", "")),
        grad_norm=number(fields.get("grad norm", "")),
        skipped=integer(fields.get("number of skipped iterations")) or 0,
        nan=integer(fields.get("number of nan iterations")) or 0,
        line=no,
    )


def _derive(rec: DistillRecord, source: str) -> None:
    its = rec.iterations
    gbs, seq = integer(rec.args.get("gbs")), integer(rec.args.get("seq_length"))
    if gbs and seq:
        rec.tokens_per_iteration = gbs * seq
        rec.where["tokens_per_iteration"] = rec.where.get("args", "")
    rec.train_iters = integer(rec.args.get("train_iters")) or (its[-1].train_iters if its else None)
    if not its:
        return
    last = f"{source}:{its[-1].line}"
    rec.last_iteration = its[-1].iteration
    for key in ("last_iteration", "final_losses", "iterations"):
        rec.where[key] = last
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
    for key, bad in (("nan_iterations", lambda i: i.nan), ("skipped_iterations", lambda i: i.skipped),
                     ("nonfinite_losses", lambda i: any(not math.isfinite(v) for v in i.losses.values())),
                     ("dropped_loss_values", lambda i: names - set(i.losses))):
        first = next((i for i in its if bad(i)), None)
        if first is not None:
            rec.where[key] = f"{source}:{first.line}"
    interval = integer(rec.args.get("log_interval")) or _guess_interval(its)
    if interval:
        seen = {i.iteration for i in its}
        first = its[0].iteration
        expected = range(first, rec.last_iteration + 1, interval)
        rec.missing_iterations = [k for k in expected if k not in seen][:1000]
    # A resumed run logs some iterations again; anything else out of order means interleaved logs.
    back = [b for a, b in zip(its, its[1:]) if b.iteration <= a.iteration]
    rec.out_of_order = len(back)
    if back:
        rec.where["out_of_order"] = f"{source}:{back[0].line}"
    rec.final_losses = dict(its[-1].losses)


def _guess_interval(its: list[Iteration]) -> int | None:
    gaps = [b.iteration - a.iteration for a, b in zip(its, its[1:]) if b.iteration > a.iteration]
    return min(gaps) if gaps else None
