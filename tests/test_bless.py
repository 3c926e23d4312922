"""`checks bless`: a run's values become goldens; tolerances never move; the diff is shown first."""

import os
import shutil
import subprocess
import sys

import yaml

from checks import goldens as G, judge as engine
from checks.findings import PASS, exit_code
from checks.run import Run
from conftest import EXPECTED, ROOT
from tutorial_run import BENCH, CONSERVATIVE_7B_FP8_GIB, build_run

# faster everywhere (ratios hold); the 7B-FP8 loads what the tutorial's conservative config gives, as on an H100
H200 = {v: (CONSERVATIVE_7B_FP8_GIB if v == "7b-fp8" else mem, round(tps * 1.4, 1)) for v, (mem, tps) in BENCH.items()}


def checks(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "checks", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, stdin=stdin)


def test_bless_writes_new_values_keeps_tolerances_and_records_the_source(tmp_path):
    run = build_run(tmp_path, name="h200run", gpu="NVIDIA H200", bench=H200, loss_scale=1.3)
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    assert exit_code(engine.judge(Run.load(run), G.load(into))) == 0  # H200: absolute throughput SKIPped
    p = checks("bless", run, "--into", into, "--yes", "--step", "bench")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "by_gpu: {H100: 1147, H200: 1605.8}" in p.stdout
    old, new = yaml.safe_load(EXPECTED.read_text()), yaml.safe_load(into.read_text())
    for a, b in zip(old["bench"], new["bench"]):
        assert a.get("tol") == b.get("tol")  # never loosened, never tightened
    fp8 = next(e for e in new["bench"] if e["id"] == "7b-fp8_output_tokens_per_s")
    assert fp8["by_gpu"] == {"H100": 1147, "H200": 1605.8} and "blessed from run h200run" in fp8["source"]
    assert "ModelOpt 0.44.0" in fp8["source"]
    assert new["prune"] == old["prune"]  # --step bench touched only bench
    # the blessed file now judges that run on its own GPU, absolutes included
    v = {x.id: x for x in engine.judge(Run.load(run), G.load(into), ["bench"])}
    assert v["7b-fp8_output_tokens_per_s"].status == "PASS" and v["7b-fp8_output_tokens_per_s"].expected == 1605.8


def test_bless_refuses_an_incomplete_run_and_writes_nothing(tmp_path):
    run = build_run(tmp_path)
    (run / "bench" / "7b-fp8" / "step.log").write_text("INFO vllm starting\n")
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    p = checks("bless", run, "--into", into, "--yes")
    assert p.returncode == 2 and "nothing was written" in p.stderr and "bench.7b-fp8_output_tokens_per_s" in p.stderr
    assert into.read_text() == EXPECTED.read_text()


def test_bless_without_yes_and_without_a_terminal_asks_for_it(tmp_path):
    run = build_run(tmp_path, loss_scale=1.0, bench={"7b-bf16": (13.1, 970.0)})
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    p = checks("bless", run, "--into", into, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "--yes" in p.stderr and "-  by_gpu: {H100: 963}" in p.stdout
    assert into.read_text() == EXPECTED.read_text()


def test_blessing_the_tutorial_run_moves_values_only_within_their_tolerance(tmp_path):
    run = build_run(tmp_path)
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    assert checks("bless", run, "--into", into, "--yes").returncode == 0
    old, new = G.load(EXPECTED), G.load(into)
    moved = 0
    for step, gs in old.steps.items():
        for a, b in zip(gs, new.steps[step]):
            assert a.tol == b.tol and a.id == b.id
            if a.expect != b.expect:
                moved += 1  # e.g. the exact parameter count where the tutorial printed 7.00B
                if a.mean_of:  # the tutorial's Average is its row's mean, printed to 0.1
                    assert abs(b.expect - a.expect) <= 0.05, (a.id, a.expect, b.expect)
                    continue
                assert engine.compare(b.expect, a.expect, a.tol)[0] == PASS, (a.id, a.expect, b.expect)
    assert 0 < moved < 40
    limits = [g for gs in new.steps.values() for g in gs if g.tol.kind in ("at_most", "at_least")]
    assert all(g.expect == next(x for x in old.steps[g.step] if x.id == g.id).expect for g in limits)
