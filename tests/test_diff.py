"""`checks diff` on fixture runs: the same run, a drift within tolerance, a drift beyond, a new log format."""

import json
import os
import subprocess
import sys

import pytest

from checks import diff, goldens as G
from checks.findings import exit_code
from checks.run import Run
from conftest import EXPECTED, ROOT
from tutorial_run import EXCERPT, build_run, prune_log


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("diff")
    swapped = prune_log().replace("0.6789 score", "0.1000 score").replace("0.6165 score", "0.7000 score")
    swapped = swapped.replace("[BEST SUBNET] {'num_layers': 48, 'hidden_size': 4352, 'mamba_num_heads': 120, "
                              "'mamba_head_dim': 80, 'ffn_hidden_size': 13824} -> 7.00B params, 0.1000 score",
                              "[BEST SUBNET] {'num_layers': 46, 'hidden_size': 4480, 'mamba_num_heads': 128, "
                              "'mamba_head_dim': 72, 'ffn_hidden_size': 14848} -> 7.00B params, 0.7000 score")
    assert EXCERPT  # the fixtures start from the tutorial's printed log
    return {
        "base": build_run(d, name="base"),
        "same": build_run(d, name="same"),
        "within": build_run(d, name="within", bench={"7b-fp8": (10.8, 1147 * 1.03)}, eval_delta={"iter_12800": 1.0},
                            loss_scale=1.01),
        # FP8 in the Mamba projections too (the aggressive layout), a slower bench, another best subnet
        "beyond": build_run(d, name="beyond", bench={"7b-fp8": (7.8, 1147 * 0.8)}, loss_scale=1.2,
                            fp8=("mlp.up_proj", "mlp.down_proj", "mamba.in_proj", "mamba.out_proj"), prune_log_text=swapped),
        "format": build_run(d, name="format", prune_format="modelopt-0.46"),
    }


def changes(runs, cand):
    return diff.diff_runs(Run.load(runs["base"]), Run.load(runs[cand]), G.load(EXPECTED))


def test_same_run_has_no_change(runs):
    c = changes(runs, "same")
    assert exit_code(c) == 0 and {x.status for x in c} <= {"SAME", "SKIP"}
    assert any(x.id.startswith("loss curve") for x in c)


def test_drift_within_tolerance_is_not_a_change(runs):
    c = changes(runs, "within")
    assert exit_code(c) == 0
    gpqa = next(x for x in c if x.id == "iter_12800_gpqa_pass_at_1_avg-of-8_symbolic_correct")
    assert gpqa.expected == 56.9 and gpqa.measured == 57.9 and gpqa.status == "SAME"


def test_drift_beyond_tolerance_names_what_changed(runs):
    c = {x.id: x for x in changes(runs, "beyond")}
    assert c["best_subnet_config"].status == "CHANGED"
    assert c["best_subnet_config"].measured["num_layers"] == 46
    assert c["7b-fp8_output_tokens_per_s"].status == "CHANGED"
    assert c["layout_mamba_in_proj"].status == "CHANGED" and c["layout_mamba_in_proj"].measured == "F8_E4M3"
    assert c["layout_mamba_in_proj"].expected == "BF16"
    assert c["loss curve 'total loss' (final deviation)"].status == "CHANGED"
    assert c["search_space_total"].status == "SAME"


def test_a_new_log_format_is_reported_and_the_decisions_still_compared(runs):
    c = {x.id: x for x in changes(runs, "format") if x.step == "prune"}
    assert c["log format"].status == "CHANGED"
    assert (c["log format"].expected, c["log format"].measured) == ("modelopt-0.44", "modelopt-0.46")
    assert c["best_subnet_config"].status == c["dropped_layers"].status == "SAME"
    assert c["original_pattern"].status == "CHANGED"  # 0.46 stopped printing it: said, not hidden


def test_cli_exit_codes_and_json(runs, tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "checks", "diff", *map(str, a)], cwd=ROOT, env=env,  # noqa: E731
                                    capture_output=True, text=True)
    assert run(runs["base"], runs["same"]).returncode == 0
    p = run(runs["base"], runs["beyond"], "--json", tmp_path / "d.json")
    assert p.returncode == 1 and "CHANGED" in p.stdout
    doc = json.loads((tmp_path / "d.json").read_text())
    assert any(x["id"] == "best_subnet_config" and x["status"] == "CHANGED" for x in doc["findings"])
    p = run(runs["base"], tmp_path / "nope")
    assert p.returncode == 2 and "no such directory" in p.stderr and "Traceback" not in p.stderr
