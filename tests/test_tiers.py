"""The regression tiers: tiny and prune-quant-bench plans, `make regress`, and the tiny teacher built for real."""

import json
import subprocess
import sys

import pytest

from checks import goldens as G
from checks.values import compare
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


@pytest.mark.slow
def test_tiny_dry_run_uses_the_tiny_recipes(tmp_path):
    p = make(tmp_path, "-n", "reproduce", PROFILE="tiny", check=True)
    assert "python3 scripts/tiny_model.py --out " in p.stdout
    assert "torchrun --nproc_per_node 1 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py" in p.stdout
    assert "--train_iters 40" in p.stdout and "--random-input-len 128" in p.stdout
    assert "distill_minitron" not in p.stdout  # tiny recipes call the real script name


def test_regress_refusals(tmp_path):
    p = make(tmp_path, "regress", "MODELOPT_REF=0.45.0", PROFILE="tiny")
    assert p.returncode == 2 and "set BASELINE=runs/<id>" in p.stderr
    p = make(tmp_path, "regress", "MODELOPT_REF=0.45.0", f"BASELINE={tmp_path}", PROFILE="tiny")
    assert p.returncode == 2 and "is not a run directory" in p.stderr


# ---- make regress across ModelOpt versions: the plans, the flag check before launch, the flow with the doubles ----

UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
BRIDGE_0_3_0 = UPSTREAM / "Megatron-Bridge" / "v0.3.0"  # what nemo:26.02 ships
# How each version expresses the tutorial's FP8 intent (recipes/errata.yaml quantize-fp8-conservative).
FP8 = {"0.44.0": ("examples/llm_ptq/hf_ptq.py", "--qformat fp8", True),
       "0.45.0": ("examples/llm_ptq/hf_ptq.py", "--qformat mamba_moe_fp8_conservative", False),
       "0.46.0": ("examples/hf_ptq/hf_ptq.py", "--qformat mamba_moe_fp8_conservative", False),
       "0.47.0": ("examples/hf_ptq/hf_ptq.py", "--qformat mamba_moe_fp8_conservative", False)}
TINY_UNITS = ("data", "prune", "distill", "convert", "eval/tiny", "quantize", "bench/tiny-bf16", "bench/tiny-fp8")


def modelopt_at(d, version: str):
    """A Model-Optimizer checkout laid out as `version` has it, from the real argparse extracts in
    tests/fixtures/upstream/ (0.47.0: the `main` extracts, as the mirror has no 0.47.0 tag): examples/llm_ptq/ up to
    0.45, examples/hf_ptq/ from 0.46 with llm_ptq a symlink to it at 0.46 and gone after. At 0.44 hf_ptq.py also holds
    QUANT_CFG_CHOICES' "fp8" line (upstream L105) for the kit's patch. .kit-ref as the image writes it."""
    import shutil

    src = UPSTREAM / "Model-Optimizer" / ("main" if version == "0.47.0" else version)
    moved = version >= "0.46.0"
    for f in sorted(src.rglob("*.py")):
        if moved and f.parent.name == "llm_ptq":
            continue
        dst = d / f.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst)
    if version < "0.45.0":
        ptq = d / "examples/llm_ptq/hf_ptq.py"
        lines = ptq.read_text().split("\n")
        assert lines[104] == ""  # the extract keeps upstream line numbers: L105 is blank in it
        lines[104] = '    QUANT_CFG_CHOICES = {"int8": mtq.INT8_DEFAULT_CFG, "fp8": mtq.FP8_DEFAULT_CFG,}'
        ptq.write_text("\n".join(lines))
    if version == "0.46.0":
        (d / "examples/llm_ptq").symlink_to("hf_ptq")
    (d / ".kit-ref").write_text(f"{version} 0000000000000000000000000000000000000000\n")
    return d


def at(tmp, version: str, **variables):
    """make variables and environment for a run against the checkout of `version` (the doubles read MODELOPT_DIR)."""
    mo = tmp / f"modelopt-{version}"
    if not mo.exists():
        modelopt_at(mo, version)
    return dict(MODELOPT_REF=version, MODELOPT_DIR=str(mo), BRIDGE_DIR=str(BRIDGE_0_3_0), PROFILE="tiny",
                env_extra={"MODELOPT_DIR": str(mo)}, **variables)


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["0.44.0", "0.45.0", "0.46.0", "0.47.0"])
def test_plan_per_version_has_a_runnable_command_for_every_tiny_step(tmp_path, ref):
    import shlex

    script, qformat, patched = FP8[ref]
    p = make(tmp_path, "plan", PROFILE="tiny", MODELOPT_REF=ref, check=True)
    cmds, patches = {}, {}
    for line in p.stdout.splitlines():
        if line.startswith("== "):
            unit = line.split()[1]
        elif line.startswith("   $ "):
            cmds[unit] = line[len("   $ "):]
        elif line.startswith("   patch "):  # an upstream edit made in the container before the command: its own line
            patches[unit] = patches.get(unit, "") + line
    assert tuple(cmds) == TINY_UNITS
    for unit, cmd in cmds.items():
        assert "[patch" not in cmd, (unit, cmd)  # the $ line is shell only
        shlex.split(cmd)  # whole, quoted words
        assert subprocess.run(["bash", "-n", "-c", cmd]).returncode == 0, (unit, cmd)
        assert "${" not in cmd and "nvidia/" not in cmd and "hf.co" not in cmd, (unit, cmd)
    q = cmds["quantize"]
    assert f"python /opt/Model-Optimizer/{script} " in q and f"{qformat} " in q
    pq = patches.get("quantize", "")
    assert bool(pq) == patched and ("MAMBA_MOE_FP8_CONSERVATIVE_CFG" in pq) == patched and set(patches) <= {"quantize"}
    assert "deviation quantize-fp8-conservative (patch)" in p.stdout if patched else \
        "deviation quantize-fp8-conservative (erratum)" in p.stdout


@pytest.mark.slow
@pytest.mark.parametrize("ref", ["0.45.0", "0.46.0", "0.47.0"])
def test_regress_dry_run_per_version(tmp_path, ref):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "manifest.json").write_text("{}")
    script, qformat, _ = FP8[ref]
    run = f"regress-tiny-modelopt-{ref}"
    if ref == "0.47.0":
        # a release on PyPI with no git tag: the image cannot check it out, and says so before Docker is asked
        p = make(tmp_path, "regress", f"BASELINE={tmp_path / 'base'}", PROFILE="tiny", MODELOPT_REF=ref, RUNNER="docker")
        assert p.returncode == 2 and "MODELOPT_REF=0.47.0 is a release of nvidia-modelopt on PyPI, not a tag" in p.stderr
        assert "Traceback" not in p.stderr and not (tmp_path / "runs" / run).exists()
    else:
        p = make(tmp_path, "-n", "regress", f"BASELINE={tmp_path / 'base'}", PROFILE="tiny", MODELOPT_REF=ref,
                 RUNNER="docker", check=True)
        out = p.stdout
        order = [out.index(s) for s in (f"scripts/image.py build --image nemotron-repro:modelopt-{ref} --modelopt-ref {ref}",
                                        f" commands > {tmp_path}/runs/{run}/commands.json.tmp",
                                        f"nemotron-repro:modelopt-{ref} python3 -m checks drift --gate --modelopt-ref {ref} "
                                        f"--commands {tmp_path}/runs/{run}/commands.json",
                                        "# data runs: ", " step data", "# bench/tiny-fp8 runs: ", "checks verify", "checks diff ")]
        assert order == sorted(order)  # image, then the front door (make gate), then the steps, then the judges
        shown = {line.split()[1]: line.split(" runs: ", 1)[1] for line in out.splitlines()
                 if line.startswith("# ") and " runs: " in line}
        assert tuple(shown) == TINY_UNITS
        assert f"python /opt/Model-Optimizer/{script} " in shown["quantize"] and qformat in shown["quantize"]
        assert "[patch " not in shown["quantize"] and "kit: " not in out + p.stderr
    # RUNNER=local: this environment is the image; nothing is built, the checkout is named instead (0.47.0 too)
    p = make(tmp_path, "-n", "regress", f"BASELINE={tmp_path / 'base'}", PROFILE="tiny", MODELOPT_REF=ref, check=True)
    assert "image.py build" not in p.stdout and "RUNNER=local runs in this environment: no image is built" in p.stdout
    assert f".venv/bin/python -m checks drift --gate --modelopt-ref {ref}" in p.stdout
    shown = {line.split()[1]: line.split(" runs: ", 1)[1] for line in p.stdout.splitlines()
             if line.startswith("# ") and " runs: " in line}
    assert f"python /opt/Model-Optimizer/{script} " in shown["quantize"] and "kit: " not in p.stdout + p.stderr


@pytest.fixture(scope="session")
def tiny_baseline(tmp_path_factory):
    """The tiny tier at ModelOpt 0.44.0 with the doubles (the kit's patch of hf_ptq.py), built once: the BASELINE
    of the `make regress` tests (read only). Returns (run directory, the tools it called)."""
    tmp = tmp_path_factory.mktemp("tiny-baseline")
    p = make(tmp, "steps", RUN="base", **at(tmp, "0.44.0"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return tmp / "runs" / "base", calls(tmp)


@pytest.mark.slow
def test_drift_flags_stops_regress_before_anything_launches(tmp_path, tiny_baseline):
    """The errata say examples/llm_ptq/ at 0.45.0; a checkout laid out as 0.47.0 has no such script: the flag check
    refuses, with what to do, and no step starts. A checkout whose .kit-ref names another ref is refused first."""
    base = tiny_baseline[0]
    v = at(tmp_path, "0.47.0")
    v["MODELOPT_REF"] = "0.45.0"
    (tmp_path / "modelopt-0.47.0" / ".kit-ref").unlink()
    p = make(tmp_path, "regress", f"BASELINE={base}", **v)
    assert p.returncode == 2 and calls(tmp_path) == []  # make: a sub-make failed
    assert "MISSING" in p.stdout and "examples/llm_ptq/hf_ptq.py" in p.stdout
    assert "make gate: Model-Optimizer 0.45.0 will not run PROFILE=tiny's commands" in p.stderr
    assert "Nothing was launched, no GPU time was spent. What to do:" in p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    drift = json.loads((tmp_path / "runs" / "regress-tiny-modelopt-0.45.0" / "gate.json").read_text())
    assert {f["status"] for f in drift["findings"] if f["step"] == "quantize"} == {"MISSING"}
    assert not (tmp_path / "runs" / "regress-tiny-modelopt-0.45.0" / "data").exists()

    v = at(tmp_path, "0.46.0")
    v["MODELOPT_REF"] = "0.45.0"
    p = make(tmp_path, "regress", f"BASELINE={base}", **v)
    assert p.returncode == 2 and calls(tmp_path) == []
    assert "holds Model-Optimizer 0.46.0" in p.stderr and "not MODELOPT_REF=0.45.0: nothing was launched" in p.stderr


@pytest.mark.slow
def test_regress_end_to_end_with_doubles_0_44_baseline_0_45_candidate(tmp_path, tiny_baseline):
    """The tiny tier at ModelOpt 0.44.0 (the kit's patch of hf_ptq.py), then `make regress` at 0.45.0 (the
    --qformat flag): the front door (flags, distill.py's imports against Megatron-Bridge 0.3.0, the defaults against
    the baseline's checkout), every step, verify and diff. The doubles write the same checkpoints either way, so the
    verdict must be: nothing changed; the changed default is shown."""
    base, base_calls = tiny_baseline
    assert "[kit] patch quantize-fp8-conservative" in (base / "quantize/step.log").read_text()
    assert json.loads((base / "manifest.json").read_text())["checkouts"]["modelopt"].endswith("modelopt-0.44.0")
    p = make(tmp_path, "regress", f"BASELINE={base}", **at(tmp_path, "0.45.0"))
    out = p.stdout + p.stderr
    assert "Traceback" not in out
    run = tmp_path / "runs" / "regress-tiny-modelopt-0.45.0"
    gate = {(f["step"], f["id"]): f for f in json.loads((run / "gate.json").read_text())["findings"]}
    assert {k[0] for k, f in gate.items() if f["status"] == "SAME" and " " not in k[1].strip("./")} >= {"prune", "distill", "quantize"}
    assert not [k for k, f in gate.items() if f["status"] in ("MISSING", "FAIL", "CHANGED", "ERROR")], gate
    assert gate[("distill", "examples/megatron_bridge/distill.py imports megatron.bridge")]["status"] == "SAME"
    score = gate[("prune", "--prune_score_func")]  # compared with the baseline's checkout; no tiny golden relies on it
    assert score["status"] == "DIFFERS" and (score["expected"], score["measured"]) == ("mmlu_10pct", "mmlu_10pct_bs1")
    assert out.index("checks drift flags in") < out.index("step data")  # checked before anything launched
    assert calls(tmp_path) == base_calls  # every step ran again
    assert all((run / u / ".done").is_file() for u in TINY_UNITS)
    cmd = json.loads((run / "manifest.json").read_text())["steps"]["quantize"]["command"]
    assert "examples/llm_ptq/hf_ptq.py" in cmd and "--qformat mamba_moe_fp8_conservative" in cmd
    diff = json.loads((run / "diff.json").read_text())
    judged = [f for f in diff["findings"] if f["status"] != "DIFFERS"]  # DIFFERS: shown (versions, commands), never judged
    assert [f for f in judged if f["status"] != "SAME"] == []  # the doubles' tiny runs at 0.44.0 and 0.45.0 agree
    assert sum(f["status"] == "SAME" for f in judged) >= 40
    assert {f["id"] for f in judged if f["step"] == "quantize"} >= {"layout_mlp_up_proj", "layout_mamba_in_proj", "quant_algo"}
    report = json.loads((run / "report.json").read_text())
    assert report["summary"]["FAIL"] == report["summary"]["ERROR"] == 0
    assert p.returncode == 0, out[-3000:]


@pytest.mark.slow
def test_regress_to_0_46_stops_at_the_import_before_any_step(tmp_path, tiny_baseline):
    """At 0.46.0 every flag is accepted, but distill.py:43 imports ValidationConfig, which the image's Megatron-Bridge
    0.3.0 lacks: the front door says so, naming the line and the first version that has it, and nothing runs."""
    p = make(tmp_path, "regress", f"BASELINE={tiny_baseline[0]}", **at(tmp_path, "0.46.0"))
    assert p.returncode == 2 and calls(tmp_path) == [] and "Traceback" not in p.stdout + p.stderr
    gate = json.loads((tmp_path / "runs" / "regress-tiny-modelopt-0.46.0" / "gate.json").read_text())["findings"]
    (m,) = [f for f in gate if f["status"] == "MISSING"]
    assert m["id"] == "examples/megatron_bridge/distill.py:43 from megatron.bridge.training.config import ValidationConfig"
    assert m["expected"] == "megatron-bridge 0.4.0" and m["where"] == "Model-Optimizer:examples/megatron_bridge/distill.py:43"
    assert "MISSING" in p.stdout and "make gate: Model-Optimizer 0.46.0 will not run" in p.stderr


def test_regress_refuses_a_baseline_that_is_no_finished_run(tmp_path):
    """A BASELINE whose manifest records no steps is refused before the gate or any step, saying what to do."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "manifest.json").write_text("{}")
    p = make(tmp_path, "regress", f"BASELINE={tmp_path / 'base'}", **at(tmp_path, "0.46.0"))
    assert p.returncode == 2 and calls(tmp_path) == [] and "Traceback" not in p.stdout + p.stderr
    assert not (tmp_path / "runs" / "regress-tiny-modelopt-0.46.0" / "gate.json").exists()
    assert "BASELINE" in p.stderr


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert n > limit.tol.value and compare(n, None, limit.tol)[0] == FAIL
