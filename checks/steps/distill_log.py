"""distill, its log: Megatron-Bridge training log of ModelOpt's examples/megatron_bridge/distill.py.

Lines read (Megatron-Bridge 0.3.0, the version nemo:26.02 ships; real pastes in tests/fixtures/real/megatron):
- distill.py's arguments block: "==================== Arguments ====================", one `key  value` line per
  argument (argparse order at ModelOpt 0.44.0, sorted from 0.45.0), a closing line of "=".
- iteration lines (train_utils.training_log): " [YYYY-mm-dd HH:MM:SS] iteration N/T | consumed samples: S |
  elapsed time per iteration (ms): X | learning rate: X.XXXXXXE-05 | global batch size: B | <loss>: X | ... |
  loss scale: X | grad norm: X | number of skipped iterations: K | number of nan iterations: K |". A loss is
  printed only when positive, so NaN (and, before Megatron-Bridge 0.4, zero) losses are missing from a line.
- memory: "[Rank R] (after N iterations) memory (GB) | key: v | ..." (or "(MB)" in Megatron-LM).
- checkpoints: "successfully saved checkpoint from iteration N to ...", " loading distributed checkpoint from
  ... at iteration N" (a resume), and "Distillation done! ..." after the last iteration.

One run per log: a resume from the run's own checkpoint continues the same run (the iterations after the
resume point replace those logged before the failure); a restart from scratch, or a traceback or `Killed`
after the completion line, is recorded with its line so the judge can say so. Only the known Megatron fields
and names ending in "loss" are read: another rank's print can land inside an iteration line, and such
foreign fragments are counted, never taken for a loss. The log is read with `logread.scan` (only lines
holding NEEDLES, plus the arguments block), so a log of gigabytes parses about as fast as a Python loop reads
it, in memory that grows with the iterations kept (~550 bytes each), not with the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.errors import CheckError, FormatNotRecognised
from checks.logread import TROUBLE_NEEDLES, Line, keep_trouble, text_lines, trouble
from checks.steps.distill_stats import derive
from checks.textparse import integer, literal, number

FORMATS = ("megatron-bridge",)
# Every checkpoint and memory line the parser reads says "iteration" too ("saved checkpoint from iteration N",
# "(after N iterations) memory (GB)"): searching for "checkpoint" or "memory (" as well would only add passes over
# the log and the lines that merely mention them (torch's activation-checkpointing warning, printed by every rank).
NEEDLES = ("iteration", "Distillation done!", *TROUBLE_NEEDLES)
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
    src: str = ""


@dataclass
class Segment:
    """One process's part of the log: from its start (arguments block or resume) to the next."""

    where: str
    resumed_from: int | None = None
    first_iteration: int | None = None
    last_iteration: int | None = None


@dataclass
class DistillRecord:
    format: str | None = None
    args: dict[str, object] = field(default_factory=dict)
    iterations: list[Iteration] = field(default_factory=list)
    memory_gb: dict[str, float] = field(default_factory=dict)  # peak of each reported key
    checkpoints: list[int] = field(default_factory=list)
    completed: bool = False
    segments: list[Segment] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)
    restarts_from_scratch: list[str] = field(default_factory=list)  # file:line of each: two runs in one log
    args_changed: list[str] = field(default_factory=list)  # a later arguments block that differs from the first
    trouble: list[str] = field(default_factory=list)  # "file:line: text" of tracebacks, Killed, OOM (first 10)
    trouble_after_completion: str | None = None
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
    iterations_without_loss: int = 0
    foreign_fragments: int = 0  # text of other ranks found inside iteration lines (not taken as values)
    missing_iterations: list[int] = field(default_factory=list)
    out_of_order: int = 0
    consumed_samples_mismatches: int = 0  # iterations whose consumed samples != gbs x iteration
    lr_schedule_max_rel_error: float | None = None  # against warmup + cosine decay from the arguments
    main_loss: str | None = None
    loss_reduction: float | None = None  # mean of the first WINDOW of the main loss / mean of the last
    final_losses: dict[str, float] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


_ITER = re.compile(r"\biteration\s+(\d+)\s*/\s*(\d+)\s*\|(.*)$")
_ARG = re.compile(r"^(\w+)\s{2,}(.*?)\s*$")
_MEM = re.compile(r"\(after (\d+) iterations\) memory \((GB|MB)\)((?:\s*\|\s*[\w -]+:\s*[^|]+)+)")
_SAVED = re.compile(r"successfully saved checkpoint from iteration\s+(\d+)")
_LOADED = re.compile(r"loading (?:release )?distributed checkpoint from \S+ at iteration\s+(\d+)")
_DONE = "Distillation done!"
_KNOWN = {
    "consumed samples", "skipped samples", "elapsed time per iteration (ms)", "throughput per GPU (TFLOP/s/GPU)",
    "energy per GPU (J/iter/GPU)", "power per GPU (W/GPU)", "learning rate", "decoupled learning rate",
    "global batch size", "loss scale", "grad norm", "num zeros", "params norm", "max attention logit",
    "number of skipped iterations", "number of nan iterations", "tokens per second per GPU", "tokens/sec/GPU",
    "consumed tokens", "actual seqlen", "samples per second", "TFLOPs",
}
_NUMERIC = re.compile(r"^[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf|NaN|INF|NAN|Inf)$")


def parse_log(text: str, source: str = "step.log") -> DistillRecord:
    return parse(text_lines(text), source)


class _State:
    """What the parser carries from line to line."""

    __slots__ = ("rec", "source", "in_args", "seg", "loaded", "shared")

    def __init__(self, source: str) -> None:
        self.rec, self.source = DistillRecord(), source
        self.in_args = False
        self.seg: Segment | None = None
        self.loaded: int | None = None  # a resume seen since the segment's last iteration
        self.shared: dict = {}  # one object for the values every iteration line repeats (loss names, train_iters, gbs)

    def new_segment(self, at: str) -> None:
        self.seg = Segment(at)
        self.rec.segments.append(self.seg)


def parse(lines: Iterable[Line], source: str = "step.log") -> DistillRecord:
    """Parse one distillation (one file, or a step's attempts chained: each Line then names its file)."""
    st = _State(source)
    rec = st.rec
    for ln in lines:
        line = ln.text
        # Iteration lines are most of what a long log yields: judged first, inline, as the branches below would have them.
        if not st.in_args and "iteration" in line and "=== Arguments ===" not in line and (m := _ITER.search(line)):
            n = int(m.group(1))
            if st.seg is None or st.seg.first_iteration is None:
                _first_iteration(st, n, f"{ln.src or source}:{ln.no}")
            it = _iteration(rec, n, int(m.group(2)), m.group(3), ln.no, ln.src or source, st.shared)
            if it is not None:
                rec.iterations.append(it)
                st.seg.last_iteration = n
            continue
        _other(st, line, f"{ln.src or source}:{ln.no}")
    rec.checkpoints = sorted(set(rec.checkpoints))
    if rec.iterations:
        rec.format = "megatron-bridge"
    elif not rec.args and not rec.segments:
        _no_run(rec)
    derive(rec)
    return rec


def _first_iteration(st: _State, n: int, at: str) -> None:
    if st.seg is None:
        st.new_segment(at)
    _segment_starts(st.rec, st.seg, n, st.loaded, at)
    st.loaded = None


def _other(st: _State, line: str, at: str) -> None:
    """Every line that is no iteration line: the arguments block, checkpoints saved or loaded, memory, the end."""
    rec, s = st.rec, line.strip()
    if "=== Arguments ===" in s:
        st.in_args = True
        st.new_segment(at)
        if not rec.args:
            rec.where["args"] = at
    elif st.in_args:
        _argument(st, s, at)
    elif "iteration" in line and _checkpoint_or_memory(st, line, at):
        return
    elif _DONE in s:
        rec.completed = True
        rec.where["completed"] = at
    elif trouble(line):
        keep_trouble(rec, at, s)


def _argument(st: _State, s: str, at: str) -> None:
    """A line of an arguments block: a later block's value that differs from the first's is a change of arguments."""
    rec = st.rec
    if s.startswith("====="):
        st.in_args = False
    elif m := _ARG.match(s):
        v = literal(m.group(2))
        key, v = m.group(1), m.group(2) if v is None else v
        if key in rec.args and rec.args[key] != v:
            rec.args_changed.append(f"{key}: {rec.args[key]!r} -> {v!r} at {at}")
        rec.args.setdefault(key, v)
        rec.where.setdefault(f"args.{key}", at)


def _checkpoint_or_memory(st: _State, line: str, at: str) -> bool:
    """A checkpoint saved or loaded (a resume), or a memory report: True when the line was one."""
    rec = st.rec
    if "checkpoint" in line and (m := _SAVED.search(line)):
        rec.checkpoints.append(int(m.group(1)))
        rec.where["checkpoints"] = at
    elif "checkpoint" in line and (m := _LOADED.search(line)):
        st.loaded = int(m.group(1))
        if st.seg is None or st.seg.first_iteration is not None:  # a resume without a new arguments block
            st.new_segment(at)
    elif "memory (" in line and (m := _MEM.search(line)):
        _memory(rec, m.group(3), m.group(2))
        rec.where.setdefault("memory_gb", at)
    else:
        return False
    return True


def _no_run(rec: DistillRecord) -> None:
    """A log with neither an arguments block nor an iteration: a failure before either, or no distillation log."""
    if rec.trouble:
        raise CheckError("the distillation failed before it logged its arguments or an iteration",
                         where=rec.trouble[0].split(": ", 1)[0], found=rec.trouble[0].split(": ", 1)[1],
                         hint="see the log around that line, fix the cause and rerun `make distill`")
    raise FormatNotRecognised(
        "distill log format not recognised",
        expected="Megatron-Bridge training lines (' iteration N/T | consumed samples: ...')",
        found="no iteration line and no distill.py arguments block",
        hint="check that this is the distillation step's log; if Megatron-Bridge changed its "
        "log format, teach checks/steps/distill_log.py the new format",
    )


def _segment_starts(rec: DistillRecord, seg: Segment, n: int, loaded: int | None, at: str) -> None:
    """The first iteration of a segment: a resume replaces what was logged after its resume point; a
    start from scratch after earlier iterations is a second run in the same log."""
    seg.first_iteration = n
    if loaded is not None:
        seg.resumed_from = loaded
        rec.resumed_from.append(loaded)
        while rec.iterations and rec.iterations[-1].iteration > loaded:
            rec.iterations.pop()
        rec.checkpoints = [c for c in rec.checkpoints if c <= loaded]
    elif rec.iterations and n <= rec.iterations[-1].iteration:
        rec.restarts_from_scratch.append(seg.where)
        rec.where.setdefault("restarts_from_scratch", seg.where)


def _memory(rec: DistillRecord, text: str, unit: str) -> None:
    scale = 1 / 1024 if unit == "MB" else 1.0
    for part in text.split("|"):
        if ":" in part:
            k, v = part.split(":", 1)
            x = number(v)
            if x is not None:
                k = k.strip()
                rec.memory_gb[k] = max(x * scale, rec.memory_gb.get(k, x * scale))


def _float(v: str) -> float | None:
    """textparse.number, with its work skipped when float() takes the text as it is (no comma: the same value)."""
    try:
        return float(v)
    except ValueError:
        return number(v)


def _int(v: str | None) -> int | None:
    """textparse.integer, likewise."""
    try:
        return int(v)
    except (ValueError, TypeError):
        return integer(v)


def _iteration(rec: DistillRecord, n: int, total: int, rest: str, no: int, src: str,
               shared: dict | None = None) -> Iteration | None:
    # The hot loop of a long log (one call per iteration line): what textparse.number and integer would do,
    # without their copies where float() and int() already take the text (they strip whitespace themselves).
    shared = {} if shared is None else shared
    fields: dict[str, str] = {}
    losses: dict[str, float] = {}
    foreign = 0
    known, numeric = _KNOWN, _NUMERIC.match
    for part in rest.split("|"):
        k, colon, v = part.rpartition(":")
        if not colon:
            if part and not part.isspace():
                foreign += 1
            continue
        k = k.strip()
        if k in known:
            fields[k] = v
        elif k.endswith("loss") and numeric(v := v.strip()):
            losses[shared.setdefault(k, k)] = float(v)  # _NUMERIC text is float() text
        else:
            foreign += 1
    rec.foreign_fragments += foreign
    if "consumed samples" not in fields:
        return None
    get = fields.get
    gbs = _int(get("global batch size"))
    ms, lr, tflops, grad = (get("elapsed time per iteration (ms)"), get("learning rate"),
                            get("throughput per GPU (TFLOP/s/GPU)"), get("grad norm"))
    skipped, nan = get("number of skipped iterations"), get("number of nan iterations")
    return Iteration(
        iteration=n,
        train_iters=shared.setdefault(total, total),
        consumed_samples=_int(fields["consumed samples"]),
        ms_per_iter=None if ms is None else _float(ms),
        lr=None if lr is None else _float(lr),
        global_batch_size=shared.setdefault(gbs, gbs),
        losses=losses,
        tflops_per_gpu=None if tflops is None else _float(tflops),
        grad_norm=None if grad is None else _float(grad),
        skipped=(None if skipped is None else _int(skipped)) or 0,
        nan=(None if nan is None else _int(nan)) or 0,
        line=no,
        src=src,
    )
