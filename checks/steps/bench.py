"""bench: `vllm bench throughput` runs, one per variant directory (bench/<variant>/step.log).

Printed by vllm/benchmarks/throughput.py:
  "Throughput: R requests/s, T total tokens/s, O output tokens/s"
  "Total num prompt tokens:  N" / "Total num output tokens:  N"
and, with --output-json, {elapsed_time, num_requests, total_num_tokens, requests_per_second,
tokens_per_second}. The weights' GPU memory comes from the model runner's log line
"Model loading took X GiB [memory ]and Y seconds" (older vLLM: "Loading model weights took X GB").
Every result and every loading line is kept; the judge decides what several of them mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.errors import CheckError, FormatNotRecognised
from checks.logread import Line, text_lines
from checks.textparse import number

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
    results: int = 0  # throughput lines printed
    loading_lines: int = 0
    where: dict[str, str] = field(default_factory=dict)


@dataclass
class BenchRecord:
    runs: dict[str, BenchRun] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def parse_log(text: str, source: str = "step.log") -> BenchRun:
    return parse(text_lines(text), source)


def parse(lines: Iterable[Line], source: str = "step.log") -> BenchRun:
    """Pure: one `vllm bench throughput` log -> BenchRun. FormatNotRecognised if it has no vLLM lines."""
    run = BenchRun()
    at = lambda key, no: run.where.__setitem__(key, f"{source}:{no}")  # noqa: E731
    seen = vllm_named = False
    for ln in lines:
        line, no = ln.text, ln.no
        if not vllm_named and no <= 200 and "vllm" in line.lower():
            vllm_named = True
        if "Throughput:" in line and (m := _TPUT.search(line)):
            run.requests_per_s, run.total_tokens_per_s, run.output_tokens_per_s = (number(g) for g in m.groups())
            run.results += 1
            run.completed = False
            for k in ("requests_per_s", "total_tokens_per_s", "output_tokens_per_s", "results"):
                at(k, no)
            seen = True
        elif "Total num prompt tokens" in line and (m := _PROMPT.search(line)):
            run.prompt_tokens = int(m.group(1))
            at("prompt_tokens", no)
        elif "Total num output tokens" in line and (m := _OUTPUT.search(line)):
            run.output_tokens = int(m.group(1))
            run.completed = run.output_tokens_per_s is not None
            at("output_tokens", no), at("completed", no)
        elif "Model loading took" in line and (m := _LOAD.search(line)):
            run.model_loading_gib, run.model_loading_s = number(m.group(1)), number(m.group(2))
            run.loading_lines += 1
            at("model_loading_gib", no), at("model_loading_s", no)
            seen = True
        elif "weights took" in line and (m := _LOAD_V0.search(line)):
            gb = number(m.group(1))
            run.model_loading_gib = gb * GIB_PER_GB if gb is not None else None
            run.loading_lines += 1
            at("model_loading_gib", no)
            seen = True
    if not seen and not vllm_named:
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
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        run.num_requests = n
        if run.prompt_tokens is not None:
            run.mean_input_len = run.prompt_tokens / n
        if run.output_tokens is not None:
            run.mean_output_len = run.output_tokens / n
    if isinstance(el, (int, float)) and not isinstance(el, bool):
        run.elapsed_s = float(el)
