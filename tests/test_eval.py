import pytest

from checks.errors import CheckError
from checks.run import load_path
from checks.steps import eval_
from tutorial_run import EVAL_ROWS


@pytest.mark.parametrize("parts,name", [
    (("gpqa", "pass@1[avg-of-8]", "symbolic_correct"), "gpqa_pass_at_1_avg-of-8_symbolic_correct"),
    (("mmlu-pro", "pass@1", "symbolic_correct"), "mmlu-pro_pass_at_1_symbolic_correct"),
    (("AA_math_test_500", "score", "micro_avg_of_5"), "AA_math_test_500_score_micro_avg_of_5"),
])
def test_metric_names_match_the_tutorial_table(parts, name):
    assert eval_.metric_name(*parts) == name


def test_run_scores_in_percent(run):
    r = load_path("eval", run / "eval")
    assert set(r.models) == set(EVAL_ROWS)
    s = r.models["iter_12800"]
    assert s["gpqa_pass_at_1_avg-of-8_symbolic_correct"] == 56.9
    assert s["mmlu"] == pytest.approx(72.2)  # lm-eval fraction x 100
    assert len(s) == 8 and not r.errors


def test_one_label_directory(run):
    assert list(load_path("eval", run / "eval" / "pruned").models) == ["pruned"]


@pytest.mark.parametrize("text", ["results: {tasks: {}}", "[1, 2", "just text", ""])
def test_results_without_scores_are_errors(text):
    with pytest.raises(CheckError):
        eval_.parse_results_yml(text)


def test_broken_file_becomes_a_recorded_error(run):
    f = next((run / "eval" / "iter_12800").rglob("results.yml"))
    f.write_text("results:\n  tasks: {gpqa: {metrics: {")
    r = load_path("eval", run / "eval")
    assert "not valid YAML" in r.errors["models.iter_12800"]


# ------------------------------------------------------------ scale per harness, from the results tree

REAL = __import__("pathlib").Path(__file__).parent / "fixtures" / "real" / "nemo-evaluator"


def test_real_simple_evals_results_are_fractions():
    text = (REAL / "nemo-evaluator-docs-7b7f980a_simple_evals_gpqa_diamond_results.yaml").read_text()
    scores, harness = eval_.parse_results(text)  # no run_config.yml: the recorded command names simple_evals
    assert scores == {"gpqa_diamond_score_micro": 40.0} and harness == "simple_evals (the command in results.yml)"
    scores, harness = eval_.parse_results(text, {"framework_name": "simple_evals"})
    assert scores["gpqa_diamond_score_micro"] == 40.0 and "run_config.yml" in harness
    # the launcher's own export of the same run says 0.4, and names the harness
    import json

    doc = json.loads((REAL / "nemo-evaluator-launcher-docs-7b7f980a_processed_results.json").read_text())
    (entry,) = doc["benchmarks"]["gpqa_diamond"]["models"]["meta/llama-3.1-8b-instruct"]
    assert entry["harness"] == "simple_evals" and entry["scores"]["gpqa_diamond_score_micro"] == 0.4


def test_nemo_skills_results_are_percentages_and_an_unknown_scale_is_an_error():
    doc = "results: {tasks: {gpqa: {metrics: {'pass@1[avg-of-8]': {scores: {symbolic_correct: {value: 56.9}}}}}}}"
    assert eval_.parse_results_yml(doc, {"framework_name": "nemo_skills"}) == {"gpqa_pass_at_1_avg-of-8_symbolic_correct": 56.9}
    with pytest.raises(CheckError, match="cannot be determined"):
        eval_.parse_results_yml(doc)
    with pytest.raises(CheckError, match="unknown harness 'codec'"):
        eval_.parse_results_yml(doc, {"framework_name": "codec"})
    with pytest.raises(CheckError, match="names no harness"):
        eval_.parse_results_yml(doc, "")


def test_a_run_without_its_harness_files_is_an_error_not_a_guess(run):
    for f in (run / "eval" / "iter_12800").rglob("run_config.yml"):
        f.unlink()
    for f in (run / "eval" / "iter_12800").rglob("results.yml"):
        f.write_text(f.read_text().replace("command: nemo_skills ...", "command: ''").replace(
            "command: simple_evals ...", "command: ''"))
    r = load_path("eval", run / "eval")
    assert "cannot be determined" in r.errors["models.iter_12800"]


def test_the_tutorial_yaml_comments_math500_out_and_the_kit_can_run_exactly_that_task(tmp_path):
    import subprocess
    import sys

    import yaml

    from conftest import ROOT

    cfg = REAL / "modelopt-0.44.0_nemo_evaluator.yaml"
    active = [t["name"] for t in yaml.safe_load(cfg.read_text())["evaluation"]["tasks"]]
    assert "AA_math_test_500" not in active and len(active) == 6
    p = subprocess.run([sys.executable, "scripts/enable_task.py", str(cfg), "AA_math_test_500"], cwd=ROOT,
                       capture_output=True, text=True)
    (task,) = yaml.safe_load(p.stdout)["evaluation"]["tasks"]
    assert task["name"] == "AA_math_test_500" and task["env_vars"]["JUDGE_API_KEY"] == "JUDGE_API_KEY"
    assert task["nemo_evaluator_config"]["config"]["params"]["extra"]["n_samples"] == 5
    p = subprocess.run([sys.executable, "scripts/enable_task.py", str(cfg), "no_such_task"], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode != 0 and "upstream changed it" in p.stderr
