"""The evaluator config the eval step launches (the tutorial's nemo_evaluator.yaml at MODELOPT_REF): its tasks,
their num_repeats, and the metric names they will produce, against the goldens. A golden naming a metric the
config cannot produce is MISSING before launch: from ModelOpt 0.45.0 the yaml lowers num_repeats (LiveCodeBench
8 -> 4, AIME 64 -> 32), so `livecodebench_pass_at_1_avg-of-8_accuracy` can no longer appear in the results.

How a task's metric is named (the tutorial's own table, README "Tasks and exact metric names" at 0.45.0 and
the seed: NeMo-Skills reports `pass@1[avg-of-N]` when N > 1, `pass@1` when N = 1; flattened by
checks.steps.eval_.metric_name): <benchmark>_pass_at_1[_avg-of-N]_<score>. Math 500 (simple_evals) is
AA_math_test_500_score_micro_avg_of_<n_samples>."""

from __future__ import annotations

from pathlib import Path

import yaml

from checks.errors import CheckError
from checks.findings import MISSING, SAME, Finding

EVAL_YAML = Path("examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2/nemo_evaluator.yaml")
# task -> (benchmark, score) as the tutorial's table names them
TASKS = {"ns_mmlu_pro": ("mmlu-pro", "symbolic_correct"), "ns_gpqa": ("gpqa", "symbolic_correct"),
         "ns_livecodebench": ("livecodebench", "accuracy"), "ns_aime2025": ("aime25", "symbolic_correct"),
         "ns_ifeval": ("ifeval", "average_score"), "ns_scicode": ("scicode", "subtask_accuracy")}
PREFIXES = tuple(f"{b}_pass_at_1" for b, _ in TASKS.values()) + ("AA_math_test_500_",)


def _extra(task: dict) -> dict:
    cfg = task.get("nemo_evaluator_config") or {}
    params = ((cfg.get("config") or {}).get("params") or {}) if isinstance(cfg, dict) else {}
    extra = params.get("extra") if isinstance(params, dict) else None
    return extra if isinstance(extra, dict) else {}


def task_metric(task: dict) -> tuple[str, str] | None:
    """(task name, the metric name its results will carry), None for a task the kit has no naming rule for."""
    name = task.get("name")
    extra = _extra(task)
    if name == "AA_math_test_500":
        return name, f"AA_math_test_500_score_micro_avg_of_{extra.get('n_samples', 1)}"
    if name not in TASKS:
        return None
    bench, score = TASKS[name]
    n = extra.get("num_repeats", 1)
    return name, f"{bench}_pass_at_1_avg-of-{n}_{score}" if isinstance(n, int) and n > 1 else f"{bench}_pass_at_1_{score}"


def read(text: str, where: str) -> list[dict]:
    """The config's tasks (evaluation.tasks); CheckError naming the file when it is not such a config."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CheckError("the evaluator config is not YAML", where=where, found=str(e).split("\n")[0]) from None
    tasks = ((doc or {}).get("evaluation") or {}).get("tasks") if isinstance(doc, dict) else None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in tasks):
        raise CheckError("the evaluator config has no list evaluation.tasks of named tasks", where=where,
                         expected="the tutorial's nemo_evaluator.yaml (evaluation.tasks: [{name: ns_mmlu_pro, ...}])")
    return tasks


def metrics(tasks: list[dict]) -> dict[str, str]:
    """metric name -> task, for every task the config runs."""
    return {m: t for t, m in (task_metric(x) for x in tasks if task_metric(x))}


def golden_metrics(goldens) -> list[tuple[str, str]]:
    """(golden id, metric) for every eval golden that names a NeMo Evaluator metric (models.<label>.<metric>)."""
    out = []
    for g in goldens.steps.get("eval", []):
        parts = (g.path or "").split(".", 2)
        if len(parts) == 3 and parts[0] == "models" and parts[2].startswith(PREFIXES):
            out.append((g.id, parts[2]))
    return out


def _commented_out(text: str, metric: str) -> bool:
    """Math 500 is a commented-out task in the tutorial's yaml: the kit's MATH500=1 addition runs it."""
    return metric.startswith("AA_math_test_500_") and "# - name: AA_math_test_500" in text


def check(text: str, where: str, goldens, goldens_file: str) -> list[Finding]:
    """One finding per metric the goldens ask for: SAME when the config produces it, MISSING when not (with the
    metric the config will produce instead, for the same benchmark)."""
    produced = metrics(read(text, where))
    out = []
    wanted: dict[str, list[str]] = {}
    for gid, metric in golden_metrics(goldens):
        wanted.setdefault(metric, []).append(gid)
    for metric, ids in sorted(wanted.items()):
        if metric in produced or _commented_out(text, metric):
            how = f"task {produced[metric]}" if metric in produced else "the commented-out task MATH500=1 runs"
            out.append(Finding("eval", metric, SAME, where=where, note=f"{len(ids)} golden(s) ask for {metric}; {how} produces it"))
            continue
        bench = metric.split("_pass_at_1", 1)[0]
        instead = sorted(m for m in produced if m.startswith(bench + "_pass_at_1"))
        out.append(Finding("eval", metric, MISSING, expected=metric, measured=", ".join(instead) or None, where=where,
                           note=f"{len(ids)} golden(s) in {goldens_file} ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}) "
                                f"ask for {metric}, which the config at {where} cannot produce"
                                + (f" (it produces {', '.join(instead)}: its num_repeats changed)" if instead else "")
                                + ": the run would end with those checks unjudgeable. What to do: re-bless the goldens "
                                  "for this version's config (their repeats and tolerances), or pin the ref whose config "
                                  "produces them."))
    return out
