"""eval: scores per evaluated model, from nemo-evaluator-launcher results and lm-evaluation-harness.

- NeMo Evaluator writes results.yml: results.tasks.<task>.metrics.<metric>.scores.<score>.value.
  The tutorial names a score by flattening that path as exporters do: "<task>_<metric>_<score>" with
  "@" -> "_at_" and "[...]" -> "_..." (e.g. gpqa / pass@1[avg-of-8] / symbolic_correct ->
  gpqa_pass_at_1_avg-of-8_symbolic_correct). NeMo-Skills scores are already percentages.
- lm-evaluation-harness writes results_<timestamp>.json: results.mmlu["acc,none"], a fraction; the
  tutorial's "mmlu" column is that value times 100.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import yaml

from checks.errors import CheckError


@dataclass
class EvalRecord:
    models: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> metric name -> score (%)
    sources: dict[str, list[str]] = field(default_factory=dict)  # label -> files read
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def metric_name(task: str, metric: str, score: str) -> str:
    """Flatten a results.yml path into the name the tutorial's table uses."""
    raw = f"{task}_{metric}_{score}".replace("@", "_at_")
    raw = re.sub(r"\[([^\]]*)\]", r"_\1", raw)
    return re.sub(r"_+", "_", raw)


def parse_results_yml(text: str) -> dict[str, float]:
    """Pure: NeMo Evaluator results.yml text -> {flattened metric name: value}. CheckError if malformed."""
    try:
        doc = yaml.safe_load(text)
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
    return out


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
