"""Every bad input is refused before anything runs, with what was expected and what to do, and never with a
traceback: every Makefile target and every `checks` subcommand, walked with bad and missing inputs (issue 19)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from kit_env import calls, kit, make, make_command

MAKEFILE = (ROOT / "Makefile").read_text()
PHONY = sorted(set(re.search(r"^\.PHONY:(.*?)(?<!\\)$", MAKEFILE, re.S | re.M).group(1).replace("\\\n", " ").split()))
# Targets that run the kit (scripts/kit.py): every variable it takes is checked there, before anything is planned.
KIT_TARGETS = ["data", "prune", "distill", "convert", "eval", "quantize", "bench-bf16", "bench-fp8", "bench", "steps",
               "reproduce", "plan", "preflight", "drift-flags"]


def _refused(p: subprocess.CompletedProcess, needle: str, tmp: Path) -> None:
    out = p.stdout + p.stderr
    assert p.returncode == 2, out[-3000:]
    assert needle in out, (needle, out[-3000:])
    assert "Traceback" not in out and "Error 1" not in out, out[-3000:]
    assert calls(tmp) == [], calls(tmp)  # no tool was started


def test_help_lists_every_target():
    p = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True)
    listed = {line.split()[0] for line in p.stdout.splitlines()[1:] if line.strip()}
    assert set(PHONY) == listed, set(PHONY) ^ listed


# ---------------------------------------------------------------- variables make reads, for every target
GLOBAL_BAD = [
    ({"RUN": "../x"}, "RUN='../x' is not a usable run id"),
    ({"RUN": "."}, "RUN='.' is not a usable run id"),
    ({"RUN": "a/b"}, "RUN='a/b' is not a usable run id"),
    ({"RUN": "two words"}, "is not a usable run id"),
    ({"RUNNER": "podman"}, "RUNNER=podman is unknown: expected local, docker or slurm"),
    ({"PROFILE": "nope"}, "PROFILE=nope is unknown: expected one of"),
]


@pytest.mark.parametrize("target", PHONY)
def test_every_target_refuses_bad_make_variables_before_anything(tmp_path, target):
    for variables, needle in GLOBAL_BAD:
        p = make(tmp_path, target, **variables)
        _refused(p, needle, tmp_path)
        assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists() and not (tmp_path / "a").exists()


# ---------------------------------------------------------------- variables the kit reads
KIT_BAD = [
    ({"NODES": "0"}, "NODES=0 is not a positive integer"),
    ({"GPUS_PER_NODE": "eight"}, "GPUS_PER_NODE=eight is not a positive integer"),
    ({"BENCH_REPEATS": "-1"}, "BENCH_REPEATS=-1 is not a positive integer"),
    ({"MODELOPT_VERSION": "newest"}, "MODELOPT_VERSION='newest' is not a version"),
    ({"MODEL": "nvidia/NVIDIA-Nemotron-Nano-9B-v2-FP8"}, "an FP8 checkpoint"),
]


def _kit_refused(tmp_path, target, variables, needle):
    p = make(tmp_path, target, **variables)
    _refused(p, needle, tmp_path)
    assert "what to do" in p.stderr.lower() or "expected" in p.stderr, p.stderr
    assert p.stderr.count(needle) == 1, p.stderr  # said once, not once per step


@pytest.mark.parametrize("target", KIT_TARGETS)
def test_every_kit_target_refuses_a_bad_kit_variable_before_anything(tmp_path, target):
    """Each target with one of the bad values (in turn: every value reaches several targets)."""
    variables, needle = KIT_BAD[KIT_TARGETS.index(target) % len(KIT_BAD)]
    _kit_refused(tmp_path, target, variables, needle)


@pytest.mark.slow
@pytest.mark.parametrize("variables,needle", KIT_BAD + [({"PREFLIGHT_SKIP": "gpu"}, "PREFLIGHT_SKIP=gpu: expected any of")])
@pytest.mark.parametrize("target", ["plan", "preflight", "prune"])
def test_every_bad_kit_variable_is_refused(tmp_path, target, variables, needle):
    _kit_refused(tmp_path, target, variables, needle)


# ---------------------------------------------------------------- what a step needs, missing
@pytest.mark.parametrize("target,variables,env,needle", [
    ("prune", {}, {"HF_TOKEN": ""}, "set HF_TOKEN, or run `hf auth login`"),
    ("prune", {}, {"DOUBLE_GPUS": "2"}, "prune needs 8 GPUs on this machine; nvidia-smi sees 2"),
    ("bench", {"MODEL": "./no/such/dir"}, {}, "is neither a checkpoint directory nor a Hugging Face id"),
])
def test_a_step_whose_inputs_are_missing_stops_before_it_starts(tmp_path, target, variables, env, needle):
    p = make(tmp_path, target, env_extra=env, **variables)
    _refused(p, needle, tmp_path)
    assert not list((tmp_path / "runs").rglob("step.log")) if (tmp_path / "runs").exists() else True


@pytest.mark.parametrize("unit,args,env,needle", [
    ("distill", ["--nodes", "1"], {}, "distill needs prune first: run `make prune`"),
    ("eval/iter_12800", [], {"SLURM_HOST": ""}, "set SLURM_HOST"),
    ("distill", [], {}, "distill needs 96 nodes x 8 GPUs: use RUNNER=slurm, or NODES=1"),
])
def test_a_later_step_whose_inputs_are_missing_stops_before_it_starts(tmp_path, unit, args, env, needle):
    """`make <step>` would run the earlier steps first: the step's own preflight, as `make preflight` runs it."""
    p = kit(tmp_path, *args, "step", unit, env_extra=env)
    _refused(p, needle, tmp_path)
    assert "nothing was launched" in p.stderr and not (tmp_path / "runs" / "local" / unit.split("/")[0]).exists()


@pytest.mark.slow
def test_runner_local_outside_the_image_is_refused_by_the_preflight_naming_what_is_missing(tmp_path):
    """RUNNER=local in an environment without the tools: not `No module named 'transformers'` an hour in, but the
    preflight's list, before anything starts. The environment: a bare Python (no packages) and no GPU tools."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    cmd, env = make_command(tmp_path, "data", PROFILE="tiny")
    env = {**env, "PATH": f"{tmp_path / 'bare' / 'bin'}:/usr/bin:/bin", "PYTHONPATH": ""}
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    _refused(p, "nothing was launched", tmp_path)
    bare = tmp_path / "bare" / "bin"
    assert re.search(rf"data runs scripts/tiny_model.py, which imports `tokenizers`, `torch`, `transformers`: {bare}/python3 "
                     "cannot import them here", p.stderr), p.stderr
    assert f"`python -m modelopt.torch.utils.plugins.megatron_preprocess_data`, which imports `modelopt`: {bare}/python" \
           in p.stderr and "PREFLIGHT_SKIP=tools" in p.stderr, p.stderr
    assert "No module named" not in p.stdout + p.stderr and not (tmp_path / "runs" / "e2e" / "data" / "step.log").exists()
    # the same step with what it needs (the doubles and the kit's venv) passes the check
    p = make(tmp_path, "preflight", PROFILE="tiny")
    assert "cannot import" not in p.stderr and "not on PATH" not in p.stderr, p.stderr


# ---------------------------------------------------------------- make regress: the baseline
def _fake_run(d: Path, profile: str, stamped=(), failed=()) -> Path:
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"schema": 1, "run_id": d.name, "profile": profile, "steps": {}}))
    for u in stamped:
        (d / u).mkdir(parents=True)
        (d / u / ".done").write_text("{}")
    for u in failed:
        (d / u).mkdir(parents=True, exist_ok=True)
        (d / u / "step.json").write_text(json.dumps({"unit": u, "exit_code": 1}))
    return d


@pytest.mark.parametrize("baseline,needle", [
    (None, "set BASELINE=runs/<id>"),
    ("file", "is a file: expected a run directory"),
    ("nothing", "is not there"),
    ("empty-dir", "is not a run directory: manifest.json missing"),
    ("other-profile", "is a run of PROFILE=full, not PROFILE=tiny"),
    ("failed", "step prune of BASELINE="),
])
def test_regress_refuses_a_baseline_that_is_no_finished_run_of_the_profile(tmp_path, baseline, needle):
    path = {"file": tmp_path / "f.txt", "nothing": tmp_path / "nothing", "empty-dir": tmp_path / "empty",
            "other-profile": tmp_path / "full-run", "failed": tmp_path / "failed-run"}.get(baseline)
    if baseline == "file":
        path.write_text("x")
    elif baseline == "empty-dir":
        path.mkdir()
    elif baseline == "other-profile":
        _fake_run(path, "full")
    elif baseline == "failed":
        _fake_run(path, "tiny", stamped=["data"], failed=["prune"])
    args = [f"BASELINE={path}"] if path else []
    p = make(tmp_path, "regress", *args, PROFILE="tiny", MODELOPT_REF="0.45.0")
    _refused(p, needle, tmp_path)
    if baseline == "failed":
        assert "never finished (it exited 1" in p.stderr and "step distill of BASELINE=" in p.stderr
    assert not (tmp_path / "runs").exists()  # refused before the image, the flag check or any step


# ---------------------------------------------------------------- checks, every subcommand
def _checks(*args, cwd=ROOT):
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "checks", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)


CHECKS_BAD = [
    ((), "the following arguments are required: cmd"),
    (("nosuch",), "invalid choice: 'nosuch'"),
    (("parse",), "the following arguments are required: step, path"),
    (("parse", "prune", "MISSING"), "does not exist"),
    (("parse", "prune", "EMPTY"), "log file is empty"),
    (("parse", "prune", "GARBAGE"), "format not recognised"),
    (("parse", "eval", "EMPTY"), "eval is judged from its output directory, not a log"),
    (("verify",), "the following arguments are required: run_dir"),
    (("verify", "MISSING"), "no such directory"),
    (("verify", "EMPTY"), "not a directory"),
    (("verify", "RUN", "--expected", "MISSING"), "goldens file missing"),
    (("verify", "RUN", "--expected", "EMPTY"), "goldens file has no `schema: 1`"),
    (("verify", "RUN", "--expected", "DIR"), "goldens file cannot be read"),
    (("verify", "RUN", "--json", "DIR"), "cannot write"),
    (("verify", "RUN", "--step", "nosuch"), "invalid choice: 'nosuch'"),
    (("report", "RUN"), "the following arguments are required: --html"),
    (("report", "RUN", "--html", "DIR"), "cannot write"),
    (("report", "RUN", "--html", "OUT", "--baseline", "EMPTY"), "not a directory"),
    (("diff", "RUN"), "the following arguments are required: candidate"),
    (("diff", "RUN", "MISSING"), "no such directory"),
    (("diff", "EMPTY", "RUN"), "not a directory"),
    (("bless", "RUN"), "the following arguments are required: --into"),
    (("bless", "RUN", "--into", "MISSING"), "goldens file missing"),
    (("bless", "MISSING", "--into", "GOLDENS"), "no such directory"),
    # bless of a run whose values are the goldens already writes nothing and exits 0 (bless edits in place: a run
    # with values to change asks for confirmation; tests/test_bless.py)
    (("drift",), "checks drift needs the tutorial's README"),
    (("drift", "--readme", "MISSING"), "tutorial README not found"),
    (("drift", "--flags-only"), "needs a checkout to check the recipes against"),
    (("drift", "--flags-only", "--modelopt-root", "EMPTY"), "--modelopt-root is not a directory"),
    (("watch",), "the following arguments are required: run_dir"),
    (("watch", "MISSING"), "no such directory"),
    (("watch", "RUN", "--every", "0"), "expected seconds > 0"),
    (("watch", "RUN", "--once", "--policy", "EMPTY"), "is not a mapping"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args,needle", CHECKS_BAD, ids=[" ".join(a) or "none" for a, _ in CHECKS_BAD])
def test_every_checks_subcommand_refuses_bad_and_missing_input(pristine_run, tmp_path, args, needle):
    (tmp_path / "empty").write_text("")
    (tmp_path / "garbage.log").write_text("Epoch 1/3 - loss: 0.25\n")
    (tmp_path / "dir").mkdir()
    goldens = tmp_path / "full.yaml"
    goldens.write_text((ROOT / "expected" / "full.yaml").read_text())
    sub = {"RUN": pristine_run, "MISSING": tmp_path / "missing", "EMPTY": tmp_path / "empty", "DIR": tmp_path / "dir",
           "GARBAGE": tmp_path / "garbage.log", "OUT": tmp_path / "out.html", "GOLDENS": goldens}
    p = _checks(*[sub.get(a, a) for a in args])
    out = p.stdout + p.stderr
    assert p.returncode == 2, out[-3000:]
    assert needle in out and "Traceback" not in out, out[-3000:]
    assert goldens.read_text() == (ROOT / "expected" / "full.yaml").read_text()  # nothing written on a refusal


def test_the_tools_check_follows_loops_cds_launchers_and_optional_imports(tmp_path):
    """kitlib.needs on a command of the recipes' shapes: a program in a loop, a script after `cd`, a torchrun
    script (its interpreter from torchrun's shebang), an upstream path under MODELOPT_DIR, an optional import."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from kitlib import needs

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "torchrun").write_text(f"#!/usr/bin/env python3\n")
    (bin_ / "torchrun").chmod(0o755)
    mo = tmp_path / "mo" / "examples"
    mo.mkdir(parents=True)
    (mo / "distill.py").write_text("import os\nimport example_utils\nimport megatron.bridge\n"
                                   "try:\n    import wandb\nexcept ImportError:\n    wandb = None\n")
    (mo / "example_utils.py").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    (work / "tool.py").write_text("def main():\n    import transformers\n")
    command = ("for X in a b; do\n  nosuchprogram --x $X\ndone\ncd " + str(work) + "\npython3 tool.py\n"
               "torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/distill.py --y 1\n"
               "python /opt/Model-Optimizer/examples/missing.py\n")
    env = {"PATH": f"{bin_}:{bare / 'bin'}:/usr/bin:/bin"}
    found = needs.problems("u", command, str(tmp_path), env, {"/opt/Model-Optimizer": str(tmp_path / "mo")})
    text = "\n".join(found)
    assert "u runs `nosuchprogram`, which is not on PATH here" in text  # inside the loop
    assert "u runs tool.py, which imports `transformers`" in text  # after the cd, a function's import
    assert "u runs /opt/Model-Optimizer/examples/distill.py, which imports `megatron`" in text  # torchrun's python
    assert "wandb" not in text and "example_utils" not in text and "`os`" not in text  # optional, local, stdlib
    assert f"u runs /opt/Model-Optimizer/examples/missing.py (looked for {tmp_path / 'mo' / 'examples' / 'missing.py'})" \
           in text
    assert len(found) == 4, found


@pytest.mark.parametrize("log", ["prune/step.log", "distill/step.log", "quantize/conservative/step.log",
                                 "bench/9b-bf16/step.log"])
def test_an_empty_step_log_is_named_empty_not_an_unknown_format(run, log):
    (run / log).write_text("")
    p = _checks("verify", run, "--step", log.split("/")[0], "--json", run / "v.json")
    assert p.returncode == 2 and "Traceback" not in p.stdout + p.stderr, p.stdout[-2000:] + p.stderr
    assert "log file is empty" in p.stdout and f"{log}" in p.stdout, p.stdout[-3000:]
    assert "format not recognised" not in p.stdout, p.stdout[-3000:]
