"""bench: what vLLM echoed of its settings (non-default args, the engine config, the random dataset's lengths, the
prompts processed and the token totals) against the command the runner recorded. A rule of checks.steps.bench."""

from __future__ import annotations

from checks import rulekit
from checks.commands import command_flags, count
from checks.findings import ERROR, FAIL, PASS, Finding
from checks.runpaths import names, relative

SOURCE = "runner (step.json command) vs what vLLM echoed (non-default args, engine config, dataset, totals)"
# flag -> the setting vLLM echoes it as
ECHOED = (("--model", "model"), ("--kv-cache-dtype", "kv_cache_dtype"), ("--mamba_ssm_cache_dtype", "mamba_ssm_cache_dtype"),
          ("--load-format", "load_format"))
_UNKNOWN = object()


def check(run, data, variant: str, r) -> Finding:
    """One variant's settings finding: FAIL naming every difference, ERROR without a recorded command."""
    f = Finding("bench", f"{variant}_settings_echoed_match_command", ERROR, tolerance="exact", source=SOURCE)
    command = rulekit.recorded_command(data, f"bench/{variant}")
    if command is None:
        f.note = "step.json records no command to compare the log with"
        return f
    flags, s = command_flags(command), r.settings
    f.where = r.where.get("settings.model", r.where.get("completed", ""))
    problems = _echoed(run, flags, s) + _parallel_and_quantization(run, flags, s) + _workload(flags, s, r)
    f.expected = {k: v for k, v in flags.items() if k in ("--model", "--kv-cache-dtype", "--mamba_ssm_cache_dtype")}
    f.measured = {k: s.get(k) for k in ("model", "kv_cache_dtype", "mamba_ssm_cache_dtype")}
    f.status, f.note = (FAIL, "; ".join(problems)) if problems else (PASS, "")
    return f


def _echoed(run, flags: dict, s: dict) -> list[str]:
    """Each flag vLLM echoes back: the model served (a path of this run, by real path), the cache dtypes, the format."""
    out = []
    for flag, key in ECHOED:
        if flag not in flags:
            continue
        if key not in s:
            out.append(f"{flag}: vLLM did not echo {key}")
        elif key == "model" and not (s[key] == flags[flag] or names(run, str(s[key]), relative(run, str(flags[flag])))):
            out.append(f"{flag} {flags[flag]!r} but vLLM served {s[key]!r}")
        elif key != "model" and str(s[key]) != str(flags[flag]):
            out.append(f"{flag} {flags[flag]!r} but vLLM used {s[key]!r}")
    return out


def _parallel_and_quantization(run, flags: dict, s: dict) -> list[str]:
    out = []
    tp = flags.get("--tensor-parallel-size", flags.get("-tp", 1))
    if "tensor_parallel_size" in s and str(s["tensor_parallel_size"]) != str(tp):
        out.append(f"tensor parallel size {tp} asked, vLLM ran {s['tensor_parallel_size']}")
    quant = flags.get("--quantization")
    want = quant if isinstance(quant, str) else _quant_method(run, flags.get("--model"))
    have = None if s.get("quantization") in (None, "None") else str(s.get("quantization"))
    if want is not _UNKNOWN and "quantization" in s and have != want:
        out.append(f"the checkpoint served declares quantization {want}, vLLM ran with {have}")
    return out


def _quant_method(run, model: object):
    """The quantization a local checkpoint declares (config.json quantization_config.quant_method; None when it has
    none); _UNKNOWN for a hub id or a path that is gone."""
    cfg = run.config(model) if isinstance(model, str) and model.startswith("/") else None
    if cfg is None:
        return _UNKNOWN
    qc = cfg.get("quantization_config")
    return str(qc.get("quant_method")) if isinstance(qc, dict) and qc.get("quant_method") else None


def _workload(flags: dict, s: dict, r) -> list[str]:
    """The prompts processed and the token totals against --num-prompts and the random dataset's lengths."""
    n = count(flags, "--num-prompts", 1000)  # vLLM's default
    osl, isl = count(flags, "--random-output-len"), count(flags, "--random-input-len")
    out = [f"{n} prompts asked, {s['num_prompts']} processed"] if s.get("num_prompts") not in (None, n) else []
    if osl is not None:
        if s.get("output_len_range") not in (None, [osl, osl]):
            out.append(f"--random-output-len {osl} but output lengths {s['output_len_range']}")
        if r.output_tokens is not None and r.output_tokens != n * osl:
            out.append(f"{r.output_tokens} output tokens, {n} x {osl} = {n * osl} expected")
    if isl is not None:
        rng = s.get("input_len_range")
        if rng and not (rng[1] <= isl and rng[0] >= isl - 64):
            out.append(f"--random-input-len {isl} but input lengths {rng}")
        lo, hi = (rng if rng else [isl - 64, isl])
        if r.prompt_tokens is not None and not (n * lo <= r.prompt_tokens <= n * hi):
            out.append(f"{r.prompt_tokens} prompt tokens, not {n} x [{lo}, {hi}]")
    return out
