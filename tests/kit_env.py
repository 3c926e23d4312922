"""Helpers for tests that drive the Makefile with the test doubles on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOUBLES = ROOT / "tests" / "doubles" / "bin"
SITE = ROOT / "tests" / "doubles" / "site"  # stand-ins for packages the image has installed (see its modules)
SECRET = "hf_TopSecretToken123"
PACKAGES = ROOT / "tests" / "fixtures" / "upstream" / "packages"


def path() -> str:
    """Doubles first, then this interpreter's bin (so `python3` has the kit's packages), then the rest."""
    import sys

    return f"{DOUBLES}:{Path(sys.executable).parent}:{os.environ['PATH']}"


def fake_modelopt(d: Path) -> Path:
    """The files of a Model-Optimizer checkout the recipes touch (the doubles never run them)."""
    for rel in ("examples/megatron_bridge/prune_minitron.py", "examples/megatron_bridge/distill.py"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("# placeholder\n")
    ptq = d / "examples/llm_ptq/hf_ptq.py"
    ptq.parent.mkdir(parents=True)
    ptq.write_text('QUANT_CFG_CHOICES = {\n    "int8": mtq.INT8_DEFAULT_CFG,\n    "fp8": mtq.FP8_DEFAULT_CFG,\n}\n')
    tut = d / "examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2"
    tut.mkdir(parents=True)
    # the real 0.44.0 launcher config (tests/fixtures/real/nemo-evaluator/PROVENANCE.md): the kit reads it
    (tut / "nemo_evaluator.yaml").write_text(
        (ROOT / "tests/fixtures/real/nemo-evaluator/modelopt-0.44.0_nemo_evaluator.yaml").read_text())
    return d


def fake_bridge(d: Path) -> Path:
    """The Megatron-Bridge script the recipes call (the python double runs in its place)."""
    script = d / "examples/conversion/convert_checkpoints.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("# placeholder\n")
    return d


def pythonpath() -> str:
    return os.pathsep.join([str(SITE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def make_command(tmp: Path, *targets: str, env_extra: dict | None = None, **variables: str) -> tuple[list[str], dict]:
    """`make TARGETS` against a throwaway run under tmp, with the doubles on PATH: (argv, environment)."""
    env = {**os.environ, "PATH": path(), "PYTHONPATH": pythonpath(), "HF_TOKEN": SECRET, "API_KEY": "sk-AlsoSecret99",
           "DOUBLE_CALLS": str(tmp / "calls.log"), "KIT_KEEP_POLL_S": "0.01", "DOUBLE_SLEEP": "0.05",
           "MODELOPT_DIR": str(tmp / "modelopt"), "PREFLIGHT_SKIP": "disk", **(env_extra or {})}
    if not (tmp / "modelopt").exists():
        fake_modelopt(tmp / "modelopt")
    # the gate's import check reads the trimmed wheel extracts shipped with the tests, never the registry
    if not (tmp / "bridge").exists():
        fake_bridge(tmp / "bridge")
    args = dict(RUNNER="local", RUNS=str(tmp / "runs"), RUN="e2e", MODELOPT_DIR=str(tmp / "modelopt"),
                BRIDGE_DIR=str(tmp / "bridge"),
                DATA_ROOT=str(tmp / "data"), HF_HOME=str(tmp / "hf"), NODES="1", SLURM_HOST="login1",
                SLURM_ACCOUNT="acct", GATE_FETCH="0", GATE_PACKAGES=str(PACKAGES))
    args.update(variables)
    return ["make", "--no-print-directory", *targets, *(f"{k}={v}" for k, v in args.items())], env


def make(tmp: Path, *targets: str, env_extra: dict | None = None, check: bool = False, timeout: int = 600,
         **variables: str) -> subprocess.CompletedProcess:
    cmd, env = make_command(tmp, *targets, env_extra=env_extra, **variables)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=check)


def calls(tmp: Path) -> list[str]:
    p = tmp / "calls.log"
    return p.read_text().split() if p.exists() else []


def kit(tmp: Path, *args: str, runner: str = "local", env_extra: dict | None = None) -> subprocess.CompletedProcess:
    """scripts/kit.py directly (no make), with the doubles on PATH and a throwaway run directory."""
    import sys

    if not (tmp / "modelopt").exists():
        fake_modelopt(tmp / "modelopt")
    if not (tmp / "bridge").exists():
        fake_bridge(tmp / "bridge")
    env = {**os.environ, "PATH": path(), "PYTHONPATH": pythonpath(), "HF_TOKEN": SECRET,
           "DOUBLE_CALLS": str(tmp / "calls.log"), "PREFLIGHT_SKIP": "disk", **(env_extra or {})}
    argv = [sys.executable, "scripts/kit.py", "--run-dir", str(tmp / "runs" / runner), "--runner", runner,
            "--pyxis", "0", "--modelopt-dir", str(tmp / "modelopt"), "--bridge-dir", str(tmp / "bridge"),
            "--data-root", str(tmp / "data"),
            "--hf-home", str(tmp / "hf"), *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
