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

from checks import rulekit, rundir
from checks.errors import FormatNotRecognised
from checks.findings import Finding
from checks.hfckpt import HFCheckpoint
from checks.logread import Line, keep_trouble, text_lines, trouble
from checks.stepdef import ConfigSource, Kit, PathUse, Rule, Step
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


class _State:
    """What the parser carries from line to line."""

    def __init__(self, source: str) -> None:
        self.rec, self.source = PruneRecord(), source
        self.plain = self.rich = self.one_indexed = self.prelude = self.in_args = False
        self.scored: list[Candidate] | None = None  # the "Top N candidates with scores:" block being read
        self.blocks = self.pruning = 0

    def at(self, key: str, no: int) -> None:
        self.rec.where[key] = f"{self.source}:{no}"


def _limits(st: _State, m: re.Match, no: int) -> None:
    st.rec.width_pct, st.rec.depth_pct = int(m.group(1)), int(m.group(2))
    st.at("width_pct", no), st.at("depth_pct", no)


def _skipped(st: _State, m: re.Match, no: int) -> None:
    st.rec.skipped_hparams = str_list(m.group(1))
    st.at("skipped_hparams", no)


def _space(st: _State, m: re.Match, no: int) -> None:
    v = int_list(m.group(2))
    if v is not None:
        st.rec.search_space[m.group(1)] = v
        st.at(f"search_space.{m.group(1)}", no)
        st.plain = True


def _total(st: _State, m: re.Match, no: int) -> None:
    st.rec.total_search_space = int(m.group(1))
    st.at("total_search_space", no)
    st.plain = True


def _scored_header(st: _State, m: re.Match, no: int) -> None:
    st.scored = st.rec.candidates = []
    st.rec.searches += 1
    st.at("candidates", no), st.at("searches", no)
    st.plain = True


def _best(st: _State, c: tuple[Candidate, bool], no: int) -> None:
    st.rec.best_subnet = c[0]
    st.rec.best_subnets_printed += 1
    st.at("best_subnet", no)


def _dropped(st: _State, m: re.Match, no: int) -> None:
    st.rec.dropped_layers = int_list(m.group(1))  # the last one printed is the final pruning
    st.one_indexed = bool(m.group(2))
    st.at("dropped_layers", no)


def _pattern(st: _State, m: re.Match, no: int) -> None:
    key = "original_pattern" if m.group(1) == "Original" else "pruned_pattern"
    setattr(st.rec, key, m.group(2))
    st.at(key, no)


def _params(st: _State, m: re.Match, no: int) -> None:
    key = "original_params" if m.group(1) == "Original" else "pruned_params"
    setattr(st.rec, key, hrb(m.group(2)))
    st.at(key, no)


def _saved(st: _State, m: re.Match, no: int) -> None:
    st.rec.saved_to = m.group(1)
    st.at("saved_to", no)


def _done(st: _State, m: object, no: int) -> None:
    st.rec.completed = True
    st.at("completed", no)


# (a substring every such line holds, what reads it, what it sets): the first that matches takes the line.
_LINES = (
    ("Only considering", _LIMITS.search, _limits),
    ("hparams_to_skip=", _SKIP.search, _skipped),
    ("Search space for", _SPACE.match, _space),
    ("Total search space", _TOTAL.match, _total),
    ("candidates with scores:", _SCORED_HEADER.match, _scored_header),
    ("[BEST SUBNET]", lambda line: _candidate(line) if line.lstrip().startswith("[BEST SUBNET]") else None, _best),
    ("Dropping decoder layers", _DROP.search, _dropped),
    ("_pattern:", _PATTERN.match, _pattern),
    ("model params:", _MODEL_PARAMS.match, _params),
    ("Saved pruned model to", _SAVED.search, _saved),
    ("Done!", lambda line: line.strip() == "Done!" or None, _done),
)


def _args_line(st: _State, line: str) -> None:
    """A line of the arguments block (only the first block's values are kept; a later one is another run)."""
    if line.strip().startswith("====="):
        st.in_args = False
    elif st.blocks == 1 and (m := _ARG.match(line.strip())):
        v = literal(m.group(2))
        st.rec.args[m.group(1)] = m.group(2) if v is None else v


def _scored_line(st: _State, line: str, no: int) -> bool:
    """A candidate of the scored list being read (True), or the end of that list (False)."""
    c = _candidate(line)
    if c is None:
        st.scored = None
        return False
    st.scored.append(c[0])
    if c[1]:
        _best(st, c, no)
    return True


def _line(st: _State, item: Line) -> None:
    no, line = item.no, item.text
    if "=== Arguments ===" in line:
        st.in_args, st.blocks = True, st.blocks + 1
        if st.blocks == 1:
            st.at("args", no)
        return
    if st.in_args:
        _args_line(st, line)
        return
    if line.startswith("Pruning model (showing PP rank"):
        st.pruning += 1
        if st.pruning > 1:
            st.at("starts", no)
    if st.scored is not None and _scored_line(st, line, no):
        return
    st.prelude = st.prelude or any(p in line for p in _PRELUDE)
    for needle, read, handle in _LINES:
        if needle in line and (m := read(line)):
            handle(st, m, no)
            return
    if trouble(line):
        keep_trouble(st.rec, f"{item.src or st.source}:{no}", line)


def _format(st: _State) -> None:
    """The log format, from what matched (format_evidence says what)."""
    rec = st.rec
    patterns = rec.original_pattern is not None or rec.pruned_pattern is not None
    if st.plain:
        rec.format, rec.format_evidence = "modelopt-0.44", ["plain search-space or candidate lines"]
    elif st.rich:
        rec.format_evidence = ["rich tables/panels"] + (["(1-indexed) layer line"] if st.one_indexed else []) + \
            (["hybrid pattern lines"] if patterns else ["no hybrid pattern lines"])
        rec.format = "modelopt-0.46" if st.one_indexed or not patterns else "modelopt-0.45"


def parse(lines: Iterable[Line], source: str = "step.log") -> PruneRecord:
    """Parse a prune_minitron.py log. Raises FormatNotRecognised if it is no pruning log at all."""
    st = _State(source)
    for item in rich_blocks(lines):
        if isinstance(item, RichTable):
            st.rich |= _read_table(st.rec, item, st.at)
        elif isinstance(item, Panel):
            st.rich |= _read_panel(st.rec, item, st.at)
        else:
            _line(st, item)
    rec = st.rec
    rec.starts = max(st.blocks, st.pruning)
    _format(st)
    rec.num_candidates = len(rec.candidates) if rec.candidates else None
    if "candidates" in rec.where:
        rec.where["num_candidates"] = rec.where["candidates"]
    if rec.format is None and not st.prelude:
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


# ---------------------------------------------------------------- the step, as the registry knows it


def load(run, sdir):
    """prune/step.log and the pruned checkpoint prune/hf/ (the pattern from its config.json when the log has none)."""
    log = sdir / rundir.LOG
    rec = parse(run.lines(log), run.rel(log))
    rec.checkpoint = run.checkpoint_into(sdir / rundir.PRUNE_CKPT, rec, "checkpoint")
    if rec.checkpoint is not None and rec.pruned_pattern is None:
        rec.pruned_pattern = rec.checkpoint.hybrid_override_pattern
        rec.where["pruned_pattern"] = run.rel(sdir / rundir.PRUNE_CKPT / "config.json")
    return rec


def one_run(run, data) -> list[Finding]:
    rec = data.record
    p = [f"{rec.searches} searches in one log"] if rec.searches > 1 else []
    p += [f"{rec.starts} runs began in one log (at {rec.where.get('starts', '?')})"] if rec.starts > 1 else []
    p += [f"{rec.best_subnets_printed} best subnets printed"] if rec.best_subnets_printed > 1 else []
    p += [f"failed after 'Done!': {rec.trouble_after_completion}"] if rec.trouble_after_completion else []
    return [rulekit.one_run("prune", "one_run", p, rec.where.get("searches", ""))]


def settings(run, data) -> list[Finding]:
    """prune_minitron.py's arguments block (when the log has one) against the recorded command."""
    command = rulekit.recorded_command(data, "prune")
    if not data.record.args or command is None:
        return []
    return [rulekit.echoed_settings("prune", data.record.args, command, all_echoed=False,
                                    where=data.record.where.get("args", ""),
                                    source="runner (step.json command) vs prune_minitron.py's arguments block")]


STEP = Step(
    name="prune", order=10, doc="Minitron pruning 9B -> 7B (prune_minitron.py): its log and the pruned HF checkpoint",
    record=PruneRecord, load=load, parse=parse, formats=FORMATS, completion=("completed", "searches"),
    rules=(Rule("one_run", one_run, rulekit.ONE_RUN, "one search, one best subnet, nothing failed after 'Done!'",
                completeness=True),
           Rule("settings_echoed_match_command", settings, "runner (step.json command) vs the arguments block",
                "each flag of the recorded command as the log's arguments block echoes it", completeness=True)),
    kit=Kit(outputs=("PRUNED_HF",)),
    config=(ConfigSource("command", "the recorded command"), ConfigSource("argparse", "prune_minitron.py at MODELOPT_REF"),
            ConfigSource("echo", "the arguments block of the log")),
    paths=(PathUse("prune/hf", "writes"),),
)
