"""Checks of what ran, beyond the goldens' values: the settings the tools echoed against the command the runner
recorded, one clean run per log, each step's input being the previous step's output (lineage, from the goldens'
`lineage:` section), and complete provenance. Pure: a loaded Run (and the goldens) in, findings out.

A FAIL here means the run is not the tutorial's (wrong settings, wrong model); an ERROR means it cannot be
judged as one run (two runs in one log, an unreadable or incomplete record)."""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shlex
from pathlib import Path

from checks.findings import ERROR, FAIL, PASS, SKIP, Finding
from checks.goldens import Goldens, Lineage
from checks.judge import Missing, resolve
from checks.run import Run, StepData

_CONT = re.compile(r"\\\n\s*")


# ---------------------------------------------------------------- the recorded command


def command_flags(command: str) -> dict[str, object]:
    """`--flag value` (a list for several values, True for a bare flag) and `-o key=value` of a command; for a
    `python|torchrun ... script.py` command, only the script's own flags (not the launcher's)."""
    try:
        words = shlex.split(_CONT.sub(" ", command))
    except ValueError:
        return {}
    out: dict[str, object] = {}
    script = next((k for k, w in enumerate(words) if w.endswith(".py")), None)
    i = script + 1 if script is not None else 0
    while i < len(words):
        w = words[i]
        if w == "-o" and i + 1 < len(words) and "=" in words[i + 1]:
            k, v = words[i + 1].split("=", 1)
            out[f"-o {k}"] = v
            i += 2
            continue
        if w.startswith("--") and len(w) > 2:
            key, _, inline = w.partition("=")
            vals = [inline] if inline else []
            j = i + 1
            while not inline and j < len(words) and not words[j].startswith("-") and words[j] not in (";", "&&"):
                vals.append(words[j])
                j += 1
            out[key] = True if not vals else vals[0] if len(vals) == 1 else vals
            i = j
            continue
        i += 1
    return out


def _meta_doc(data: StepData, unit: str) -> dict | None:
    for m in data.metas:
        rel_unit = "/".join(Path(m.rel).parts[:-1])
        if rel_unit == unit and m.doc is not None:
            return m.doc
    return None


def _same_value(echoed: object, given: object) -> bool:
    """A value as the tool echoed it against the command's text: numbers by value, lists item by item."""
    if isinstance(given, list) or isinstance(echoed, list):
        g = given if isinstance(given, list) else [given]
        e = echoed if isinstance(echoed, list) else [echoed]
        return len(g) == len(e) and all(_same_value(a, b) for a, b in zip(e, g))
    if given is True:
        return echoed is True
    if isinstance(echoed, bool):
        return str(given).lower() == str(echoed).lower()
    if isinstance(echoed, (int, float)):
        try:
            return math.isclose(float(given), float(echoed), rel_tol=1e-9, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return str(echoed) == str(given)


# ---------------------------------------------------------------- paths of the run


def names(run: Run, path: object, target: str) -> bool:
    """Does `path` (as a command or a log names it) denote RUN_DIR/target? Inside this run directory, by real
    path; else by the part after the run's own directory name (the manifest's run_id): a run copied or moved
    after it ran names its old place, and stays one run."""
    if not isinstance(path, str) or not path:
        return False
    want = run.path / target
    real_rel = os.path.relpath(os.path.realpath(want), run.path.resolve())
    if os.path.realpath(path).startswith(str(run.path.resolve()) + os.sep):
        return os.path.realpath(path) == os.path.realpath(want)
    for marker in {f"/{run.id}/", f"/{run.path.name}/"}:
        if marker in path:
            rel = path.split(marker, 1)[1].rstrip("/")
            if rel in (target.rstrip("/"), real_rel):
                return _same_output(path, want)
    return False


def _same_output(old_place: str, want: Path) -> bool:
    """A path outside this run naming it by its old place: where that place still exists it must hold what this run
    holds (the run was copied), not another run's output that happens to sit under a directory of the same name."""
    if not os.path.exists(old_place) or os.path.realpath(old_place) == os.path.realpath(want):
        return True  # moved (the old place is gone), or the same files
    if os.path.isdir(old_place) != os.path.isdir(want):
        return False
    if not os.path.isdir(want):
        return True
    a, b = _summary(os.path.realpath(old_place)), _summary(os.path.realpath(want))
    return a is not None and a == b


def _summary(path: str):
    """What makes two checkpoint directories the same output (cached per directory state)."""
    try:
        state = tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path)))
    except OSError:
        return None
    return _summary_of(path, state)


@functools.lru_cache(maxsize=64)
def _summary_of(path: str, state: tuple):
    from checks.errors import CheckError
    from checks.hfckpt import load_hf_checkpoint

    try:
        ck = load_hf_checkpoint(Path(path))
    except CheckError:
        return state  # not a checkpoint: the same files, by name and size
    return (tuple(sorted(ck.fingerprints.items())), tuple(sorted(ck.dtypes.items())), _arch(ck), ck.bytes)


def _rel(run: Run, p: str) -> str:
    return run.rel(Path(p)) if p.startswith(str(run.path)) else p


# ---------------------------------------------------------------- settings echoed vs recorded


def settings(run: Run, step: str, data: StepData) -> list[Finding]:
    rec = data.record
    if step == "distill":
        return distill_settings(run, data, rec)
    if step == "bench":
        return [f for v, r in rec.runs.items() for f in _bench_settings(run, data, v, r)]
    if step == "quantize":
        return [f for v, q in (rec.variants.items() if rec.variants else (("", rec),)) for f in _quantize_settings(data, v, q)]
    if step == "prune":
        return _prune_settings(data, rec)
    return []


def _quantize_settings(data: StepData, variant: str, q) -> list[Finding]:
    """--qformat as recorded against the quantization the exported checkpoint declares."""
    unit = f"quantize/{variant}" if variant else "quantize"
    doc = _meta_doc(data, unit)
    if not doc or not isinstance(doc.get("command"), str) or q.quant_algo is None:
        return []  # no command (the exit-code check says so) or no checkpoint (its own checks say so)
    qformat = command_flags(doc["command"]).get("--qformat")
    f = Finding("quantize", f"{variant + '_' if variant else ''}qformat_matches_export", PASS, tolerance="exact",
                expected=qformat, measured=q.quant_algo, where=q.where.get("quant_algo", ""),
                source="runner (step.json command --qformat) vs the export's quantization config")
    if isinstance(qformat, str) and q.quant_algo.lower() not in qformat.lower():
        f.status = FAIL
        f.note = f"the command asked for --qformat {qformat}, the checkpoint is {q.quant_algo}: not this command's export"
    return [f]


def _prune_settings(data: StepData, rec) -> list[Finding]:
    """prune_minitron.py's arguments block (when the log has one) against the recorded command."""
    doc = _meta_doc(data, "prune")
    if not rec.args or not doc or not isinstance(doc.get("command"), str):
        return []
    flags = {k[2:]: v for k, v in command_flags(doc["command"]).items() if k.startswith("--") and "${" not in str(v)}
    bad = [f"--{k} {v!r} but the log says {rec.args[k]!r}" for k, v in flags.items()
           if k in rec.args and not _same_value(rec.args[k], v)]
    f = Finding("prune", "settings_echoed_match_command", FAIL if bad else PASS, tolerance="exact",
                source="runner (step.json command) vs prune_minitron.py's arguments block", where=rec.where.get("args", ""),
                expected=f"{len(flags)} flags as recorded", measured=f"{len(flags) - len(bad)} matched")
    if bad:
        f.note = "; ".join(bad) + " — the log is not of the command the runner recorded"
    return [f]


def distill_settings(run: Run, data: StepData, rec) -> list[Finding]:
    f = Finding("distill", "settings_echoed_match_command", ERROR, source="runner (step.json command) vs distill.py's "
                "arguments block", tolerance="exact")
    doc = _meta_doc(data, "distill")
    if not doc or not isinstance(doc.get("command"), str):
        f.note = "step.json records no command to compare the log with"
        return [f]
    # a value the shell expands at run time (the DATA_BLEND prelude) cannot be compared with the recorded text
    flags = {k[2:]: v for k, v in command_flags(doc["command"]).items() if k.startswith("--") and "${" not in str(v)}
    if not rec.args:
        f.note = "the log has no arguments block (distill.py prints it on rank 0 before training)"
        return [f]
    bad = [f"--{k} {v!r} but the log says {rec.args[k]!r}" for k, v in flags.items()
           if k in rec.args and not _same_value(rec.args[k], v)]
    unknown = [f"--{k}" for k in flags if k not in rec.args]
    f.where = rec.where.get("args", "")
    f.expected, f.measured = f"{len(flags)} flags as recorded", f"{len(flags) - len(bad) - len(unknown)} matched"
    if bad or unknown:
        f.status = FAIL
        f.note = "; ".join(bad + ([f"not in the log's arguments: {', '.join(unknown)}"] if unknown else [])) + \
            " — the log is not of the command the runner recorded"
    else:
        f.status = PASS
    return [f, _iterations_match_args(rec)]


def _iterations_match_args(rec) -> Finding:
    """Every iteration line repeats the global batch size and train_iters: they must be the echoed arguments'."""
    gbs, total = rec.args.get("gbs"), rec.args.get("train_iters")
    bad = next((i for i in rec.iterations if (isinstance(gbs, int) and i.global_batch_size not in (None, gbs))
                or (isinstance(total, int) and i.train_iters != total)), None)
    f = Finding("distill", "iterations_match_arguments", PASS, tolerance="exact", expected={"gbs": gbs, "train_iters": total},
                source="Megatron-Bridge prints the global batch size and N/train_iters on every iteration line")
    if bad is not None:
        f.status, f.where = FAIL, f"{bad.src}:{bad.line}"
        f.measured = {"gbs": bad.global_batch_size, "train_iters": bad.train_iters}
        f.note = f"iteration {bad.iteration} ran with global batch size {bad.global_batch_size} of {bad.train_iters} " \
                 f"iterations; the arguments say {gbs} of {total}: not the run the arguments describe"
    return f


def _bench_settings(run: Run, data: StepData, variant: str, r) -> list[Finding]:
    unit = f"bench/{variant}"
    f = Finding("bench", f"{variant}_settings_echoed_match_command", ERROR, tolerance="exact",
                source="runner (step.json command) vs what vLLM echoed (non-default args, engine config, dataset, totals)")
    doc = _meta_doc(data, unit)
    if not doc or not isinstance(doc.get("command"), str):
        f.note = "step.json records no command to compare the log with"
        return [f]
    flags = command_flags(doc["command"])
    s = r.settings
    f.where = r.where.get("settings.model", r.where.get("completed", ""))
    problems = []
    for flag, key in (("--model", "model"), ("--kv-cache-dtype", "kv_cache_dtype"),
                      ("--mamba_ssm_cache_dtype", "mamba_ssm_cache_dtype"), ("--load-format", "load_format")):
        if flag not in flags:
            continue
        if key not in s:
            problems.append(f"{flag}: vLLM did not echo {key}")
        elif key == "model" and not (s[key] == flags[flag] or names(run, str(s[key]), _rel(run, str(flags[flag])))):
            problems.append(f"{flag} {flags[flag]!r} but vLLM served {s[key]!r}")
        elif key != "model" and str(s[key]) != str(flags[flag]):
            problems.append(f"{flag} {flags[flag]!r} but vLLM used {s[key]!r}")
    tp = flags.get("--tensor-parallel-size", flags.get("-tp", 1))
    if "tensor_parallel_size" in s and str(s["tensor_parallel_size"]) != str(tp):
        problems.append(f"tensor parallel size {tp} asked, vLLM ran {s['tensor_parallel_size']}")
    want_q = flags.get("--quantization") if isinstance(flags.get("--quantization"), str) else _quant_method(flags.get("--model"))
    have_q = None if s.get("quantization") in (None, "None") else str(s.get("quantization"))
    if want_q is not _UNKNOWN and "quantization" in s and have_q != want_q:
        problems.append(f"the checkpoint served declares quantization {want_q}, vLLM ran with {have_q}")
    n = _count(flags, "--num-prompts", 1000)  # vLLM's default
    osl, isl = _count(flags, "--random-output-len"), _count(flags, "--random-input-len")
    if s.get("num_prompts") not in (None, n):
        problems.append(f"{n} prompts asked, {s['num_prompts']} processed")
    if osl is not None:
        if s.get("output_len_range") not in (None, [osl, osl]):
            problems.append(f"--random-output-len {osl} but output lengths {s['output_len_range']}")
        if r.output_tokens is not None and r.output_tokens != n * osl:
            problems.append(f"{r.output_tokens} output tokens, {n} x {osl} = {n * osl} expected")
    if isl is not None:
        rng = s.get("input_len_range")
        if rng and not (rng[1] <= isl and rng[0] >= isl - 64):
            problems.append(f"--random-input-len {isl} but input lengths {rng}")
        lo, hi = (rng if rng else [isl - 64, isl])
        if r.prompt_tokens is not None and not (n * lo <= r.prompt_tokens <= n * hi):
            problems.append(f"{r.prompt_tokens} prompt tokens, not {n} x [{lo}, {hi}]")
    f.expected = {k: v for k, v in flags.items() if k in ("--model", "--kv-cache-dtype", "--mamba_ssm_cache_dtype")}
    f.measured = {k: s.get(k) for k in ("model", "kv_cache_dtype", "mamba_ssm_cache_dtype")}
    f.status, f.note = (FAIL, "; ".join(problems)) if problems else (PASS, "")
    return [f]


def _count(flags: dict[str, object], flag: str, default: int | None = None) -> int | None:
    """A flag's value when it is a plain count (digits only), else `default`."""
    v = str(flags.get(flag, ""))
    return int(v) if v.isdigit() else default


_UNKNOWN = object()


def _quant_method(model: object):
    """The quantization a local checkpoint declares (config.json quantization_config.quant_method; None when it has
    none); _UNKNOWN for a hub id or a path that is gone."""
    cfg = Path(model) / "config.json" if isinstance(model, str) and model.startswith("/") else None
    if cfg is None or not cfg.is_file():
        return _UNKNOWN
    try:
        doc = json.loads(cfg.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError):
        return _UNKNOWN
    qc = doc.get("quantization_config") if isinstance(doc, dict) else None
    return str(qc.get("quant_method")) if isinstance(qc, dict) and qc.get("quant_method") else None


# ---------------------------------------------------------------- one clean run per log


def one_run(step: str, data: StepData) -> list[Finding]:
    rec = data.record
    out = []

    def check(fid: str, problems: list[str], where: str = "") -> None:
        f = Finding(step, fid, ERROR if problems else PASS, expected="one complete run", tolerance="exact",
                    source="a log holds one clean, complete run (a resume from its own checkpoint is the same run)",
                    where=where)
        if problems:
            f.measured = "; ".join(problems)
            f.note = f.measured + " — rerun the step, or point at the attempt that ran cleanly"
        out.append(f)

    if step == "distill":
        p = [f"a second run started from scratch at {w}" for w in rec.restarts_from_scratch]
        p += [f"failed after the completion line: {rec.trouble_after_completion}"] if rec.trouble_after_completion else []
        p += [f"arguments changed: {c}" for c in rec.args_changed]
        p += [rec.errors["resume"]] if "resume" in rec.errors else []
        check("one_run", p, (rec.restarts_from_scratch or [rec.trouble_after_completion or ""])[0] or "")
    elif step == "prune":
        p = [f"{rec.searches} searches in one log"] if rec.searches > 1 else []
        p += [f"{rec.starts} runs began in one log (at {rec.where.get('starts', '?')})"] if rec.starts > 1 else []
        p += [f"{rec.best_subnets_printed} best subnets printed"] if rec.best_subnets_printed > 1 else []
        p += [f"failed after 'Done!': {rec.trouble_after_completion}"] if rec.trouble_after_completion else []
        check("one_run", p, rec.where.get("searches", ""))
    elif step == "quantize":
        for label, q in ({"": rec} if not rec.variants else {f"{k}_": v for k, v in rec.variants.items()}).items():
            p = [f"{q.exports} exports in one log"] if q.exports > 1 else []
            p += [f"failed after the export line: {q.trouble_after_completion}"] if q.trouble_after_completion else []
            crash = next((t for t in q.trouble if "Traceback" in t), None) if q.completed else None
            p += [f"a traceback before the export line ({crash}): a crash and a rerun in one log"] if crash else []
            check(f"{label}one_run", p, q.where.get("exports", ""))
    elif step == "bench":
        for v, r in rec.runs.items():
            p = [f"failed after its totals: {r.trouble_after_completion}"] if r.trouble_after_completion else []
            p += [f"the engine started {r.engines} times (again at {r.where.get('engines')}): a crash and a restart"] \
                if r.engines > 1 else []
            tp = r.settings.get("tensor_parallel_size")
            tp = tp if isinstance(tp, int) and not isinstance(tp, bool) and tp > 0 else 1
            p += [f"the weights were loaded {len(r.loadings_gib)} times by {tp} GPU(s) (last at {r.where.get('loadings_gib')}): "
                  "a crash and a restart"] if len(r.loadings_gib) > tp and r.engines <= 1 else []
            check(f"{v}_one_run", p, r.where.get("completed", ""))
    return out


# ---------------------------------------------------------------- lineage


def lineage(run: Run, rules: list[Lineage], steps: list[str]) -> list[Finding]:
    out = []
    for rule in rules:
        step = (rule.unit or rule.output).split("/", 1)[0]
        if step not in steps or (rule.unit and run.step(step).present and run.step(step).record is None):
            continue  # the step's own ERROR already says its output could not be read
        f = Finding(step, f"lineage_{rule.id}", ERROR, source=rule.source)
        try:
            _lineage(run, rule, f)
        except Missing as m:
            f.status, f.note = (SKIP, f"{m.segment!r} not in this run (optional)") if rule.optional else \
                (ERROR, f"cannot follow the lineage: {m.segment!r} missing")
        out.append(f)
    return out


def _lineage(run: Run, rule: Lineage, f: Finding) -> None:
    if rule.unit:
        step = rule.unit.split("/", 1)[0]
        data = run.step(step)
        if not data.present:
            raise Missing(0, step)
        found: list[tuple[str, object]] = []
        doc = _meta_doc(data, rule.unit)
        if doc is None and (rule.optional or rule.only_flags or rule.flag):
            raise Missing(1, rule.unit)  # optional: an opt-in unit (BENCH_EXTRA, the aggressive variant) that did not run
        if rule.only_flags:
            allowed = rule.only_flags.split()
            given = sorted(command_flags(str(doc.get("command", ""))))
            extra = [k for k in given if k not in allowed]
            f.expected, f.measured, f.tolerance = " ".join(allowed), " ".join(given), "no other flag"
            f.where = f"{rule.unit}/step.json"
            f.status, f.note = (FAIL, f"the recorded command passes {' '.join(extra)}, which the tutorial's command "
                                "does not: this step did not run with the tutorial's settings") if extra else (PASS, "")
            return
        if rule.flag:
            flags = command_flags(str(doc.get("command", "")))
            key = rule.flag if rule.flag.startswith("-") else f"-o {rule.flag}"
            found.append((f"the recorded command's {rule.flag}", flags.get(key)))
        if rule.echoed:
            if data.record is None:
                raise Missing(1, step)
            try:
                found.append((f"the log ({rule.echoed})", resolve(data.record, rule.echoed)))
            except Missing:
                found.append((f"the log ({rule.echoed})", None))
        want = rule.names or rule.names_model
        f.expected = want if rule.names_model else f"RUN_DIR/{rule.names}"
        bad = [f"{what} is {value!r}" for what, value in found
               if not (value == rule.names_model if rule.names_model else names(run, value, rule.names))]
        f.measured = {what: value for what, value in found}
        f.tolerance = "same path" if rule.names else "exact"
        f.status, f.note = (FAIL, "; ".join(bad) + " — this step did not use the checkpoint the tutorial's previous "
                            "step made") if bad else (PASS, "")
        return
    ck = _checkpoint(run, rule.output)
    f.where = run.rel(run.path / rule.output)
    problems = []
    if rule.differs_from:
        other = _checkpoint(run, rule.differs_from)
        if os.path.realpath(run.path / rule.output) == os.path.realpath(run.path / rule.differs_from) or (
                ck.fingerprints and ck.fingerprints == {k: other.fingerprints.get(k) for k in ck.fingerprints}):
            f.status = ERROR
            f.note = f"{rule.output} is {rule.differs_from} itself (the same files or the same weights): not this step's output"
            f.expected, f.measured = f"weights other than {rule.differs_from}'s", "the same weights"
            return
    if rule.architecture_of:
        other = _checkpoint(run, rule.architecture_of)
        a, b = _arch(ck), _arch(other)
        if a != b:
            problems.append(f"architecture {a} differs from {rule.architecture_of}'s {b}")
    if rule.bf16_same_as:
        other = _checkpoint(run, rule.bf16_same_as)
        shared = sorted(set(ck.fingerprints) & set(other.fingerprints))
        diff = [k for k in shared if ck.fingerprints[k] != other.fingerprints[k]]
        if not shared:
            problems.append(f"no tensor kept in BF16 to compare with {rule.bf16_same_as}")
        elif diff:
            problems.append(f"{len(diff)} of {len(shared)} tensors that FP8 PTQ keeps in BF16 differ from "
                            f"{rule.bf16_same_as}'s (e.g. {diff[0]}): quantized from another checkpoint")
    f.expected = "from " + (rule.bf16_same_as or rule.architecture_of or "")
    f.status, f.note = (FAIL, "; ".join(problems)) if problems else (PASS, "")
    f.measured = "as expected" if not problems else "differs"


def _checkpoint(run: Run, rel: str):
    from checks.errors import CheckError
    from checks.hfckpt import load_hf_checkpoint

    try:
        return load_hf_checkpoint(run.path / rel)
    except CheckError:
        raise Missing(1, rel) from None


def _arch(ck) -> tuple:
    return (ck.hybrid_override_pattern, ck.num_layers, ck.hidden_size, ck.mamba_num_heads, ck.mamba_head_dim,
            ck.ffn_hidden_size)


# ---------------------------------------------------------------- provenance


MANIFEST_KEYS = {"schema": int, "run_id": str, "profile": str, "steps": dict}


def provenance(run: Run, goldens: Goldens) -> list[Finding]:
    out = []
    m = run.manifest
    if m is None:
        return out  # the judge reports the unreadable manifest itself
    wrong = [k for k, t in MANIFEST_KEYS.items() if not isinstance(m.get(k), t) or isinstance(m.get(k), bool)]
    f = Finding("run", "provenance_manifest", PASS if not wrong else ERROR, expected="the runner's manifest",
                source="scripts/kitlib/manifest.py writes schema, run_id, profile, steps", where="manifest.json")
    if wrong:
        f.note = f"manifest.json lacks or mistypes {', '.join(wrong)}: not written by the kit's runner"
    out.append(f)
    steps = m.get("steps") if isinstance(m.get("steps"), dict) else {}
    odd = [str(u) for u, info in steps.items() if not isinstance(info, dict) or not (
        isinstance(info.get("deviations", []), list) and all(isinstance(d, dict) for d in info.get("deviations", [])))]
    if odd:
        out.append(Finding("run", "provenance_steps", ERROR, expected="one object per step, deviations a list of objects",
                           measured=", ".join(odd), where="manifest.json", source="scripts/kitlib/manifest.py record_step",
                           note=f"manifest.json steps {', '.join(odd)} are not what the runner writes: the errata and "
                                "world sizes the goldens depend on cannot be read; rerun those steps with `make`"))
    absolute = any(g.by_gpu is not None for gs in goldens.steps.values() for g in gs)
    if absolute:
        f = Finding("run", "provenance_gpu_model", PASS if run.context.gpu_model else ERROR,
                    expected="gpu.model in manifest.json", measured=run.context.gpu_model, where="manifest.json",
                    source="the probe records nvidia-smi's GPU name for every step")
        if not run.context.gpu_model:
            f.note = "the GPU model is unknown, so no absolute figure can be judged; rerun a step under the kit's runner"
        out.append(f)
    mixed = m.get("mixed_versions") if isinstance(m.get("mixed_versions"), dict) else {}
    key = {k: v for k, v in mixed.items() if k in ("modelopt", "vllm", "megatron_bridge", "torch", "transformers")}
    f = Finding("run", "provenance_one_stack", ERROR if key else PASS, expected="one version of each component",
                measured=key or None, where="manifest.json", source="manifest.json versions per step (the probe)")
    if key:
        f.note = "steps of this run ran under different versions: " + "; ".join(f"{k}: {', '.join(map(str, v))}"
                                                                              for k, v in key.items())
    out.append(f)
    out += _rendered_for(m)
    return out


def _rendered_for(m: dict) -> list[Finding]:
    """The errata of a step were chosen for the component versions the kit was told (MODELOPT_REF...); the probe
    records what the step really ran with. A mismatch means the wrong expression of an erratum may have run."""
    from packaging.version import InvalidVersion, Version

    out = []
    for unit, info in (m.get("steps") or {}).items() if isinstance(m.get("steps"), dict) else ():
        if not isinstance(info, dict):
            continue
        told = info.get("versions_rendered_for") if isinstance(info.get("versions_rendered_for"), dict) else {}
        env = info.get("env") if isinstance(info.get("env"), dict) else {}
        ran = env.get("versions") if isinstance(env.get("versions"), dict) else {}
        for comp in ("modelopt", "vllm", "megatron_bridge"):
            a, b = told.get(comp), ran.get(comp)
            if not (isinstance(a, str) and isinstance(b, str)):
                continue
            try:
                same = Version(a).base_version == Version(b).base_version
            except InvalidVersion:
                same = a == b
            if not same:
                out.append(Finding(str(unit).split("/", 1)[0], f"provenance_{comp}_as_rendered", ERROR, expected=a,
                                   measured=b, where="manifest.json", source="step.json versions_rendered_for vs the probe",
                                   note=f"{unit}'s errata were chosen for {comp} {a}, but it ran with {b}: rerun it with "
                                        f"MODELOPT_REF/MODELOPT_VERSION (or versions.env) telling the truth"))
    return out


def findings(run: Run, goldens: Goldens, steps: list[str]) -> list[Finding]:
    """Every rule for the judged steps: provenance, one clean run per log, settings, lineage."""
    out = provenance(run, goldens)
    for step in steps:
        data = run.step(step)
        if data.record is None:
            continue
        out += one_run(step, data) + settings(run, step, data)
    return out + lineage(run, goldens.lineage, steps)
