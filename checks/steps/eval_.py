"""eval: scores per evaluated model, from nemo-evaluator-launcher results and lm-evaluation-harness.

- NeMo Evaluator writes <invocation>/<task>/artifacts/results.yml: results.tasks.<task>.metrics.<metric>.
  scores.<score>.value. The tutorial names a score by flattening that path as exporters do:
  "<task>_<metric>_<score>" with "@" -> "_at_" and "[...]" -> "_..." (e.g. gpqa / pass@1[avg-of-8] /
  symbolic_correct -> gpqa_pass_at_1_avg-of-8_symbolic_correct).
- The scale depends on the harness: NeMo-Skills (the ns_* tasks) reports percentages, simple_evals
  (AA_math_test_500, gpqa_diamond) and lm-evaluation-harness report fractions. The harness is read from the
  results tree, never assumed: run_config.yml's `framework_name` beside results.yml, else the harness command
  results.yml records. A score whose harness cannot be told is an error, not a guess.
- lm-evaluation-harness writes results_<timestamp>.json: results.mmlu["acc,none"], a fraction; the
  tutorial's "mmlu" column is that value times 100.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import yaml

from checks import plots
from checks.errors import CheckError
from checks.stepdef import ConfigSource, Kit, PathUse, Step


# Harness -> factor to percent. Sources: NeMo-Skills metrics/base.py (100.0 * value / total); the launcher's
# export of a simple_evals run (gpqa_diamond_score_micro: 0.4); lm-eval's acc (tests/fixtures/real/nemo-evaluator).
PERCENT_FACTOR = {"nemo_skills": 1.0, "simple_evals": 100.0, "lm-evaluation-harness": 100.0}
_COMMAND_HARNESS = ((re.compile(r"(?:^|&&|;|\s)simple_evals\s"), "simple_evals"),
                    (re.compile(r"\bns eval\b|nemo_skills"), "nemo_skills"),
                    (re.compile(r"\blm[-_]eval\b"), "lm-evaluation-harness"))


@dataclass
class EvalRecord:
    models: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> metric name -> score (%)
    harness: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> metric -> "harness (how known)"
    sources: dict[str, list[str]] = field(default_factory=dict)  # label -> files read
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def metric_name(task: str, metric: str, score: str) -> str:
    """Flatten a results.yml path into the name the tutorial's table uses."""
    raw = f"{task}_{metric}_{score}".replace("@", "_at_")
    raw = re.sub(r"\[([^\]]*)\]", r"_\1", raw)
    return re.sub(r"_+", "_", raw)


def harness_of(doc: dict, run_config: object) -> tuple[str, str]:
    """(harness, how it is known) for a results.yml; CheckError when the results tree does not say."""
    if run_config is not None:
        name = run_config.get("framework_name") if isinstance(run_config, dict) else None
        if not isinstance(name, str):
            raise CheckError("run_config.yml names no harness", expected="framework_name: nemo_skills | simple_evals | "
                             "lm-evaluation-harness", found=f"{type(run_config).__name__}",
                             hint="the file is truncated or corrupt; rerun the evaluation or restore the launcher's artifacts/")
        if name in PERCENT_FACTOR:
            return name, "run_config.yml framework_name"
        raise CheckError(f"unknown harness {name!r} in run_config.yml", expected=", ".join(PERCENT_FACTOR),
                         hint="teach checks/steps/eval_.py its scale (percent or fraction), from its source")
    command = doc.get("command") if isinstance(doc.get("command"), str) else ""
    for pattern, name in _COMMAND_HARNESS:
        if pattern.search(command):
            return name, "the command in results.yml"
    raise CheckError("the scale of these scores cannot be determined",
                     expected="run_config.yml with framework_name beside results.yml, or the harness command in results.yml",
                     found="neither", hint="keep the launcher's whole artifacts/ directory in the run (percent or fraction "
                                           "depends on the harness; the kit never guesses)")


def parse_results_yml(text: str, run_config: object = None) -> dict[str, float]:
    """Pure: NeMo Evaluator results.yml text (and the run_config.yml beside it, parsed) -> {flattened metric
    name: score in percent}. CheckError if malformed or if the harness, hence the scale, is unknown."""
    return parse_results(text, run_config)[0]


_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_results(text: str, run_config: object = None) -> tuple[dict[str, float], str]:
    """As parse_results_yml, also returning "harness (how known)"."""
    try:
        doc = yaml.load(text, Loader=_SAFE)  # libyaml where built: a run holds dozens of these files
    except yaml.YAMLError as e:
        raise CheckError("results.yml is not valid YAML", found=str(e).splitlines()[0],
                         hint="the evaluation did not finish writing; rerun it") from None
    results = doc.get("results") if isinstance(doc, dict) else None
    out: dict[str, float] = {}
    for group in ("tasks", "groups"):
        tasks = results.get(group) if isinstance(results, dict) else None
        if not isinstance(tasks, dict):
            continue
        for task, tdata in tasks.items():
            metrics = tdata.get("metrics") if isinstance(tdata, dict) else None
            for metric, mdata in (metrics or {}).items() if isinstance(metrics, dict) else ():
                scores = mdata.get("scores") if isinstance(mdata, dict) else None
                for score, sdata in (scores or {}).items() if isinstance(scores, dict) else ():
                    v = sdata.get("value") if isinstance(sdata, dict) else None
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        out[metric_name(str(task), str(metric), str(score))] = float(v)
    if not out:
        raise CheckError("results.yml holds no scores",
                         expected="results.tasks.<task>.metrics.<metric>.scores.<score>.value",
                         hint="the evaluation failed or was cut short; see its logs and rerun")
    name, how = harness_of(doc, run_config)
    return {k: v * PERCENT_FACTOR[name] for k, v in out.items()}, f"{name} ({how})"


def parse_lm_eval_json(text: str) -> dict[str, float]:
    """Pure: lm-evaluation-harness results JSON -> {task: accuracy in %}."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckError("lm-eval results are not valid JSON", found=e.msg,
                         hint="the evaluation did not finish writing; rerun it") from None
    results = doc.get("results") if isinstance(doc, dict) else None
    out = {}
    for task, data in (results or {}).items() if isinstance(results, dict) else ():
        acc = data.get("acc,none", data.get("acc")) if isinstance(data, dict) else None
        if isinstance(acc, (int, float)) and not isinstance(acc, bool) and math.isfinite(acc):
            out[str(task)] = 100.0 * acc
    if not out:
        raise CheckError("lm-eval results hold no accuracy", expected='results.<task>["acc,none"]',
                         hint="the evaluation failed or was cut short; rerun it")
    return out


# ---------------------------------------------------------------- the step, as the registry knows it


def _results_file(run, f) -> tuple[dict[str, float], str]:
    """(scores, harness) of one results file: a NeMo Evaluator results.yml (its harness from the run_config.yml
    beside it, when present) or an lm-eval results_*.json."""
    text = run.text(f)
    if f.suffix != ".yml":
        return parse_lm_eval_json(text), "lm-evaluation-harness (results_*.json)"
    cfg_path, cfg = f.parent / "run_config.yml", None
    if cfg_path.exists() and not cfg_path.is_file():
        raise CheckError("run_config.yml is not a file", where=run.rel(cfg_path),
                         hint="the launcher writes it beside results.yml; rerun the evaluation")
    if cfg_path.is_file():  # present: it must name the harness (an empty file is no answer)
        cfg = run.yaml(cfg_path, "run_config.yml")
        cfg = {} if cfg is None else cfg
    return parse_results(text, cfg)


def _load_model(run, rec: EvalRecord, d) -> None:
    """One evaluated model (eval/<label>/): every results file under it."""
    scores: dict[str, float] = {}
    files = sorted(d.rglob("results.yml")) + sorted(d.rglob("results_*.json"))
    for f in files:
        try:
            got, harness = _results_file(run, f)
        except CheckError as e:
            e.where = e.where or run.rel(f)
            rec.errors[f"models.{d.name}"] = e.render()
            continue
        except OSError as e:
            rec.errors[f"models.{d.name}"] = f"{run.rel(f)} cannot be read: {type(e).__name__}"
            continue
        scores.update(got)
        for k in got:
            rec.where[f"models.{d.name}.{k}"] = run.rel(f)
            rec.harness.setdefault(d.name, {})[k] = harness
    if not files:
        rec.errors[f"models.{d.name}"] = f"no results.yml or results_*.json under {run.rel(d)}"
    rec.models[d.name] = scores
    rec.sources[d.name] = [str(f.relative_to(d)) for f in files]


def load(run, sdir) -> EvalRecord:
    """Scores per evaluated model, one eval/<label>/ each."""
    rec = EvalRecord()
    for d in run.subdirs(sdir):
        _load_model(run, rec, d)
    return rec


STEP = Step(
    name="eval", order=40, doc="NeMo Evaluator (and lm-eval MMLU): scores per evaluated model, eval/<label>/",
    record=EvalRecord, load=load, variants="models", per_variant=True,
    figure=plots.bands_figure,
    kit=Kit(needs_vars=("SLURM_HOST", "SLURM_ACCOUNT"), cwd_files=("nemo_evaluator.yaml",),
            needs_vars_why="eval submits through nemo-evaluator-launcher's Slurm executor"),
    config=(ConfigSource("command", "the recorded command and its -o overrides"),
            ConfigSource("file", "the launcher's run_config.yml beside each results.yml")),
    paths=(PathUse("convert/hf_iter_<N>", "reads"), PathUse("eval/<label>", "writes")),
)
