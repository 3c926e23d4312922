"""prune: ModelOpt Minitron search log (prune_minitron.py) and the exported HF checkpoint.

Log formats (ModelOpt modelopt/torch/prune/plugins/mcore_minitron.py):
- modelopt-0.44: plain lines ("\\tSearch space for ...", "Top 10 candidates with scores:", "[BEST SUBNET] ...").
- modelopt-0.45: rich tables ("Search Space", "Top N Candidates with Scores", a "Best Subnet" panel),
  "Original/Pruned hybrid_override_pattern" lines still printed.
- modelopt-0.46: as 0.45, but "Dropping decoder layers [...] (1-indexed) from model." and no
  hybrid pattern lines (the pattern is then read from the checkpoint's config.json).
From 0.45 "Original/Pruned Model Stats" panels give the parameter totals ("Total Parameters 31.58B"), and the
pattern lines may name the key hybrid_layer_pattern. The format is labelled by what matched (format_evidence):
rich tables with pattern lines are 0.45 (PR #1377); without them, or with "(1-indexed)", 0.46 (PRs #1938, #2005).
Real logs of each format: tests/fixtures/real/modelopt-prune (provenance beside them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.errors import FormatNotRecognised
from checks.hfckpt import HFCheckpoint
from checks.logread import Line, text_lines, trouble
from checks.textparse import Panel, RichTable, hrb, int_dict, int_list, literal, number, rich_blocks, str_list

FORMATS = ("modelopt-0.44", "modelopt-0.45", "modelopt-0.46")


@dataclass
class Candidate:
    config: dict[str, int]
    params: float | None
    score: float | None = None


@dataclass
class PruneRecord:
    format: str | None = None
    format_evidence: list[str] = field(default_factory=list)
    width_pct: int | None = None
    depth_pct: int | None = None
    skipped_hparams: list[str] | None = None
    search_space: dict[str, list[int]] = field(default_factory=dict)
    total_search_space: int | None = None
    candidates: list[Candidate] = field(default_factory=list)
    num_candidates: int | None = None
    best_subnet: Candidate | None = None
    best_subnets_printed: int = 0
    searches: int = 0  # scored candidate lists printed: one search per log, more means several runs in one log
    trouble: list[str] = field(default_factory=list)  # "file:line: text" of tracebacks, Killed, OOM (first 10)
    trouble_after_completion: str | None = None
    dropped_layers: list[int] | None = None
    original_pattern: str | None = None
    pruned_pattern: str | None = None
    original_params: float | None = None
    pruned_params: float | None = None
    saved_to: str | None = None
    completed: bool = False
    args: dict[str, object] = field(default_factory=dict)  # prune_minitron.py's arguments block, when printed
    starts: int = 0  # processes that began in this log (arguments blocks, "Pruning model" lines): one run per log
    checkpoint: HFCheckpoint | None = None
    where: dict[str, str] = field(default_factory=dict)  # record path -> "file:line" it was read from
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
_PATTERN = re.compile(r"^\s*(Original|Pruned) (?:hybrid_override_pattern|hybrid_layer_pattern):\s+(\S+)\s*$")
_MODEL_PARAMS = re.compile(r"^\s*(Original|Pruned) model params: (\S+)\s*$")
_SAVED = re.compile(r"Saved pruned model to (\S+) in (?:HF|Megatron) checkpoint format")
_ARG = re.compile(r"^(\w+)\s{2,}(.*?)\s*$")
_PRELUDE = ("prune_minitron", "Pruning model (showing PP rank0)", "Pruning constraints:", "hparams_to_skip")


def parse_log(text: str, source: str = "step.log") -> PruneRecord:
    return parse(text_lines(text), source)


def parse(lines: Iterable[Line], source: str = "step.log") -> PruneRecord:
    """Parse a prune_minitron.py log. Raises FormatNotRecognised if it is no pruning log at all."""
    rec = PruneRecord()
    at = lambda key, no: rec.where.__setitem__(key, f"{source}:{no}")  # noqa: E731
    plain = rich = one_indexed = prelude = False
    scored: list[Candidate] | None = None  # the "Top N candidates with scores:" block being read
    in_args = False
    blocks = pruning = 0
    for item in rich_blocks(lines):
        if isinstance(item, RichTable):
            rich |= _read_table(rec, item, at)
            continue
        if isinstance(item, Panel):
            rich |= _read_panel(rec, item, at)
            continue
        no, line = item.no, item.text
        if "=== Arguments ===" in line:
            in_args, blocks = True, blocks + 1
            at("args", no) if blocks == 1 else None
            continue
        if in_args:
            if line.strip().startswith("====="):
                in_args = False
            elif blocks == 1 and (m := _ARG.match(line.strip())):
                v = literal(m.group(2))
                rec.args[m.group(1)] = m.group(2) if v is None else v
            continue
        if line.startswith("Pruning model (showing PP rank"):
            pruning += 1
            at("starts", no) if pruning > 1 else None
        if scored is not None:
            c = _candidate(line)
            if c is not None:
                scored.append(c[0])
                if c[1]:
                    rec.best_subnet = c[0]
                    rec.best_subnets_printed += 1
                    at("best_subnet", no)
                continue
            scored = None
        if not prelude and any(p in line for p in _PRELUDE):
            prelude = True
        if "Only considering" in line and (m := _LIMITS.search(line)):
            rec.width_pct, rec.depth_pct = int(m.group(1)), int(m.group(2))
            at("width_pct", no), at("depth_pct", no)
        elif "hparams_to_skip=" in line and (m := _SKIP.search(line)):
            rec.skipped_hparams = str_list(m.group(1))
            at("skipped_hparams", no)
        elif "Search space for" in line and (m := _SPACE.match(line)):
            v = int_list(m.group(2))
            if v is not None:
                rec.search_space[m.group(1)] = v
                at(f"search_space.{m.group(1)}", no)
                plain = True
        elif "Total search space" in line and (m := _TOTAL.match(line)):
            rec.total_search_space = int(m.group(1))
            at("total_search_space", no)
            plain = True
        elif "candidates with scores:" in line and _SCORED_HEADER.match(line):
            scored = []
            rec.candidates = scored
            rec.searches += 1
            at("candidates", no)
            at("searches", no)
            plain = True
        elif "[BEST SUBNET]" in line and line.lstrip().startswith("[BEST SUBNET]"):
            c = _candidate(line)
            if c:
                rec.best_subnet = c[0]
                rec.best_subnets_printed += 1
                at("best_subnet", no)
        elif "Dropping decoder layers" in line and (m := _DROP.search(line)):
            rec.dropped_layers = int_list(m.group(1))  # the last one printed is the final pruning
            one_indexed = bool(m.group(2))
            at("dropped_layers", no)
        elif "_pattern:" in line and (m := _PATTERN.match(line)):
            key = "original_pattern" if m.group(1) == "Original" else "pruned_pattern"
            setattr(rec, key, m.group(2))
            at(key, no)
        elif "model params:" in line and (m := _MODEL_PARAMS.match(line)):
            key = "original_params" if m.group(1) == "Original" else "pruned_params"
            setattr(rec, key, hrb(m.group(2)))
            at(key, no)
        elif "Saved pruned model to" in line and (m := _SAVED.search(line)):
            rec.saved_to = m.group(1)
            at("saved_to", no)
        elif line.strip() == "Done!":
            rec.completed = True
            at("completed", no)
        elif trouble(line):
            where = f"{item.src or source}:{no}"
            if len(rec.trouble) < 10:
                rec.trouble.append(f"{where}: {line.strip()[:200]}")
            if rec.completed and rec.trouble_after_completion is None:
                rec.trouble_after_completion = f"{where}: {line.strip()[:200]}"
    rec.starts = max(blocks, pruning)
    patterns = rec.original_pattern is not None or rec.pruned_pattern is not None
    if plain:
        rec.format, rec.format_evidence = "modelopt-0.44", ["plain search-space or candidate lines"]
    elif rich:
        rec.format_evidence = ["rich tables/panels"] + (["(1-indexed) layer line"] if one_indexed else []) + \
            (["hybrid pattern lines"] if patterns else ["no hybrid pattern lines"])
        rec.format = "modelopt-0.46" if one_indexed or not patterns else "modelopt-0.45"
    rec.num_candidates = len(rec.candidates) if rec.candidates else None
    if "candidates" in rec.where:
        rec.where["num_candidates"] = rec.where["candidates"]
    if rec.format is None and not prelude:
        raise FormatNotRecognised(
            "prune log format not recognised",
            expected=f"output of prune_minitron.py in one of the formats {', '.join(FORMATS)}",
            found="none of their search-space, candidate or best-subnet lines",
            hint="check that this is the pruning step's log; if ModelOpt changed its log format, "
            "teach checks/steps/prune.py the new format",
        )
    return rec


def _candidate(line: str) -> tuple[Candidate, bool] | None:
    if "->" not in line:
        return None
    m = _CAND.match(line)
    if not m:
        return None
    cfg = int_dict(m.group("cfg"))
    if cfg is None:
        return None
    score = number(m.group("score")) if m.group("score") else None
    return Candidate(cfg, hrb(m.group("params")), score), bool(m.group("best") or m.group("tag"))


def _read_table(rec: PruneRecord, t: RichTable, at) -> bool:
    title = " ".join(t.title)
    if "Search Space" in title:
        if m := _RICH_LIMITS.search(title):
            rec.width_pct, rec.depth_pct = int(m.group(1)), int(m.group(2))
            at("width_pct", t.line), at("depth_pct", t.line)
        for row in t.rows:
            if len(row) < 2:
                continue
            if row[0] == "Search space size":
                rec.total_search_space = int(row[1]) if row[1].isdigit() else None
                at("total_search_space", t.line)
            elif (v := int_list(row[1])) is not None:
                rec.search_space[row[0]] = v
                at(f"search_space.{row[0]}", t.line)
        return True
    if re.search(r"Top \d+ Candidates with Scores", title):
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
        rec.searches += 1
        at("candidates", t.line)
        at("searches", t.line)
        return True
    return bool(re.search(r"Top \d+ Candidates", title))


def _read_panel(rec: PruneRecord, p: Panel, at) -> bool:
    if p.title in ("Original Model Stats", "Pruned Model Stats"):
        total = dict(p.rows).get("Total Parameters")
        key = "original_params" if p.title.startswith("Original") else "pruned_params"
        if total and hrb(total) is not None:
            setattr(rec, key, hrb(total))
            at(key, p.line)
        return True
    if "Best Subnet" not in p.title:
        return False
    kv = dict(p.rows)
    cfg = int_dict(kv.get("export_config", ""))
    if cfg is not None:
        params = kv.get("params") or kv.get("active_params")
        rec.best_subnet = Candidate(cfg, hrb(params) if params else None, number(kv.get("score", "")))
        rec.best_subnets_printed += 1
        at("best_subnet", p.line)
    return True
