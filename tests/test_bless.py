"""`checks bless`: a run's values become goldens; tolerances never move; the diff is shown first."""

import difflib
import os
import shutil
import subprocess
import sys

import yaml

from checks import goldens as G, registry
from checks.engine import evaluate
from checks.findings import exit_code
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
    assert exit_code(evaluate(G.load(into), Run.load(run))) == 0  # H200: absolute throughput SKIPped
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
    v = {x.id: x for x in evaluate(G.load(into), Run.load(run), steps=["bench"])}
    assert v["7b-fp8_output_tokens_per_s"].status == "PASS" and v["7b-fp8_output_tokens_per_s"].expected == 1605.8


def test_bless_refuses_an_incomplete_run_and_writes_nothing(tmp_path):
    run = build_run(tmp_path)
    (run / "bench" / "7b-fp8" / "step.log").write_text("INFO vllm starting\n")
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    p = checks("bless", run, "--into", into, "--yes")
    assert p.returncode == 2 and "nothing was written" in p.stderr and "bench.7b-fp8_output_tokens_per_s" in p.stderr
    assert into.read_text() == EXPECTED.read_text()


def paper_copy(into):
    """full.yaml with no source citing the tutorial: every value it holds may be blessed."""
    into.write_text(EXPECTED.read_text().replace("tutorial", "paper"))
    return into


def test_bless_without_yes_and_without_a_terminal_asks_for_it(tmp_path):
    run = build_run(tmp_path, loss_scale=1.0, bench={"7b-bf16": (13.1, 970.0)})
    into = paper_copy(tmp_path / "g.yaml")
    before = into.read_text()
    p = checks("bless", run, "--into", into, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "--yes" in p.stderr and "-  by_gpu: {H100: 963}" in p.stdout
    assert "+  by_gpu: {H100: 970.0}" in p.stdout
    assert into.read_text() == before


def test_the_tutorial_run_blesses_nothing_and_no_tutorial_value_moves(tmp_path):
    """The faithful run reproduces every value the tutorial gives within its tolerance: those are kept as the
    tutorial wrote them (bless never replaces them), and the rest equal the run's already: nothing to write."""
    run = build_run(tmp_path)
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    p = checks("bless", run, "--into", into, "--yes")
    assert p.returncode == 0 and "nothing to write" in p.stdout, p.stdout + p.stderr
    assert "the tutorial's value; this run reproduces it within tolerance" in p.stdout
    assert into.read_bytes() == EXPECTED.read_bytes()


def test_bless_refuses_to_replace_a_value_the_tutorial_gives_and_says_why(tmp_path):
    """Issue 15: a run whose throughput is 20 % off the tutorial's table did not reproduce it; blessing it would let
    the next run with the same deviation PASS."""
    run = build_run(tmp_path, bench={"7b-bf16": (13.1, 963 * 1.2)})
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    p = checks("bless", run, "--into", into, "--yes", "--step", "bench")
    assert p.returncode == 2 and "bless never replaces a value the tutorial gives" in p.stderr, p.stdout + p.stderr
    assert "bench.7b-bf16_output_tokens_per_s: 963 -> 1155.6" in p.stderr and "nothing was written" in p.stderr
    assert "did not reproduce it" in p.stderr and "xfail" in p.stderr and "Traceback" not in p.stderr
    assert into.read_bytes() == EXPECTED.read_bytes()


def test_blessing_n_values_changes_their_lines_only_comments_and_order_stay(tmp_path):
    """A reviewable edit: only the blessed values and their `source:` change, in place; every comment, every other
    entry, the order and the folding stay as they were; tolerances never move; the diff is printed unwrapped."""
    bench = {v: (mem, round(tps * 1.04, 1)) for v, (mem, tps) in BENCH.items()}
    run = build_run(tmp_path, loss_scale=1.02, bench=bench)
    into = paper_copy(tmp_path / "g.yaml")
    old_text = into.read_text()
    p = checks("bless", run, "--into", into, "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    new_text = into.read_text()
    new, before, after = G.load(into), yaml.safe_load(old_text), yaml.safe_load(new_text)
    blessed = [(s, e["id"]) for s in registry.judged() for e, f in zip(before.get(s, []), after.get(s, [])) if e != f]
    n = len(blessed)
    assert n >= 5
    removed = [l for l in difflib.unified_diff(old_text.splitlines(), new_text.splitlines(), lineterm="", n=0)
               if l.startswith("-") and not l.startswith("---")]
    assert len(removed) <= 3 * n, (n, len(removed))  # each value with its source: one to three lines, never the file
    comments = lambda t: [l for l in t.splitlines() if l.lstrip().startswith("#")]  # noqa: E731
    assert comments(new_text) == comments(old_text) and comments(old_text)
    top = lambda t: [k for k in yaml.safe_load(t)]  # noqa: E731
    assert top(new_text) == top(old_text)
    for step, gs in new.steps.items():
        for g in gs:
            if (step, g.id) in blessed:
                assert "blessed from run tutorial" in g.source and g.tol == next(x.tol for x in G.load(EXPECTED).steps[step]
                                                                                if x.id == g.id)
    assert max(map(len, p.stdout.splitlines())) > 120  # the diff's lines as they are, never wrapped at 200 columns
