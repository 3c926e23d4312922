"""Run one unit: render it, launch it (local | docker | slurm), tee its output, record how it ended,
and write its stamp only when it exited 0. Secrets are passed by name and redacted from the log."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kitlib import manifest
from kitlib.profile import ROOT, KitError, Unit, expand
from kitlib.render import render

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|_KEY)$")
STAMP = ".done"


@dataclass
class Config:
    run_dir: Path
    run_id: str
    profile: str
    runner: str
    image: str
    ctx: dict[str, str]
    hf_home: str
    pyxis: str = "auto"  # auto | 1 | 0
    slurm_args: list[str] = field(default_factory=list)
    gpu_sample_s: int = 10
    keep_poll_s: float = 30


def secrets(env: dict[str, str]) -> list[str]:
    return sorted({v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 4}, key=len, reverse=True)


def child_env(cfg: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HOME", cfg.hf_home)
    env.setdefault("VLLM_CACHE_ROOT", str(Path(cfg.hf_home).parent / "vllm"))
    if "HF_TOKEN" not in env:
        # The token file `hf auth login` writes; read into the child's environment only.
        for p in (Path(env["HF_HOME"]) / "token", Path.home() / ".cache" / "huggingface" / "token"):
            if p.is_file():
                env["HF_TOKEN"] = p.read_text().strip()
                break
    return env


class Tee:
    """Copy a child's output to the terminal and the log as it comes, with secrets replaced by ***."""

    def __init__(self, log: Path, redact: list[str]) -> None:
        self.log = log.open("ab")
        self.redact = [s.encode() for s in redact]
        self.keep = max((len(s) for s in self.redact), default=1) - 1
        self.carry = b""

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.carry + chunk
        for s in self.redact:
            data = data.replace(s, b"***")
        cut = len(data) if final or not self.keep else max(0, len(data) - self.keep)
        out, self.carry = data[:cut], data[cut:]
        if out:
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
            self.log.write(out)
            self.log.flush()

    def close(self) -> None:
        self.feed(b"", final=True)
        self.log.close()


def pump(stream, tee: Tee) -> None:
    while True:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            break
        tee.feed(chunk)


class GpuSampler(threading.Thread):
    """nvidia-smi memory samples beside the step (local and docker runners: the GPUs are this host's)."""

    def __init__(self, path: Path, every_s: int) -> None:
        super().__init__(daemon=True)
        self.path, self.every_s, self.proc = path, every_s, None

    def run(self) -> None:
        smi = shutil.which("nvidia-smi")
        if not smi:
            return
        with self.path.open("a") as f:
            self.proc = subprocess.Popen([smi, "--query-gpu=timestamp,index,name,memory.used,memory.total",
                                          "--format=csv,noheader,nounits", "-l", str(self.every_s)],
                                         stdout=f, stderr=subprocess.DEVNULL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()


class Keeper(threading.Thread):
    """Hard-link copies of chosen distillation iterations, taken as soon as each is saved, so the
    trainer's rotation (5 most recent kept) cannot delete a checkpoint the tutorial converts later."""

    def __init__(self, ckpt_dir: Path, iterations: list[int], every_s: float = 30) -> None:
        super().__init__(daemon=True)
        self.ckpt_dir, self.iterations, self.every_s = ckpt_dir, iterations, every_s
        self.kept_dir = ckpt_dir.parent / "kept"
        self.halt = threading.Event()
        self.notes: list[str] = []  # reported after the step's own output, not in the middle of it

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            self.keep()

    def keep(self) -> None:
        try:
            latest = int((self.ckpt_dir / "latest_checkpointed_iteration.txt").read_text().strip())
        except (OSError, ValueError):
            return
        for it in self.iterations:
            src, dst = self.ckpt_dir / f"iter_{it:07d}", self.kept_dir / f"iter_{it:07d}"
            if it <= latest and src.is_dir() and not dst.exists():
                self.kept_dir.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(dst.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                if subprocess.run(["cp", "-al", str(src), str(tmp)]).returncode == 0:
                    tmp.rename(dst)
                    self.notes.append(f"[kit] kept a hard-link copy of {src.name} in {self.kept_dir}")

    def stop_and_restore(self) -> None:
        self.halt.set()
        self.keep()
        for it in self.iterations:
            src, dst = self.kept_dir / f"iter_{it:07d}", self.ckpt_dir / f"iter_{it:07d}"
            if src.is_dir() and not dst.exists():
                src.rename(dst)
                self.notes.append(f"[kit] restored {dst.name} (removed by checkpoint rotation) from {self.kept_dir}")


def launch_argv(cfg: Config, unit: Unit, script: Path, sdir: Path, env: dict[str, str]) -> list[str]:
    if cfg.runner == "local":
        return ["bash", str(script)]
    mounts = sorted({str(ROOT), str(cfg.run_dir.resolve()), cfg.ctx["DATA_ROOT"], cfg.hf_home, env["VLLM_CACHE_ROOT"]})
    if cfg.runner == "docker":
        argv = ["docker", "run", "--rm", "--gpus", "all", "--shm-size=16g", "--ulimit", "memlock=-1", "--net=host",
                "--name", f"nemotron-repro-{cfg.run_id}-{unit.name.replace('/', '-')}"]
        for m in mounts:
            argv += ["-v", f"{m}:{m}"]
        for name in ("HF_HOME", "HF_TOKEN", "VLLM_CACHE_ROOT", "SLURM_HOST", "SLURM_ACCOUNT"):
            argv += ["-e", name]  # by name: the value never appears on a command line or in a file
        return argv + ["-w", str(ROOT), cfg.image, "bash", str(script)]
    if cfg.runner == "slurm":
        return ["sbatch", "--parsable", "--wait", str(write_sbatch(cfg, unit, script, sdir, mounts))]
    raise KitError(f"unknown RUNNER={cfg.runner!r}: expected local, docker or slurm")


def pyxis_available() -> bool:
    try:
        return "--container-image" in subprocess.run(["srun", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def write_sbatch(cfg: Config, unit: Unit, script: Path, sdir: Path, mounts: list[str]) -> Path:
    use_pyxis = pyxis_available() if cfg.pyxis == "auto" else cfg.pyxis == "1"
    lines = ["#!/bin/bash", f"#SBATCH --job-name=nemotron-repro-{unit.name.replace('/', '-')}",
             f"#SBATCH --nodes={unit.nodes}", "#SBATCH --ntasks-per-node=1",
             f"#SBATCH --output={sdir}/slurm-%j.out"]
    if unit.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={unit.gpus_per_node}")
    lines += [f"#SBATCH {a}" for a in cfg.slurm_args]
    lines += ["set -euo pipefail",
              'export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
              "if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=timestamp,index,name,memory.used,"
              f"memory.total --format=csv,noheader,nounits -l {cfg.gpu_sample_s} >> {shlex.quote(str(sdir / 'gpu_mem.csv'))} & fi"]
    srun = ["srun", "--kill-on-bad-exit=1"]
    if use_pyxis:
        srun += [f"--container-image={cfg.image}", "--container-mounts=" + ",".join(f"{m}:{m}" for m in mounts),
                 f"--container-workdir={ROOT}", "--no-container-mount-home"]
    lines.append(" ".join(shlex.quote(a) for a in srun) + " bash " + shlex.quote(str(script)))
    path = sdir / "job.sbatch"
    path.write_text("\n".join(lines) + "\n")
    return path


def follow_slurm(proc: subprocess.Popen, sdir: Path, tee: Tee) -> None:
    """sbatch --parsable --wait prints the job id, then blocks until the job ends; meanwhile follow its output."""
    job_id = proc.stdout.readline().decode().strip().split(";")[0]
    print(f"[kit] submitted Slurm job {job_id}; following {sdir}/slurm-{job_id}.out", flush=True)
    out, pos = sdir / f"slurm-{job_id}.out", 0
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


def rotate(sdir: Path) -> None:
    """Keep a failed attempt's files under attempts/N/ instead of overwriting them."""
    old = [p for p in (sdir / "step.log", sdir / "step.json", sdir / "gpu_mem.csv") if p.exists()]
    if not old:
        return
    n = 1 + max((int(p.name) for p in (sdir / "attempts").glob("*") if p.name.isdigit()), default=0)
    dest = sdir / "attempts" / str(n)
    dest.mkdir(parents=True)
    for p in old:
        p.rename(dest / p.name)


def run_unit(cfg: Config, unit: Unit) -> int:
    sdir = cfg.run_dir / unit.name
    sdir.mkdir(parents=True, exist_ok=True)
    if (sdir / STAMP).exists():
        print(f"[kit] {unit.name}: already done ({sdir / STAMP}); delete the stamp to run it again")
        return 0
    rotate(sdir)
    env = child_env(cfg)
    for d in (cfg.ctx["DATA_ROOT"], cfg.hf_home, env["VLLM_CACHE_ROOT"]):  # mounted into containers: must exist
        Path(d).mkdir(parents=True, exist_ok=True)
    ctx = {**cfg.ctx, "STEP_DIR": str(sdir.resolve())}
    rendered = render(unit, ctx, multinode=cfg.runner == "slurm" and unit.nodes > 1)
    script = sdir / "command.sh"
    probe = f"python3 {shlex.quote(str(ROOT / 'scripts' / 'probe_env.py'))} > {shlex.quote(str(sdir / 'env.json'))} 2>/dev/null || true\n"
    body = rendered.script.replace("set -euo pipefail\n", "set -euo pipefail\n" + probe, 1)
    script.write_text(body)
    script.chmod(0o755)
    meta = {"unit": unit.name, "runner": cfg.runner, "command": rendered.command, "deviations": rendered.deviations,
            "nodes": unit.nodes, "gpus_per_node": unit.gpus_per_node,
            "world_size": unit.nodes * unit.gpus_per_node, "started": manifest.now(), "exit_code": None}
    manifest.write_atomic(sdir / "step.json", json.dumps(meta, indent=2) + "\n")
    tee = Tee(sdir / "step.log", secrets(env))
    sampler = GpuSampler(sdir / "gpu_mem.csv", cfg.gpu_sample_s) if cfg.runner != "slurm" else None
    keeper = Keeper(Path(ctx["DISTILL_OUT"]) / "checkpoints", unit.keep_iterations, cfg.keep_poll_s) \
        if unit.keep_iterations else None
    t0 = time.monotonic()
    code = None
    proc = None
    try:
        argv = launch_argv(cfg, unit, script, sdir, env)
        if sampler:
            sampler.start()
        if keeper:
            keeper.start()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                start_new_session=True)
        if cfg.runner == "slurm":
            follow_slurm(proc, sdir, tee)
        else:
            pump(proc.stdout, tee)
        code = proc.wait()
    except KeyboardInterrupt:
        code = 130
    except OSError as e:
        tee.feed(f"[kit] could not start the step: {e}\n".encode())
        code = 127
    finally:
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        if sampler:
            sampler.stop()
        if keeper:
            keeper.stop_and_restore()
            tee.feed("".join(f"\n{n}" for n in keeper.notes).encode() + b"\n")
        tee.close()
        meta.update(exit_code=code, ended=manifest.now(), seconds=round(time.monotonic() - t0, 1))
        manifest.write_atomic(sdir / "step.json", json.dumps(meta, indent=2) + "\n")
        env_json = _read_json(sdir / "env.json")
        manifest.record_step(cfg.run_dir, unit.name, meta, env_json)
    if code == 0:
        _post(unit, sdir, ctx)
        manifest.write_atomic(sdir / STAMP, manifest.now() + "\n")
        print(f"[kit] {unit.name}: done in {meta['seconds']:.0f} s; log {sdir / 'step.log'}")
    else:
        print(f"[kit] {unit.name}: FAILED with exit code {code}; log {sdir / 'step.log'}. "
              f"Fix the cause and rerun: finished steps are not repeated.", file=sys.stderr)
    return code


def _post(unit: Unit, sdir: Path, ctx: dict[str, str]) -> None:
    for name, target in unit.link.items():
        link, dest = sdir / name, Path(expand(target, ctx))
        if not dest.exists():
            raise KitError(f"{unit.name} exited 0 but did not write {dest}; not marking it done")
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(dest, sdir))


def _read_json(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None
