"""The Makefile end to end with test doubles of the GPU tools: plans, runs, failures, resume, secrets."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from kit_env import ROOT, SECRET, calls, kit, make, make_command

TARGETS = ["help", "image", "data", "prune", "distill", "convert", "eval", "quantize", "bench-bf16", "bench-fp8",
           "bench", "reproduce", "check", "plan", "test"]


def test_help_lists_every_target():
    p = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True)
    listed = set(re.findall(r"^  ([a-z0-9-]+) ", p.stdout, re.M))
    assert set(TARGETS) <= listed, set(TARGETS) - listed


@pytest.mark.slow
def test_dry_run_shows_the_real_commands_in_order(tmp_path):
    p = make(tmp_path, "-n", "reproduce", check=True)
    runs = re.findall(r"^# (\S+) runs: (.*)$", p.stdout, re.M)
    assert [u for u, _ in runs] == ["data", "prune", "distill", "convert", "eval/iter_12800", "quantize/conservative",
                                    "bench/9b-bf16", "bench/7b-bf16", "bench/7b-fp8"]
    cmd = dict(runs)
    assert cmd["prune"].startswith("torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py")
    assert "/examples/megatron_bridge/distill.py" in cmd["distill"] and "distill_minitron" not in cmd["distill"]
    assert "--megatron-path " in cmd["convert"] and "/checkpoints/iter_0012800 " in cmd["convert"]
    assert cmd["bench/7b-fp8"].startswith("vllm bench throughput --model ") and "/quantize/conservative/hf_fp8 " in cmd["bench/7b-fp8"]
    assert "checks verify" in p.stdout
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_plan_prints_resources_and_gpu_hours(tmp_path):
    p = make(tmp_path, "plan", check=True, NODES="")
    assert "== distill [to run]  96 nodes x 8 GPU, ~12 h, 9,216.0 GPU-h" in p.stdout
    assert "== prune [to run]  1 node x 8 GPU, ~1 h, 8.0 GPU-h  (tutorial §2" in p.stdout
    assert "deviation distill-script-name (erratum)" in p.stdout
    total = float(re.search(r"Total: ([\d,.]+) GPU-hours", p.stdout).group(1).replace(",", ""))
    assert 9_400 < total < 9_500


@pytest.mark.slow
def test_reproduce_with_doubles_then_resume_after_a_failure(tmp_path):
    p = make(tmp_path, "reproduce", env_extra={"DOUBLE_FAIL_AT": "quantize"})
    assert p.returncode != 0
    run = tmp_path / "runs" / "e2e"
    q = run / "quantize" / "conservative"
    assert (run / "convert" / ".done").exists() and not (q / ".done").exists()
    meta = json.loads((q / "step.json").read_text())
    assert meta["exit_code"] == 1 and "injected failure" in (q / "step.log").read_text()
    before = calls(tmp_path)
    assert before.count("prune_minitron") == 1 and before.count("distill") == 1

    p = make(tmp_path, "reproduce")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]
    after = calls(tmp_path)[len(before):]
    assert "prune_minitron" not in after and "distill" not in after and "convert" not in after
    assert after.count("quantize") == 1
    # the failed attempt is kept, not overwritten
    assert "injected failure" in (q / "attempts" / "1" / "step.log").read_text()
    # `make check` ran at the end and judged the run
    assert "PASS" in p.stdout and (run / "report.json").exists()
    report = json.loads((run / "report.json").read_text())
    bad = [v for v in report["findings"] if v["status"] not in ("PASS", "SKIP", "XFAIL")]
    assert not bad, bad
    # a faithful run: exit 0, the tutorial's known discrepancies shown as such (conservative FP8 vs its table)
    assert sorted(v["id"] for v in report["findings"] if v["status"] == "XFAIL") == [
        "7b-fp8_model_loading_gib", "layout_mamba_in_proj", "layout_mamba_out_proj", "memory_7b-fp8_vs_7b-bf16"]
    # the iteration the tutorial converts survived the trainer's checkpoint rotation
    ckpts = run / "distill" / "output" / "checkpoints"
    assert (ckpts / "iter_0012800").is_dir() and not (ckpts / "iter_0012000").exists()
    assert (run / "convert" / "hf_iter_12800").is_symlink() and (q / "hf_fp8" / "config.json").exists()

    m = json.loads((run / "manifest.json").read_text())
    assert m["gpu"]["model"] == "NVIDIA H100 80GB HBM3" and m["steps"]["quantize/conservative"]["exit_code"] == 0
    assert {"distill-script-name", "distill-data-blend-quoting", "convert-megatron-iteration-padding",
            "quantize-fp8-conservative", "eval-fill-fields"} <= set(m["errata"])
    assert "[kit] erratum distill-script-name" in (run / "distill" / "step.log").read_text()
    assert "[kit] patch quantize-fp8-conservative" in (q / "step.log").read_text()

    # secrets: never in a log, a manifest, a rendered script or a report
    leaked = [str(f) for f in run.rglob("*") if f.is_file() and f.stat().st_size < 50_000_000
              and not f.name.endswith(".safetensors") and (SECRET in f.read_text(errors="replace")
                                                           or "sk-AlsoSecret99" in f.read_text(errors="replace"))]
    assert not leaked
    assert "HF_TOKEN=***" in (run / "prune" / "step.log").read_text()


@pytest.mark.slow
def test_killed_step_resumes_without_redoing_finished_steps(tmp_path):
    args, env = make_command(tmp_path, "distill", env_extra={"DOUBLE_SLEEP": "0.3"})
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log = tmp_path / "runs" / "e2e" / "distill" / "step.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and "successfully saved checkpoint" in log.read_text()):
        time.sleep(0.2)
    assert log.exists(), proc.stdout.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)  # the whole make, runner and step: as a lost node would
    proc.wait()
    run = tmp_path / "runs" / "e2e"
    assert (run / "prune" / ".done").exists() and not (run / "distill" / ".done").exists()
    before = calls(tmp_path)
    p = make(tmp_path, "distill", env_extra={"DOUBLE_SLEEP": "0"})
    assert p.returncode == 0, p.stdout[-3000:]
    after = calls(tmp_path)[len(before):]
    assert after == ["distill"] and (run / "distill" / ".done").exists()
    assert (run / "distill" / "attempts" / "1" / "step.log").exists()


def test_preflight_stops_before_launching(tmp_path):
    p = make(tmp_path, "prune", RUNNER="docker")
    assert p.returncode == 2 or "Error 2" in p.stderr
    assert "nothing was launched" in p.stderr and "Docker engine" in p.stderr
    assert calls(tmp_path) == [] and not (tmp_path / "runs" / "e2e" / "prune" / "step.log").exists()
    p = kit(tmp_path, "step", "distill", env_extra={"HF_TOKEN": ""})
    assert p.returncode == 2
    for needle in ("needs 96 nodes x 8 GPUs: use RUNNER=slurm, or NODES=1", "set HF_TOKEN", "run `make prune`",
                   "run `make data`"):
        assert needle in p.stderr, (needle, p.stderr)
    p = kit(tmp_path, "step", "eval/iter_12800")
    assert "set SLURM_HOST" in p.stderr and "set SLURM_ACCOUNT" in p.stderr
    assert calls(tmp_path) == []


def test_gpu_count_is_checked_and_preflight_skip_is_validated(tmp_path):
    p = kit(tmp_path, "preflight", "prune", env_extra={"DOUBLE_GPUS": "2"})
    assert p.returncode == 2 and "needs 8 GPUs on this machine; nvidia-smi sees 2 (NVIDIA H100 80GB HBM3)" in p.stderr
    p = kit(tmp_path, "preflight", "prune", env_extra={"PREFLIGHT_SKIP": "dsik"})
    assert p.returncode == 2 and "PREFLIGHT_SKIP=dsik: expected any of" in p.stderr


def test_unknown_profile_and_step_are_clear_errors(tmp_path):
    p = kit(tmp_path, "show", "distil")
    assert p.returncode == 2 and "no step 'distil' in this profile" in p.stderr
    p = make(tmp_path, "plan", PROFILE="nope")
    assert p.returncode != 0 and "PROFILE=nope is unknown: expected one of full" in p.stderr


@pytest.mark.slow
def test_math500_is_an_explicit_opt_in_with_its_key(tmp_path):
    p = make(tmp_path, "eval", MATH500="1", env_extra={"JUDGE_API_KEY": ""})
    assert p.returncode != 0 and "needs JUDGE_API_KEY" in p.stderr
    assert "eval" not in calls(tmp_path)
    p = make(tmp_path, "eval", MATH500="1", env_extra={"JUDGE_API_KEY": "judge-Secret-123"})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    run = tmp_path / "runs" / "e2e"
    assert calls(tmp_path).count("eval") == 2  # the tutorial's six tasks, then the one it comments out
    meta = json.loads((run / "eval" / "iter_12800" / "step.json").read_text())
    assert {"addition-eval-mmlu", "addition-eval-math500"} <= {d["id"] for d in meta["deviations"]}
    assert "[kit] addition addition-eval-math500" in (run / "eval" / "iter_12800" / "step.log").read_text()
    p = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "checks", "verify", str(run), "--step", "eval",
                        "--json", str(tmp_path / "v.json")], cwd=ROOT, capture_output=True, text=True)
    v = {x["id"]: x for x in json.loads((tmp_path / "v.json").read_text())["findings"]}
    assert v["iter_12800_AA_math_test_500_score_micro_avg_of_5"]["status"] == "PASS"
    assert v["iter_12800_average"]["status"] == "PASS" and "of 8" not in v["iter_12800_average"]["note"]
    leaked = [str(f) for f in run.rglob("*") if f.is_file() and not f.name.endswith(".safetensors")
              and "judge-Secret-123" in f.read_text(errors="replace")]
    assert not leaked


@pytest.mark.slow
def test_without_math500_a_faithful_eval_skips_it_and_says_why(tmp_path):
    assert make(tmp_path, "eval").returncode == 0
    run = tmp_path / "runs" / "e2e"
    p = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "checks", "verify", str(run), "--step", "eval",
                        "--json", str(tmp_path / "v.json")], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:]
    v = {x["id"]: x for x in json.loads((tmp_path / "v.json").read_text())["findings"]}
    math = v["iter_12800_AA_math_test_500_score_micro_avg_of_5"]
    assert math["status"] == "SKIP" and "addition-eval-math500" in math["note"]
    assert v["iter_12800_average"]["status"] == "PASS" and "over the 7 of 8 benchmarks" in v["iter_12800_average"]["note"]


def test_plan_commands_are_whole_lines_that_a_shell_takes_back(tmp_path):
    p = make(tmp_path, "plan", check=True, NODES="")
    cmds = [line[len("   $ "):] for line in p.stdout.splitlines() if line.startswith("   $ ")]
    assert len(cmds) == 13  # every step of the full profile, extras (aggressive FP8, 9B-FP8, 12B) included
    distill = next(c for c in cmds if "distill.py" in c)
    import shlex

    words = shlex.split(distill)  # a whole, quoted command: nothing cut mid-token
    assert words[:4] == ["torchrun", "--nproc_per_node", "8", "/opt/Model-Optimizer/examples/megatron_bridge/distill.py"]
    assert "--output_dir" in words and words[-1].endswith("/distill/output")


@pytest.mark.slow
def test_bench_repeats_runs_the_command_n_times_and_judges_the_median(tmp_path):
    p = make(tmp_path, "bench-fp8", BENCH_REPEATS="3")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert calls(tmp_path).count("bench/7b-fp8") == 3
    sdir = tmp_path / "runs" / "e2e" / "bench" / "7b-fp8"
    assert json.loads((sdir / "step.json").read_text())["repeats"] == 3
    from checks.run import Run

    r = Run.load(tmp_path / "runs" / "e2e").step("bench").record.runs["7b-fp8"]
    assert len(r.results) == 3 and r.output_tokens_per_s == 1147 and r.output_tokens_per_s_cv == 0
    p = make(tmp_path, "plan", BENCH_REPEATS="-2")
    assert p.returncode != 0 and "BENCH_REPEATS=-2 is not a positive integer" in p.stderr


@pytest.mark.slow
def test_bench_extra_reproduces_the_tables_fp8_row_with_the_aggressive_config(tmp_path):
    p = make(tmp_path, "bench", BENCH_EXTRA="1")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert calls(tmp_path).count("quantize") == 2 and "bench/7b-fp8-aggressive" in calls(tmp_path)
    run = tmp_path / "runs" / "e2e"
    assert "[kit] patch quantize-fp8-aggressive" in (run / "quantize" / "aggressive" / "step.log").read_text()
    p = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "checks", "verify", str(run), "--step", "quantize",
                        "--step", "bench", "--json", str(tmp_path / "v.json")], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:]
    v = {x["id"]: x for x in json.loads((tmp_path / "v.json").read_text())["findings"]}
    for gid in ("aggressive_layout_mamba_in_proj", "7b-fp8-aggressive_model_loading_gib",
                "memory_7b-fp8-aggressive_vs_7b-bf16", "lineage_quantize_aggressive_is_an_fp8_export_of_convert"):
        assert v[gid]["status"] == "PASS", (gid, v[gid])
    assert v["layout_mamba_in_proj"]["status"] == "XFAIL" and v["7b-fp8_model_loading_gib"]["status"] == "XFAIL"


def test_readme_first_lines_name_real_targets():
    """The README's opening commands (with GPUs, without, the tests) stay true: each `make` word is a target."""
    lines = (ROOT / "README.md").read_text().split("\n\n", 2)[1].splitlines()
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = [w for ln in lines if ln.strip().startswith("make ") for w in ln.split("#")[0].split()[1:] if "=" not in w]
    assert {"image", "reproduce", "demo", "test"} <= set(named) and set(named) <= targets, (named, targets)
