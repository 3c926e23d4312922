"""bench: `vllm bench throughput` runs, one per variant directory (bench/<variant>/step.log).

Printed by vllm/benchmarks/throughput.py:
  "Throughput: R requests/s, T total tokens/s, O output tokens/s"
  "Total num prompt tokens:  N" / "Total num output tokens:  N"
and, with --output-json, {elapsed_time, num_requests, total_num_tokens, requests_per_second,
tokens_per_second}. The weights' GPU memory comes from the model runner's log line
"Model loading took X GiB [memory ]and Y seconds" (older vLLM: "Loading model weights took X GB").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from checks import rundir
from checks.errors import CheckError, FormatNotRecognised
from checks.textparse import clean, number

_TPUT = re.compile(
    r"Throughput:\s*(\S+)\s+requests/s,\s*(\S+)\s+total tokens/s,\s*(\S+)\s+output tokens/s"
)
_PROMPT = re.compile(r"Total num prompt tokens:\s+(\d+)")
_OUTPUT = re.compile(r"Total num output tokens:\s+(\d+)")
_LOAD = re.compile(r"Model loading took\s+(\S+)\s+GiB(?: memory)? and\s+(\S+)\s+seconds")
_LOAD_V0 = re.compile(r"Loading model weights took\s+(\S+)\s+GB")
GIB_PER_GB = 1e9 / 2**30


@dataclass
class BenchRun:
    requests_per_s: float | None = None
    total_tokens_per_s: float | None = None
    output_tokens_per_s: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    model_loading_gib: float | None = None
    model_loading_s: float | None = None
    num_requests: int | None = None
    elapsed_s: float | None = None
    mean_input_len: float | None = None
    mean_output_len: float | None = None
    completed: bool = False


@dataclass
class BenchRecord:
    runs: dict[str, BenchRun] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def parse_log(text: str) -> BenchRun:
    """Pure: one `vllm bench throughput` log -> BenchRun. FormatNotRecognised if it has no vLLM lines."""
    run = BenchRun()
    seen = False
    for line in clean(text):
        if m := _TPUT.search(line):
            run.requests_per_s, run.total_tokens_per_s, run.output_tokens_per_s = (number(g) for g in m.groups())
            seen = True
        elif m := _PROMPT.search(line):
            run.prompt_tokens = int(m.group(1))
        elif m := _OUTPUT.search(line):
            run.output_tokens = int(m.group(1))
            run.completed = run.output_tokens_per_s is not None
        elif m := _LOAD.search(line):
            # One engine per run; several lines (e.g. a restart) -> keep the last.
            run.model_loading_gib, run.model_loading_s = number(m.group(1)), number(m.group(2))
            seen = True
        elif m := _LOAD_V0.search(line):
            gb = number(m.group(1))
            run.model_loading_gib = gb * GIB_PER_GB if gb is not None else None
            seen = True
    if not seen and not any("vllm" in l.lower() for l in clean(text)[:200]):
        raise FormatNotRecognised(
            "bench log format not recognised",
            expected="`vllm bench throughput` output ('Throughput: R requests/s, T total tokens/s, O output tokens/s')",
            found="no vLLM throughput or model-loading line",
            hint="check that this is a bench step's log; if vLLM changed its output, teach checks/steps/bench.py",
        )
    return run


def apply_json(run: BenchRun, doc: object) -> None:
    """Pure: fold --output-json results in; they carry num_requests, which the text does not."""
    if not isinstance(doc, dict):
        raise CheckError("bench result JSON is not an object", hint="rerun the bench step")
    n, el = doc.get("num_requests"), doc.get("elapsed_time")
    if isinstance(n, int) and n > 0:
        run.num_requests = n
        if run.prompt_tokens is not None:
            run.mean_input_len = run.prompt_tokens / n
        if run.output_tokens is not None:
            run.mean_output_len = run.output_tokens / n
    if isinstance(el, (int, float)):
        run.elapsed_s = float(el)


def load(path: Path) -> BenchRecord:
    """PATH: RUN_DIR/bench (every variant), one variant directory, or one log file."""
    path = Path(path)
    if path.is_file():
        return BenchRecord(runs={path.parent.name: parse_log(rundir.read_text(path))})
    if not path.is_dir():
        raise CheckError("bench path missing", where=str(path), expected="RUN_DIR/bench or a variant directory",
                         hint="run `make bench` or pass the right run directory")
    variants = [path] if (path / rundir.LOG).exists() else sorted(p for p in path.iterdir() if p.is_dir())
    rec = BenchRecord()
    for d in variants:
        try:
            run = parse_log(rundir.read_text(d / rundir.LOG))
            if (d / rundir.BENCH_JSON).exists():
                apply_json(run, rundir.read_json(d / rundir.BENCH_JSON))
            rec.runs[d.name] = run
        except CheckError as e:
            rec.errors[f"runs.{d.name}"] = e.render()
    return rec
