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


# ---------------------------------------------------------------- real runs (demo/real-runs, see demo/PROVENANCE.md)

REAL = ROOT / "demo" / "real-runs"
TINY = ROOT / "expected" / "tiny.yaml"
MAMBA = ["layout_mamba_in_proj", "layout_mamba_out_proj"]


def real(cand: str, step: str = "quantize", goldens_file=TINY):
    return diff.diff_runs(Run.load(REAL / "base-0.44.0"), Run.load(REAL / cand), G.load(goldens_file), [step])


def by_id(findings, step=None):
    return {x.id: x for x in findings if step is None or x.step == step}


@pytest.mark.parametrize("cand,ref", [("intent-0.45.0", "0.45.0"), ("intent-0.46.0", "0.46.0"), ("intent-0.47.0", "0.47.0")])
def test_real_runs_the_intent_at_a_newer_modelopt_changes_nothing_judged(cand, ref):
    c = real(cand)
    assert exit_code(c) == 0 and not [x.id for x in c if x.status in ("CHANGED", "ERROR")]
    judged = [x for x in c if x.step == "quantize" and x.tolerance == "exact" and x.id != "command script"]
    assert len(judged) == 12 and all(x.status == "SAME" for x in judged)  # every quantize golden of the tiny tier
    f = by_id(c)
    assert (f["versions.modelopt"].status, f["versions.modelopt"].expected, f["versions.modelopt"].measured) == \
        ("DIFFERS", "0.44.0", ref)
    assert f["versions.torch"].status == f["versions.transformers"].status == "SAME"
    assert (f["producer"].expected, f["producer"].measured) == ("modelopt 0.44.0", f"modelopt {ref}")
    assert (f["command --qformat"].expected, f["command --qformat"].measured) == ("fp8", "mamba_moe_fp8_conservative")
    assert (f["deviations"].expected, f["deviations"].measured) == (["quantize-fp8-conservative"], [])
    # the BF16 tensors PTQ keeps are the teacher's, byte for byte (names: model.* at 0.44/0.45, backbone.* later)
    assert "checkpoint.fingerprints" not in f and "checkpoint.fingerprints" in f["other parsed fields"].note
    script = f["command script"].measured
    assert script.endswith("/examples/hf_ptq/hf_ptq.py" if ref == "0.47.0" else "/examples/llm_ptq/hf_ptq.py")
    # each run's own paths compare as <run>/..., so equal flags fold into one line
    assert f["command, other flags"].status == "SAME" and "command --pyt_ckpt_path" in f["command, other flags"].note
    assert "other parsed fields" in f and f["other parsed fields"].status == "SAME"


def test_real_runs_the_aggressive_config_changes_exactly_the_two_mamba_projections():
    c = real("aggr-0.46.0")
    assert exit_code(c) == 1
    changed = [x for x in c if x.status == "CHANGED"]
    assert sorted(x.id for x in changed) == MAMBA
    assert all((x.expected, x.measured) == ("BF16", "F8_E4M3") for x in changed)
    f = by_id(c)
    assert (f["versions.modelopt"].expected, f["versions.modelopt"].measured) == ("0.44.0", "0.46.0")
    assert f["command --qformat"].measured == "mamba_moe_fp8_aggressive"
    # around the numbers: what the goldens do not name, shown exactly and never failing
    assert (f["checkpoint_bytes"].status, f["checkpoint_bytes"].expected, f["checkpoint_bytes"].measured) == \
        ("DIFFERS", 4704864, 3465128)
    assert f["fp8_fraction"].status == "DIFFERS" and f["fp8_fraction"].measured > 2 * f["fp8_fraction"].expected
    assert f["exclude_modules"].status == "DIFFERS" and "lm_head" in f["exclude_modules"].expected
    assert f["checkpoint.dtypes.F8_E4M3"].measured > f["checkpoint.dtypes.F8_E4M3"].expected
    assert "checkpoint.layout.mamba.in_proj" not in f and "checkpoint.bytes" not in f  # duplicates compared once


def test_real_runs_a_refused_run_is_a_change_and_a_dangling_checkpoint_link_an_error():
    c = real("asis-0.45.0")
    f = by_id(c, "quantize")
    assert exit_code(c) == 1 and f["completed"].status == "CHANGED" and f["completed"].measured is False
    assert f["quant_algo"].status == "CHANGED" and f["quant_algo"].note == "only in the baseline"
    # convert/hf_iter_40 is a symlink whose target was deleted on the GPU machine: an ERROR naming it, no crash
    assert (REAL / "base-0.44.0" / "convert" / "hf_iter_40").is_symlink()
    c = real("intent-0.46.0", "convert")
    assert exit_code(c) == 2
    errs = [x for x in c if x.status == "ERROR"]
    assert errs and all("hf_iter_40" in x.note and "checkpoint directory missing" in x.note for x in errs)


def test_a_diff_tolerance_in_the_goldens_makes_a_field_judged(tmp_path):
    g = tmp_path / "tiny.yaml"
    g.write_text(TINY.read_text() + "\ndiff:\n  quantize.checkpoint_bytes: {rel: 0.01}\n")
    assert by_id(real("intent-0.46.0", goldens_file=g))["checkpoint_bytes"].status == "SAME"  # 168 bytes of header
    f = by_id(real("aggr-0.46.0", goldens_file=g))["checkpoint_bytes"]
    assert f.status == "CHANGED" and f.tolerance == "±1%" and f.source == "goldens `diff:`"


def test_real_runs_cli_plain_layout_keeps_ids_and_versions_whole(tmp_path):
    """Not a terminal (CI, Slurm): one finding per line at 80 columns; the JSON carries every finding."""
    env = {**os.environ, "COLUMNS": "80"}
    p = subprocess.run([sys.executable, "-m", "checks", "diff", str(REAL / "base-0.44.0"), str(REAL / "aggr-0.46.0"),
                        "--step", "quantize", "--json", str(tmp_path / "d.json")], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = p.stdout.splitlines()
    assert any(ln.startswith("DIFFERS run.versions.modelopt  candidate=0.46.0 baseline=0.44.0") for ln in lines)
    assert any(ln.startswith("CHANGED quantize.layout_mamba_in_proj  candidate=F8_E4M3 baseline=BF16") for ln in lines)
    assert any(ln.startswith("DIFFERS quantize.command --qformat  candidate=mamba_moe_fp8_aggressive baseline=fp8")
               for ln in lines)
    assert lines[-1].split()[-4:] == ["2", "CHANGED", lines[-1].split()[-2], "DIFFERS"]
    doc = json.loads((tmp_path / "d.json").read_text())
    assert doc["summary"]["CHANGED"] == 2 and doc["summary"]["DIFFERS"] >= 5
    assert {x["id"] for x in doc["findings"] if x["status"] == "DIFFERS"} >= {"versions.modelopt", "producer",
                                                                             "checkpoint_bytes", "fp8_fraction"}


def test_fixture_variants_compare_each_parsed_field_once(runs):
    c = by_id(changes(runs, "beyond"), "quantize")
    assert c["variants.conservative.checkpoint_bytes"].status == "DIFFERS"
    assert "variants.conservative.checkpoint.bytes" not in c and "variants.conservative.checkpoint.layout.mamba.in_proj" not in c
    same = by_id(changes(runs, "same"))
    assert not [x.id for x in same.values() if x.status == "DIFFERS"]
