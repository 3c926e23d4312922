"""The regression tiers: tiny and prune-quant-bench plans, `make regress`, and the tiny teacher built for real."""

import json
import subprocess
import sys

import pytest

from checks import goldens as G, judge as engine
from checks.findings import FAIL
from checks.hfckpt import load_hf_checkpoint
from kit_env import ROOT, calls, make


@pytest.mark.parametrize("profile,total", [("tiny", (0.3, 1.0)), ("prune-quant-bench", (9.5, 11.0)), ("full", (9400, 9500))])
def test_each_tier_has_a_plan_and_goldens(tmp_path, profile, total):
    p = make(tmp_path, "plan", PROFILE=profile, NODES="")
    assert p.returncode == 0, p.stderr
    gh = float(p.stdout.rsplit("Total: ", 1)[1].split()[0].replace(",", ""))
    assert total[0] <= gh <= total[1]
    g = G.load(ROOT / "expected" / f"{profile}.yaml")
    assert g.profile == profile and g.steps


def test_tiny_dry_run_uses_the_tiny_recipes(tmp_path):
    p = make(tmp_path, "-n", "reproduce", PROFILE="tiny", check=True)
    assert "python3 scripts/tiny_model.py --out " in p.stdout
    assert "torchrun --nproc_per_node 1 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py" in p.stdout
    assert "--train_iters 40" in p.stdout and "--random-input-len 128" in p.stdout
    assert "distill_minitron" not in p.stdout  # tiny recipes call the real script name


def test_regress_plan_and_its_refusals(tmp_path):
    p = make(tmp_path, "regress", "MODELOPT_REF=0.45.0", PROFILE="tiny")
    assert p.returncode == 2 and "set BASELINE=runs/<id>" in p.stderr
    p = make(tmp_path, "regress", "MODELOPT_REF=0.45.0", f"BASELINE={tmp_path}", PROFILE="tiny")
    assert p.returncode == 2 and "is not a run directory" in p.stderr
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "manifest.json").write_text("{}")
    p = make(tmp_path, "-n", "regress", "MODELOPT_REF=0.45.0", f"BASELINE={tmp_path / 'base'}", PROFILE="tiny", check=True)
    assert "scripts/image.py build --image nemotron-repro:modelopt-0.45.0 --modelopt-ref 0.45.0" in p.stdout
    assert "steps RUN=regress-tiny-modelopt-0.45.0" in p.stdout
    assert "checks diff " + str(tmp_path / "base") in p.stdout and "checks verify" in p.stdout


def test_prune_quant_bench_end_to_end_with_doubles(tmp_path):
    p = make(tmp_path, "reproduce", PROFILE="prune-quant-bench", RUN="pqb")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "distill" not in calls(tmp_path) and calls(tmp_path).count("quantize") == 2
    report = json.loads((tmp_path / "runs" / "pqb" / "report.json").read_text())
    assert report["summary"]["FAIL"] == report["summary"]["ERROR"] == 0 and report["summary"]["PASS"] > 100
    v = {x["id"]: x for x in report["findings"]}
    # the tutorial's conservative config on the 9B: its Mamba projections stay BF16, ~13.3 GiB, unlike the official
    # 9B-FP8 the table measured: known discrepancies, shown as XFAIL (an XPASS would fail the run)
    assert v["9b_layout_mamba_in_proj"]["status"] == "XFAIL" and v["9b-fp8_model_loading_gib"]["status"] == "XFAIL"
    assert v["9b_layout_mlp_up_proj"]["status"] == "PASS" and abs(v["9b-fp8_model_loading_gib"]["measured"] - 13.28) < 0.02


def test_tiny_teacher_is_a_real_nemotron_h_checkpoint(tmp_path):
    pytest.importorskip("transformers")
    out = tmp_path / "teacher"
    p = subprocess.run([sys.executable, "scripts/tiny_model.py", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    n = int(p.stdout.split(" parameters")[0].rsplit(" ", 1)[1].replace(",", ""))
    ck = load_hf_checkpoint(out)
    assert ck.architectures == ["NemotronHForCausalLM"] and ck.hybrid_override_pattern == "M-M*-M-"
    assert ck.params == n and ck.inconsistencies == [] and ck.has_tokenizer
    assert set(ck.layout) >= {"mamba.in_proj", "mamba.conv1d", "mlp.up_proj", "attention.q_proj", "lm_head"}
    assert set(ck.dtypes) == {"BF16"}
    # what the tiny prune golden promises is reachable from this teacher
    limit = next(g for g in G.load(ROOT / "expected" / "tiny.yaml").steps["prune"] if g.id == "ckpt_params_within_target")
    assert n > limit.tol.value and engine.compare(n, None, limit.tol)[0] == FAIL
