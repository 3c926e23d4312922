"""prune: ModelOpt Minitron search log (prune_minitron.py) and the exported HF checkpoint.

Log formats (ModelOpt modelopt/torch/prune/plugins/mcore_minitron.py):
- modelopt-0.44: plain lines ("\\tSearch space for ...", "Top 10 candidates with scores:", "[BEST SUBNET] ...").
- modelopt-0.45: rich tables ("Search Space", "Top N Candidates with Scores", a "Best Subnet" panel),
  "Original/Pruned hybrid_override_pattern" lines still printed.
- modelopt-0.46: as 0.45, but "Dropping decoder layers [...] (1-indexed) from model." and no
  hybrid pattern lines (the pattern is then read from the checkpoint's config.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from checks import rundir
from checks.errors import CheckError, FormatNotRecognised
from checks.hfckpt import HFCheckpoint, load_hf_checkpoint
from checks.textparse import clean, hrb, int_dict, int_list, literal, number, panel, rich_tables

FORMATS = ("modelopt-0.44", "modelopt-0.45", "modelopt-0.46")


@dataclass
class Candidate:
    config: dict[str, int]
    params: float | None
    score: float | None = None


@dataclass
class PruneRecord:
    format: str | None = None
    width_pct: int | None = None
    depth_pct: int | None = None
    skipped_hparams: list[str] | None = None
    search_space: dict[str, list[int]] = field(default_factory=dict)
    total_search_space: int | None = None
    candidates: list[Candidate] = field(default_factory=list)
    num_candidates: int | None = None
    best_subnet: Candidate | None = None
    dropped_layers: list[int] | None = None
    original_pattern: str | None = None
    pruned_pattern: str | None = None
    original_params: float | None = None
    pruned_params: float | None = None
    saved_to: str | None = None
    completed: bool = False
    checkpoint: HFCheckpoint | None = None
    errors: dict[str, str] = field(default_factory=dict)  # field -> why it could not be read


_LIMITS = re.compile(r"Only considering atmost (\d+)% for width and (\d+)% for depth pruning hparams")
_RICH_LIMITS = re.compile(r"≤(\d+)% width / ≤(\d+)% depth pruning")
_SKIP = re.compile(r"Skipping hparams_to_skip=(\[.*\]) during search space generation")
_SPACE = re.compile(r"^\s*Search space for (\w+): (\[.*\])\s*$")
_TOTAL = re.compile(r"^\s*Total search space in consideration: (\d+)\s*$")
_CAND = re.compile(
    r"^\s*(?P<best>\[BEST SUBNET\]\s*)?(?P<cfg>\{[^{}]*\})\s*->\s*(?P<params>[\d.]+\s*[KMBTPE]?)\s+params"
    r"(?:,\s*(?P<score>\S+)\s+score)?\s*(?P<tag>\[BEST SUBNET\])?\s*$"
)
_SCORED_HEADER = re.compile(r"^\s*Top (\d+) candidates with scores:\s*$")
_DROP = re.compile(r"Dropping decoder layers (\[[\d,\s]*\])( \(1-indexed\))? from model\.")
_PATTERN = re.compile(r"^\s*(Original|Pruned) (?:hybrid_override_pattern|hybrid_layer_pattern): (\S+)\s*$")
_MODEL_PARAMS = re.compile(r"^\s*(Original|Pruned) model params: (\S+)\s*$")
_SAVED = re.compile(r"Saved pruned model to (\S+) in (?:HF|Megatron) checkpoint format")
_PRELUDE = ("prune_minitron", "Pruning model (showing PP rank0)", "Pruning constraints:", "hparams_to_skip")


def parse_log(text: str) -> PruneRecord:
    """Parse a prune_minitron.py log. Raises FormatNotRecognised if it is no pruning log at all."""
    lines = clean(text)
    rec = PruneRecord()
    rich = rich_tables(lines)
    plain = any(_SPACE.match(l) or _TOTAL.match(l) for l in lines)
    has_rich = any(re.search(r"Search Space|Top \d+ Candidates", " ".join(t.title)) for t in rich)
    if plain:
        rec.format = "modelopt-0.44"
    elif has_rich or panel(lines, "Best Subnet") is not None:
        rec.format = "modelopt-0.45"
    one_indexed = False
    scored_block: list[Candidate] | None = None
    for i, line in enumerate(lines):
        if m := _LIMITS.search(line):
            rec.width_pct, rec.depth_pct = int(m.group(1)), int(m.group(2))
        elif m := _SKIP.search(line):
            rec.skipped_hparams = _str_list(m.group(1))
        elif m := _SPACE.match(line):
            v = int_list(m.group(2))
            if v is not None:
                rec.search_space[m.group(1)] = v
        elif m := _TOTAL.match(line):
            rec.total_search_space = int(m.group(1))
        elif _SCORED_HEADER.match(line):
            scored_block = []
            for follow in lines[i + 1:]:
                c = _candidate(follow)
                if c is None:
                    break
                scored_block.append(c[0])
                if c[1]:
                    rec.best_subnet = c[0]
        elif line.lstrip().startswith("[BEST SUBNET]"):
            c = _candidate(line)
            if c:
                rec.best_subnet = c[0]
        elif m := _DROP.search(line):
            rec.dropped_layers = int_list(m.group(1))  # the last one printed is the final pruning
            one_indexed = bool(m.group(2))
        elif m := _PATTERN.match(line):
            if m.group(1) == "Original":
                rec.original_pattern = m.group(2)
            else:
                rec.pruned_pattern = m.group(2)
        elif m := _MODEL_PARAMS.match(line):
            setattr(rec, "original_params" if m.group(1) == "Original" else "pruned_params", hrb(m.group(2)))
        elif m := _SAVED.search(line):
            rec.saved_to = m.group(1)
        elif line.strip() == "Done!":
            rec.completed = True
    if scored_block is not None:
        rec.candidates = scored_block
    if rec.format == "modelopt-0.45" or has_rich:
        _read_rich(rec, lines, rich)
    if rec.format == "modelopt-0.45" and one_indexed:
        rec.format = "modelopt-0.46"
    rec.num_candidates = len(rec.candidates) if rec.candidates else None
    if rec.format is None and not any(p in line for line in lines for p in _PRELUDE):
        raise FormatNotRecognised(
            "prune log format not recognised",
            expected=f"output of prune_minitron.py in one of the formats {', '.join(FORMATS)}",
            found="none of their search-space, candidate or best-subnet lines",
            hint="check that this is the pruning step's log; if ModelOpt changed its log format, "
            "teach checks/steps/prune.py the new format",
        )
    return rec


def _str_list(s: str) -> list[str] | None:
    v = literal(s)
    return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None


def _candidate(line: str) -> tuple[Candidate, bool] | None:
    m = _CAND.match(line)
    if not m:
        return None
    cfg = int_dict(m.group("cfg"))
    if cfg is None:
        return None
    score = number(m.group("score")) if m.group("score") else None
    return Candidate(cfg, hrb(m.group("params")), score), bool(m.group("best") or m.group("tag"))


def _read_rich(rec: PruneRecord, lines: list[str], tables) -> None:
    for t in tables:
        title = " ".join(t.title)
        if "Search Space" in title:
            if m := _RICH_LIMITS.search(title):
                rec.width_pct, rec.depth_pct = int(m.group(1)), int(m.group(2))
            for row in t.rows:
                if len(row) < 2:
                    continue
                if row[0] == "Search space size":
                    rec.total_search_space = int(row[1]) if row[1].isdigit() else None
                elif (v := int_list(row[1])) is not None:
                    rec.search_space[row[0]] = v
        elif re.search(r"Top \d+ Candidates with Scores", title):
            cols = [h.lower() for h in t.header]
            cands = []
            for row in t.rows:
                if len(row) != len(cols):
                    continue
                cell = dict(zip(cols, row))
                cfg = int_dict(cell.get("export_config", ""))
                if cfg is None:
                    continue
                params = cell.get("params") or cell.get("active_params")
                cands.append(Candidate(cfg, hrb(params) if params else None, number(cell.get("score", ""))))
            rec.candidates = cands
    rows = panel(lines, "Best Subnet")
    if rows:
        kv = dict(rows)
        cfg = int_dict(kv.get("export_config", ""))
        if cfg is not None:
            params = kv.get("params") or kv.get("active_params")
            rec.best_subnet = Candidate(cfg, hrb(params) if params else None, number(kv.get("score", "")))


def load(path: Path) -> PruneRecord:
    """Parse the step's log; when PATH is the step directory, also read the exported checkpoint."""
    path = Path(path)
    rec = parse_log(rundir.read_text(rundir.step_log(path)))
    if path.is_dir():
        try:
            rec.checkpoint = load_hf_checkpoint(path / rundir.PRUNE_CKPT)
        except CheckError as e:
            rec.errors["checkpoint"] = e.render()
        else:
            if rec.pruned_pattern is None:
                rec.pruned_pattern = rec.checkpoint.hybrid_override_pattern
    return rec
