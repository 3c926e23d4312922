"""`checks drift --gate` on real upstream trees (tests/fixtures/upstream/, PROVENANCE.md there): what each version
will do with the tutorial's commands, before any GPU time. Exit 0 means "this version will run the tutorial's
commands": scripts and flags (rendered with that version's errata), imports against the image's Megatron-Bridge
0.3.0 / megatron-core 0.16.0, the evaluator config's metrics against the goldens, and (with the pinned launcher
built in .envs/launcher) the launcher's own --dry-run.

The real launcher is needed for the dry-run tests: they skip, saying so, when .envs/launcher is absent, unless
KIT_REQUIRE_LAUNCHER=1 (CI), where its absence fails."""

import json
import os
import subprocess
import sys

import pytest

from checks import goldens as G
from checks.drift import evalcfg, launcher as L
from conftest import ROOT

UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
LAUNCHER = ROOT / ".envs" / "launcher" / "bin" / "nemo-evaluator-launcher"
REFS = ["0.44.0", "0.45.0", "0.46.0", "main"]
VERSION = {"0.44.0": "0.44.0", "0.45.0": "0.45.0", "0.46.0": "0.46.0", "main": "0.47.0.dev0"}


def need_launcher():
    if not LAUNCHER.exists():
        if os.environ.get("KIT_REQUIRE_LAUNCHER") == "1":
            pytest.fail(f"KIT_REQUIRE_LAUNCHER=1 but {LAUNCHER} is absent: {L.BUILD}")
        pytest.skip(f"the pinned nemo-evaluator-launcher is not built ({L.BUILD}); set KIT_REQUIRE_LAUNCHER=1 to fail instead")


def rendered(tmp_path, ref):
    """The full profile's commands as the kit renders them for that ModelOpt version (errata applied)."""
    p = subprocess.run([sys.executable, "scripts/kit.py", "--run-dir", str(tmp_path / "runs" / "x"), "--runner", "local",
                        "--profile", "full", "--modelopt-ref", ref, "--modelopt-version", VERSION[ref],
                        "--slurm-host", "login1", "--slurm-account", "acct", "commands"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    f = tmp_path / f"commands-{ref}.json"
    f.write_text(p.stdout)
    return f


def gate(tmp_path, ref, *extra, launcher=None):
    argv = [sys.executable, "-m", "checks", "drift", "--gate", "--commands", str(rendered(tmp_path, ref)),
            "--modelopt-root", str(UPSTREAM / "Model-Optimizer" / ref), "--bridge-root", str(UPSTREAM / "Megatron-Bridge" / "v0.3.0"),
            "--expected", "expected/full.yaml", "--packages", str(UPSTREAM / "packages"),
            "--launcher", str(launcher or tmp_path / "no-launcher-here"), "--json", str(tmp_path / "gate.json"), *extra]
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"})
    found = json.loads((tmp_path / "gate.json").read_text())["findings"] if (tmp_path / "gate.json").exists() else []
    return p, found


def by(found, status):
    return {(f["step"], f["id"]) for f in found if f["status"] == status}


@pytest.mark.parametrize("ref", REFS)
def test_eval_goldens_against_the_config_at_each_ref(ref):
    """The goldens are the seed's table (LiveCodeBench avg-of-8, AIME avg-of-64): producible at 0.44.0 only."""
    text = (UPSTREAM / "Model-Optimizer" / ref / evalcfg.EVAL_YAML).read_text()
    found = {f.id: f for f in evalcfg.check(text, "cfg", G.load(ROOT / "expected" / "full.yaml"), "expected/full.yaml")}
    missing = sorted(k for k, f in found.items() if f.status == "MISSING")
    if ref == "0.44.0":
        assert missing == [] and len(found) == 7  # 6 tasks + Math 500 (commented out, the MATH500=1 addition)
    else:
        assert missing == ["aime25_pass_at_1_avg-of-64_symbolic_correct", "livecodebench_pass_at_1_avg-of-8_accuracy"]
        lcb = found["livecodebench_pass_at_1_avg-of-8_accuracy"]
        assert lcb.measured == "livecodebench_pass_at_1_avg-of-4_accuracy" and "num_repeats changed" in lcb.note
        assert "8 golden(s) in expected/full.yaml" in lcb.note
        assert found["aime25_pass_at_1_avg-of-64_symbolic_correct"].measured == "aime25_pass_at_1_avg-of-32_symbolic_correct"


def test_metric_names_follow_num_repeats():
    assert evalcfg.task_metric({"name": "ns_gpqa", "nemo_evaluator_config": {"config": {"params": {"extra": {"num_repeats": 8}}}}}) \
        == ("ns_gpqa", "gpqa_pass_at_1_avg-of-8_symbolic_correct")
    assert evalcfg.task_metric({"name": "ns_ifeval"}) == ("ns_ifeval", "ifeval_pass_at_1_average_score")
    assert evalcfg.task_metric({"name": "something_new"}) is None


@pytest.mark.parametrize("ref,code", [("0.44.0", 2), ("0.45.0", 2), ("0.46.0", 2), ("main", 2)])
def test_gate_without_the_launcher_is_an_error_not_a_pass(tmp_path, ref, code):
    p, found = gate(tmp_path, ref)
    assert p.returncode == code, p.stdout + p.stderr
    (e,) = [f for f in found if f["status"] == "ERROR"]
    assert e["id"] == "launcher --dry-run" and "python3 -m venv .envs/launcher" in e["note"]


@pytest.mark.parametrize("ref", REFS)
def test_gate_findings_per_version_before_the_dry_run(tmp_path, ref):
    """Everything but the launcher: the scripts and flags (rendered with errata), imports, and goldens."""
    _, found = gate(tmp_path, ref)
    failing = by(found, "MISSING") | by(found, "FAIL")
    want = set()
    if ref != "0.44.0":
        want |= {("eval", "aime25_pass_at_1_avg-of-64_symbolic_correct"), ("eval", "livecodebench_pass_at_1_avg-of-8_accuracy")}
    if ref in ("0.46.0", "main"):
        line = 43 if ref == "0.46.0" else 44
        want.add(("distill", f"examples/megatron_bridge/distill.py:{line} from megatron.bridge.training.config import ValidationConfig"))
    assert failing == want, failing ^ want
    assert ("distill", "examples/megatron_bridge/distill.py") in by(found, "SAME")  # flags: every one accepted
    assert any(f["id"].endswith("imports megatron.core") and f["status"] == "SAME" for f in found)
    readme_only = [f for f in found if f["step"] == "README"]
    assert all(f["status"] in ("SKIP", "SAME") for f in readme_only)  # README text: shown, not gating


@pytest.mark.parametrize("ref,code", [("0.44.0", 0), ("0.45.0", 1), ("0.46.0", 1), ("main", 1)])
def test_gate_with_the_pinned_launcher(tmp_path, ref, code):
    """The faithful plan at the pinned version passes the gate, dry-run included; later versions do not."""
    need_launcher()
    p, found = gate(tmp_path, ref, launcher=LAUNCHER)
    assert p.returncode == code, p.stdout[-3000:] + p.stderr[-2000:]
    (d,) = [f for f in found if f["id"] == "launcher --dry-run"]
    assert d["status"] == "SAME" and "nemo-evaluator-launcher 0.1.90" in d["note"], d


def test_dry_run_of_the_yaml_as_written_stops_with_the_launchers_own_message(tmp_path):
    """Without the erratum, the pinned 0.1.90 refuses the tutorial's yaml, and the kit says why in its words."""
    need_launcher()
    text = (UPSTREAM / "Model-Optimizer" / "0.44.0" / evalcfg.EVAL_YAML).read_text()
    cmd = json.loads(rendered(tmp_path, "0.44.0").read_text())["eval/iter_12800"]
    plain = cmd.split(" -o evaluation.env_vars.HF_TOKEN=host:HF_TOKEN")[0] + "\n"
    (f,) = L.dry_run(plain, text, "Model-Optimizer 0.44.0", LAUNCHER, "0.1.90")
    assert f.status == "FAIL" and f.measured.startswith("Env var value 'HF_TOKEN' must have an explicit prefix. Use 'host:HF_TOKEN'")
    (ok,) = L.dry_run(cmd, text, "Model-Optimizer 0.44.0", LAUNCHER, "0.1.90")
    assert ok.status == "SAME"


def test_dry_run_environment_keeps_secrets_out(tmp_path):
    cmd = "export HF_TOKEN=hf_real\nexport HF_HOME=/cache\nnemo-evaluator-launcher run --config nemo_evaluator.yaml -o a=b\n"
    env = L._environment(cmd, tmp_path)
    assert env["HF_TOKEN"] == "kit-dry-run-placeholder" and env["HF_HOME"] == "/cache" and env["HOME"] == str(tmp_path)
    assert L.launch_lines(cmd) == ["nemo-evaluator-launcher run --config nemo_evaluator.yaml -o a=b"]
