"""How a rendered step script is launched, followed and stopped on each runner (local, docker, slurm).

Secrets reach containers and jobs by name only. A Slurm job pipes its own output through scripts/redact.py
into <step>/job-<id>.log, so that no file Slurm writes holds a secret; Slurm's own slurm-<id>.out keeps only
what slurmstepd says (cancellations, node failures)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from checks import rundir
from checks.errors import CheckError
from kitlib.profile import ROOT, Unit
from kitlib.sampler import QUERY
from kitlib.tee import Tee

# The offline pair is set by a profile's `offline: true` (kitlib.runner.child_env); a Slurm job inherits the
# environment sbatch was given (--export=ALL, Slurm's default), and pyxis passes it into the container.
PASSED_BY_NAME = ("HF_TOKEN", "HF_HOME", "VLLM_CACHE_ROOT", "SLURM_HOST", "SLURM_ACCOUNT", "JUDGE_API_KEY",
                  "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass
class Launch:
    """A running step: enough to follow it and to stop it."""

    argv: list[str]
    runner: str
    container: str | None = None
    job_id: str | None = None
    proc: subprocess.Popen | None = None
    notes: list[str] = field(default_factory=list)


def container_name(run_id: str, unit: Unit) -> str:
    return f"nemotron-repro-{run_id}-{unit.name.replace('/', '-')}"


def mounts(cfg, env: dict[str, str]) -> list[str]:
    return sorted({str(ROOT), str(cfg.run_dir.resolve()), cfg.ctx["DATA_ROOT"], cfg.hf_home, env["VLLM_CACHE_ROOT"]})


def launch_argv(cfg, unit: Unit, script: Path, sdir: Path, env: dict[str, str]) -> Launch:
    if cfg.runner == "local":
        return Launch(["bash", str(script)], "local")
    if cfg.runner == "docker":
        name = container_name(cfg.run_id, unit)
        argv = ["docker", "run", "--rm", "--gpus", "all", "--shm-size=16g", "--ulimit", "memlock=-1", "--net=host",
                "--name", name]
        for m in mounts(cfg, env):
            argv += ["-v", f"{m}:{m}"]
        for var in PASSED_BY_NAME:
            if var in env:
                argv += ["-e", var]  # by name: the value never appears on a command line or in a file
        return Launch(argv + ["-w", str(ROOT), cfg.image, "bash", str(script)], "docker", container=name)
    if cfg.runner == "slurm":
        return Launch(["sbatch", "--parsable", "--wait", str(write_sbatch(cfg, unit, script, sdir, mounts(cfg, env)))], "slurm")
    raise CheckError(f"RUNNER={cfg.runner!r} is unknown", expected="local | docker | slurm")


def pyxis_available() -> bool:
    try:
        return "--container-image" in subprocess.run(["srun", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def write_sbatch(cfg, unit: Unit, script: Path, sdir: Path, mounts: list[str]) -> Path:
    use_pyxis = pyxis_available() if cfg.pyxis == "auto" else cfg.pyxis == "1"
    q = shlex.quote
    lines = ["#!/bin/bash", f"#SBATCH --job-name={container_name(cfg.run_id, unit)}",
             f"#SBATCH --nodes={unit.nodes}", "#SBATCH --ntasks-per-node=1",
             f"#SBATCH --output={sdir}/slurm-%j.out"]
    if unit.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={unit.gpus_per_node}")
    lines += [f"#SBATCH {a}" for a in cfg.slurm_args]
    job_log = f"{q(str(sdir))}/job-${{SLURM_JOB_ID}}.log"
    lines += ["set -uo pipefail",
              "command -v python3 >/dev/null || { echo \"[kit] no python3 on $(hostname): cannot redact the job's output\"; exit 97; }",
              "# The job's own output goes through the redactor: no file Slurm writes may hold a secret.",
              f"exec 3>&1 4>&2 > >(python3 -u {q(str(ROOT / 'scripts' / 'redact.py'))} >> {job_log}) 2>&1",
              "redactor=$!",
              'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
              f"if command -v nvidia-smi >/dev/null; then nvidia-smi {QUERY} --format=csv,noheader,nounits "
              f"-l {cfg.gpu_sample_s} >> {q(str(sdir / rundir.GPU_MEM))} & sampler=$!; fi"]
    srun = ["srun", "--kill-on-bad-exit=1"]
    if use_pyxis:
        srun += [f"--container-image={cfg.image}", "--container-mounts=" + ",".join(f"{m}:{m}" for m in mounts),
                 f"--container-workdir={ROOT}", "--no-container-mount-home"]
    lines += [" ".join(q(a) for a in srun) + " bash " + q(str(script)),
              "rc=$?",
              'if [ -n "${sampler:-}" ]; then kill "$sampler" 2>/dev/null; fi',
              "exec 1>&3 2>&4 3>&- 4>&-",
              'wait "$redactor"',
              'exit "$rc"']
    path = sdir / rundir.JOB
    path.write_text("\n".join(lines) + "\n")
    return path


def follow_slurm(launch: Launch, sdir: Path, tee: Tee, on_job=None) -> None:
    """sbatch --parsable --wait prints the job id, then blocks until the job ends; meanwhile follow its
    (redacted) output into the tee, then add what Slurm itself said."""
    proc = launch.proc
    launch.job_id = proc.stdout.readline().decode().strip().split(";")[0]
    if on_job:
        on_job(launch.job_id)
    out = sdir / f"job-{launch.job_id}.log"
    print(f"[kit] submitted Slurm job {launch.job_id}; following {out}", flush=True)
    pos = 0
    while True:
        done = proc.poll() is not None
        if out.exists():
            with out.open("rb") as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
                tee.feed(chunk)
        if done:
            break
        time.sleep(1)
    slurm_out = sdir / f"slurm-{launch.job_id}.out"
    if slurm_out.exists() and slurm_out.stat().st_size:
        tee.feed(b"[kit] Slurm said:\n" + slurm_out.read_bytes())


def stop(launch: Launch, reason: str) -> None:
    """End a running step on its runner: scancel for Slurm, `docker stop` for a container, the process
    group otherwise (every runner also has its local process group ended)."""
    print(f"[kit] stopping the step: {reason}", flush=True)
    if launch.runner == "slurm" and launch.job_id:
        subprocess.run(["scancel", launch.job_id], capture_output=True, timeout=60)
    if launch.runner == "docker" and launch.container:
        subprocess.run(["docker", "stop", "-t", "30", launch.container], capture_output=True, timeout=120)
    if launch.proc and launch.proc.poll() is None:
        try:
            os.killpg(launch.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
