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
