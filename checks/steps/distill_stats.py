"""distill: what is derived from the parsed lines, so that goldens can name it: the last iteration, tokens per
iteration, the steady time per iteration, counts of NaN / skipped / non-finite / dropped losses, consumed samples
against gbs x iteration, the learning rate against its schedule, missing iterations, and the loss trend.
Pure; called by checks.steps.distill.parse at the end of a log."""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checks.steps.distill import DistillRecord, Iteration

WINDOW = 0.1  # share of the logged iterations averaged at each end to judge whether the loss falls
# Counts of what went wrong, each with the first iteration it concerns (where the reader should look).
COUNTS = ("nan_iterations", "skipped_iterations", "nonfinite_losses", "dropped_loss_values", "iterations_without_loss",
          "consumed_samples_mismatches")


def expected_lr(n: int, lr: float, min_lr: float, warmup: int, decay: int) -> float:
    """Megatron-Bridge's warmup + cosine annealing (distill.py's optimizer config): linear from 0 to `lr` over
    `warmup` iterations, then cosine down to `min_lr` at `decay` (= train_iters), constant after."""
    if warmup > 0 and n <= warmup:
        return lr * n / warmup
    if n >= decay:
        return min_lr
    ratio = (n - warmup) / max(decay - warmup, 1)
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - min_lr)


def num_arg(rec: DistillRecord, key: str) -> float | None:
    v = rec.args.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _at(i: Iteration) -> str:
    return f"{i.src}:{i.line}"


def derive(rec: DistillRecord) -> None:
    """Fill the record's derived fields from its arguments and iterations."""
    its = rec.iterations
    gbs, seq = num_arg(rec, "gbs"), num_arg(rec, "seq_length")
    if gbs and seq:
        rec.tokens_per_iteration = int(gbs * seq)
        rec.where["tokens_per_iteration"] = rec.where.get("args", "")
    train_iters = num_arg(rec, "train_iters")
    rec.train_iters = int(train_iters) if train_iters else (its[-1].train_iters if its else None)
    if not its:
        return
    rec.last_iteration = its[-1].iteration
    for key in ("last_iteration", "final_losses", "iterations"):
        rec.where[key] = _at(its[-1])
    _steady_time(rec)
    names = set().union(*(i.losses for i in its))
    _counts(rec, len(names), int(gbs) if gbs else None)
    _lr_schedule(rec)
    _missing_and_order(rec)
    rec.final_losses = dict(its[-1].losses)
    _loss_trend(rec, names)


def _steady_time(rec: DistillRecord) -> None:
    """The median time per iteration. The first logged interval of each process includes start-up and compilation;
    it is not the steady state."""
    firsts = {s.first_iteration for s in rec.segments}
    steady = [i.ms_per_iter for i in rec.iterations if i.iteration not in firsts and i.ms_per_iter is not None
              and math.isfinite(i.ms_per_iter)]
    if steady:
        rec.median_ms_per_iter = statistics.median(steady)
        rec.minutes_per_1k_iters = rec.median_ms_per_iter * 1000 / 60_000


def _faults(i: Iteration, n_names: int, want: int | None) -> tuple[int, int, int, int, int, int]:
    """One iteration's share of each of COUNTS."""
    losses = i.losses
    bad = 0
    if losses and not math.isfinite(sum(losses.values())):  # a sum is finite only when every term is
        bad = sum(1 for v in losses.values() if not math.isfinite(v))
    return (i.nan, i.skipped, bad, max(0, n_names - len(losses)), 0 if losses else 1,
            int(want is not None and i.consumed_samples != want * i.iteration))


def _counts(rec: DistillRecord, n_names: int, want: int | None) -> None:
    """One pass over the iterations for every count (a long run logs 10^5 of them), each with its first iteration."""
    totals = [0] * len(COUNTS)
    first: dict[str, Iteration] = {}
    for i in rec.iterations:
        for k, n in enumerate(_faults(i, n_names, want)):
            if n:
                totals[k] += n
                first.setdefault(COUNTS[k], i)
    for key, total in zip(COUNTS, totals):
        if key != "consumed_samples_mismatches" or want is not None:
            setattr(rec, key, total)
        if key in first:
            rec.where[key] = _at(first[key])


def _lr_schedule(rec: DistillRecord) -> None:
    lr, min_lr, warmup = num_arg(rec, "lr"), num_arg(rec, "min_lr"), num_arg(rec, "lr_warmup_iters")
    decay = num_arg(rec, "lr_decay_iters") or num_arg(rec, "train_iters")
    if lr is None or min_lr is None or warmup is None or not decay:
        return
    worst, worst_it, skipped = 0.0, None, 0
    for i in rec.iterations:
        if i.lr is None:
            continue
        want = expected_lr(i.iteration - skipped, lr, min_lr, int(warmup), int(decay))
        skipped += i.skipped  # skipped updates do not advance the schedule
        err = abs(i.lr - want) / max(abs(want), 1e-30) if math.isfinite(i.lr) else math.inf
        if err > worst:
            worst, worst_it = err, i
    rec.lr_schedule_max_rel_error = worst
    if worst_it is not None:
        rec.where["lr_schedule_max_rel_error"] = _at(worst_it)


def _missing_and_order(rec: DistillRecord) -> None:
    """Iterations the log interval says should have been logged and were not; iterations logged out of order."""
    its = rec.iterations
    interval = num_arg(rec, "log_interval") or _guess_interval(its)
    if interval:
        seen = {i.iteration for i in its}
        rec.missing_iterations = [k for k in range(its[0].iteration, rec.last_iteration + 1, int(interval))
                                  if k not in seen][:1000]
    back = [b for a, b in zip(its, its[1:]) if b.iteration <= a.iteration]
    rec.out_of_order = len(back)
    if back:
        rec.where["out_of_order"] = _at(back[0])


def _loss_trend(rec: DistillRecord, names: set[str]) -> None:
    main = next((n for n in ("total loss", "lm loss") if n in names), min(names) if names else None)
    if main is None:
        return
    rec.main_loss = main
    vals = [i.losses[main] for i in rec.iterations if main in i.losses and math.isfinite(i.losses[main])]
    k = max(1, int(len(vals) * WINDOW))
    if len(vals) >= 2 * k and len(vals) >= 4:
        first, last = statistics.fmean(vals[:k]), statistics.fmean(vals[-k:])
        rec.loss_reduction = first / last if last > 0 else math.inf


def _guess_interval(its: list[Iteration]) -> int | None:
    gaps = [b.iteration - a.iteration for a, b in zip(its, its[1:]) if b.iteration > a.iteration]
    return min(gaps) if gaps else None
