"""bench: `vllm bench throughput` runs, one per variant directory (bench/<variant>/step.log).

Printed by vllm/benchmarks/throughput.py (same f-strings from 0.10 to 0.21): "Throughput: R requests/s, T total
tokens/s, O output tokens/s", "Total num prompt tokens:  N", "Total num output tokens:  N"; with --output-json
{elapsed_time, num_requests, total_num_tokens, requests_per_second, tokens_per_second}.

The weights' GPU memory, per process, in every form vLLM has printed it (real lines in
tests/fixtures/real/vllm/weight_lines; each value is bytes / 2**30, whatever the label says):
  <= 0.7.3   "Loading model weights took X GB"
  0.8.2      "Model loading took X GB and Y seconds"
  0.8.3-0.11 "Model loading took X GiB and Y seconds"
  >= 0.13    "Model loading took X GiB memory and Y seconds"
Every loading line and every result is kept: several results in one log are repeats the step declared, or
two runs in one log; the loader and the judge decide which. Settings are read where vLLM echoes them: the
engine's "non-default args: {...}", its "Initializing a V1 LLM engine (vX) with config: model=..., kv_cache_dtype=...",
the random dataset's "Sampling input_len from [a, b] and output_len from [c, d]" and the prompt progress bar.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks import plots, rulekit, rundir
from checks.errors import CheckError, FormatNotRecognised
from checks.findings import Finding
from checks.logread import Line, text_lines, trouble
from checks.stepdef import ConfigSource, Kit, Live, PathUse, Rule, Step
from checks.steps import bench_settings
from checks.textparse import literal, number

_TPUT = re.compile(r"Throughput:\s*(\S+)\s+requests/s,\s*(\S+)\s+total tokens/s,\s*(\S+)\s+output tokens/s")
_TPUT_OLD = re.compile(r"Throughput:\s*(\S+)\s+requests/s,\s*(\S+)\s+tokens/s\s*$")
_PROMPT = re.compile(r"Total num prompt tokens:\s+(\d+)")
_OUTPUT = re.compile(r"Total num output tokens:\s+(\d+)")
_LOAD = re.compile(r"Model loading took\s+(\S+)\s+(GiB|GB)(?: memory)? and\s+(\S+)\s+seconds")
_LOAD_OLD = re.compile(r"Loading model weights took\s+(\S+)\s+GB")
_ARGS = re.compile(r"non-default args: (\{.*\})\s*$")
_ENGINE = re.compile(r"Initializing a V1 LLM engine \(v([^)]+)\) with config: (.*)$")
_SAMPLING = re.compile(r"Sampling input_len from \[(\d+), (\d+)\] and output_len from \[(\d+), (\d+)\]")
_PROMPTS_DONE = re.compile(r"Processed prompts: 100%.*?\b(\d+)/(\d+)\b")
_CONFIG_KEYS = ("model", "kv_cache_dtype", "quantization", "dtype", "load_format", "tensor_parallel_size")
NEW_FORMAT_SINCE = "vllm-project/vllm PR #8914 (2024); the kit's pinned vLLM prints it"


@dataclass
class Result:
    requests_per_s: float | None
    total_tokens_per_s: float | None
    output_tokens_per_s: float | None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    where: str = ""


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
    results: list[Result] = field(default_factory=list)  # every throughput result printed, in order
    declared_repeats: int = 1  # what the step said it would run (step.json `repeats`)
    output_tokens_per_s_cv: float | None = None  # spread of repeats: stdev / mean
    loadings_gib: list[float] = field(default_factory=list)  # every weight-loading line (TP ranks, restarts)
    vllm_version: str | None = None
    engines: int = 0  # "Initializing a V1 LLM engine" lines: one per process, so more than one is a restart
    settings: dict[str, object] = field(default_factory=dict)  # what vLLM echoed of its settings
    trouble: list[str] = field(default_factory=list)
    trouble_after_completion: str | None = None
    where: dict[str, str] = field(default_factory=dict)


@dataclass
class BenchRecord:
    runs: dict[str, BenchRun] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def parse_log(text: str, source: str = "step.log", repeats: int = 1) -> BenchRun:
    return parse(text_lines(text), source, repeats)


def parse(lines: Iterable[Line], source: str = "step.log", repeats: int = 1) -> BenchRun:
    """Pure: one `vllm bench throughput` log -> BenchRun. FormatNotRecognised if it has no vLLM lines, or only
    the old throughput line (no output tokens/s); CheckError if it holds another number of results than the
    `repeats` the step declared."""
    run = BenchRun(declared_repeats=repeats)
    seen = vllm_named = False
    old: str | None = None
    for ln in lines:
        line, no = ln.text, ln.no
        at = f"{ln.src or source}:{no}"
        if not vllm_named and no <= 200 and "vllm" in line.lower():
            vllm_named = True
        if "Throughput:" in line:
            if m := _TPUT.search(line):
                rps, tps, ops = (number(g) for g in m.groups())
                run.results.append(Result(rps, tps, ops, where=at))
                run.completed = False
                seen = True
            elif m := _TPUT_OLD.search(line):
                old = f"{at}: {line.strip()}"
        elif "Total num prompt tokens" in line and (m := _PROMPT.search(line)):
            if run.results:
                run.results[-1].prompt_tokens = int(m.group(1))
        elif "Total num output tokens" in line and (m := _OUTPUT.search(line)):
            if run.results:
                run.results[-1].output_tokens = int(m.group(1))
                run.completed = True
                run.where["completed"] = at
        elif "took" in line and ((m := _LOAD.search(line)) or (m := _LOAD_OLD.search(line))):
            gib = number(m.group(1))  # GiB in every version, "GB" labels included: vLLM divides by 2**30
            if gib is not None:
                run.loadings_gib.append(gib)
                run.where.setdefault("model_loading_gib", at)
                run.where["loadings_gib"] = at
            if m.re is _LOAD:
                run.model_loading_s = number(m.group(3))
            seen = True
        elif "non-default args:" in line and (m := _ARGS.search(line)):
            args = literal(m.group(1))
            if isinstance(args, dict):
                for k, v in args.items():
                    run.settings.setdefault(str(k), v)
                    run.where.setdefault(f"settings.{k}", at)
        elif "Initializing a V1 LLM engine" in line and (m := _ENGINE.search(line)):
            run.vllm_version = m.group(1)
            run.engines += 1
            run.where.setdefault("vllm_version", at)
            if run.engines > 1:
                run.where.setdefault("engines", at)
            for key in _CONFIG_KEYS:
                if km := re.search(rf"\b{key}=('[^']*'|[^,]+)", m.group(2)):
                    v = km.group(1).strip("'")
                    run.settings.setdefault(key, literal(v) if literal(v) is not None else v)
                    run.where.setdefault(f"settings.{key}", at)
        elif "Sampling input_len" in line and (m := _SAMPLING.search(line)):
            lo, hi, olo, ohi = (int(g) for g in m.groups())
            run.settings.update(input_len_range=[lo, hi], output_len_range=[olo, ohi])
            run.where["settings.input_len_range"] = run.where["settings.output_len_range"] = at
        elif "Processed prompts: 100%" in line and (m := _PROMPTS_DONE.search(line)):
            run.settings["num_prompts"] = int(m.group(2))
            run.where["settings.num_prompts"] = at
        elif trouble(line):
            if len(run.trouble) < 10:
                run.trouble.append(f"{at}: {line.strip()[:200]}")
            if run.completed and run.trouble_after_completion is None:
                run.trouble_after_completion = f"{at}: {line.strip()[:200]}"
    if old and not run.results:
        raise FormatNotRecognised(
            "bench log has the old throughput line", where=old.split(": ", 1)[0],
            expected="'Throughput: R requests/s, T total tokens/s, O output tokens/s' (" + NEW_FORMAT_SINCE + ")",
            found=old.split(": ", 1)[1] + " (no output tokens/s: the tutorial's figure cannot be read)",
            hint="run the bench with the kit's vLLM (make image-check shows its version)")
    if not seen and not vllm_named:
        raise FormatNotRecognised(
            "bench log format not recognised",
            expected="`vllm bench throughput` output ('Throughput: R requests/s, T total tokens/s, O output tokens/s')",
            found="no vLLM throughput or model-loading line",
            hint="check that this is a bench step's log; if vLLM changed its output, teach checks/steps/bench.py",
        )
    if run.loadings_gib:
        run.model_loading_gib = run.loadings_gib[-1]
    settle(run)
    return run


def settle(run: BenchRun) -> None:
    """The figures the goldens name: the one result, or the median of the declared repeats (with their CV).
    Raises CheckError when the log holds another number of results than the step declared."""
    n, want = len(run.results), run.declared_repeats
    if n == 0:
        return
    if n != want:
        where = run.results[-1].where
        raise CheckError(f"{n} results in one bench log, {want} declared", where=where,
                         expected=f"{want} (BENCH_REPEATS={want})" if want > 1 else "one `vllm bench throughput` result",
                         found=f"{n} 'Throughput:' lines: " + ", ".join(r.where for r in run.results),
                         hint="two runs in one log (a restart?) cannot be judged as one: rerun the step; to measure "
                              "the spread on purpose, run it with BENCH_REPEATS=N")
    last = run.results[-1]
    med = lambda k: statistics.median(getattr(r, k) for r in run.results) if all(  # noqa: E731
        getattr(r, k) is not None for r in run.results) else None
    run.requests_per_s, run.total_tokens_per_s = med("requests_per_s"), med("total_tokens_per_s")
    run.output_tokens_per_s = med("output_tokens_per_s")
    run.prompt_tokens, run.output_tokens = last.prompt_tokens, last.output_tokens
    for k in ("requests_per_s", "total_tokens_per_s", "output_tokens_per_s"):
        run.where[k] = last.where
    run.where["prompt_tokens"] = run.where["output_tokens"] = last.where
    if n > 1 and run.output_tokens_per_s:
        vals = [r.output_tokens_per_s for r in run.results]
        run.output_tokens_per_s_cv = statistics.stdev(vals) / statistics.fmean(vals)
    if run.num_requests is None and isinstance(run.settings.get("num_prompts"), int):
        set_requests(run, run.settings["num_prompts"])


def set_requests(run: BenchRun, n: int) -> None:
    run.num_requests = n
    if run.prompt_tokens is not None:
        run.mean_input_len = run.prompt_tokens / n
    if run.output_tokens is not None:
        run.mean_output_len = run.output_tokens / n


def apply_json(run: BenchRun, doc: object) -> None:
    """Pure: fold --output-json results in; they carry num_requests, which the text does not."""
    if not isinstance(doc, dict):
        raise CheckError("bench result JSON is not an object", hint="rerun the bench step")
    n, el = doc.get("num_requests"), doc.get("elapsed_time")
    if n is not None and not (isinstance(n, int) and not isinstance(n, bool) and n > 0):
        raise CheckError("bench result JSON: num_requests is not a positive integer", found=repr(n)[:80],
                         hint="vLLM writes it with --output-json; rerun the bench step")
    if el is not None and not (isinstance(el, (int, float)) and not isinstance(el, bool) and el > 0):
        raise CheckError("bench result JSON: elapsed_time is not a positive number", found=repr(el)[:80],
                         hint="vLLM writes it with --output-json; rerun the bench step")
    if n is not None:
        set_requests(run, n)
    if el is not None:
        run.elapsed_s = float(el)




# ---------------------------------------------------------------- the step, as the registry knows it


def load(run, sdir) -> BenchRecord:
    """One `vllm bench throughput` run per bench/<variant>/: its log, the repeats its step.json declared, and the
    --output-json result when there is one."""
    rec = BenchRecord()
    for d in run.subdirs(sdir):
        try:
            meta = run.meta(d / rundir.META).doc or {}
            repeats = meta.get("repeats", 1)
            repeats = repeats if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats > 0 else 1
            log = d / rundir.LOG
            one = parse(run.lines(log), run.rel(log), repeats)
            if (d / rundir.BENCH_JSON).exists():
                apply_json(one, run.json(d / rundir.BENCH_JSON, "bench result.json"))
            rec.runs[d.name] = one
            rec.where.update({f"runs.{d.name}.{k}": v for k, v in one.where.items()})
        except CheckError as e:
            rec.errors[f"runs.{d.name}"] = e.render()
    return rec


def one_run(run, data) -> list[Finding]:
    """Per variant: nothing failed after the totals, one engine start, one weight loading per GPU."""
    out = []
    for v, r in data.record.runs.items():
        p = [f"failed after its totals: {r.trouble_after_completion}"] if r.trouble_after_completion else []
        p += [f"the engine started {r.engines} times (again at {r.where.get('engines')}): a crash and a restart"] \
            if r.engines > 1 else []
        tp = r.settings.get("tensor_parallel_size")
        tp = tp if isinstance(tp, int) and not isinstance(tp, bool) and tp > 0 else 1
        p += [f"the weights were loaded {len(r.loadings_gib)} times by {tp} GPU(s) (last at {r.where.get('loadings_gib')}): "
              "a crash and a restart"] if len(r.loadings_gib) > tp and r.engines <= 1 else []
        out.append(rulekit.one_run("bench", f"{v}_one_run", p, r.where.get("completed", "")))
    return out


def settings(run, data) -> list[Finding]:
    """Per variant: what vLLM echoed (non-default args, engine config, dataset, totals) against the recorded command."""
    return [bench_settings.check(run, data, v, r) for v, r in data.record.runs.items()]


STEP = Step(
    name="bench", order=60, doc="`vllm bench throughput`, one run per bench/<variant>/ (7b-bf16, 7b-fp8, ...)",
    record=BenchRecord, load=load, parse=parse, variants="runs", per_variant=True, completion=("completed",),
    rules=(Rule("one_run", one_run, rulekit.ONE_RUN, "one engine start, one weight loading per GPU, nothing failed "
                "after the totals", per_variant=True, completeness=True),
           Rule("settings_echoed_match_command", settings, bench_settings.SOURCE,
                "model, cache dtypes, load format, parallelism, quantization, prompts and lengths as recorded",
                per_variant=True, completeness=True)),
    live=Live(early=("model_loading_gib",)),
    figure=plots.bench_figure,
    kit=Kit(repeatable=True),
    config=(ConfigSource("command", "the recorded command"), ConfigSource("echo", "vLLM's non-default args and engine config")),
    paths=(PathUse("bench/<variant>", "writes"),),
)
