"""Run one unit: render it, launch it (kitlib.launchers), tee its output (kitlib.tee), sample GPU memory
(kitlib.sampler), run its hooks (kitlib.hooks), record how it ended, and write its stamp only when it
exited 0 AND its output says it finished. One step of a run at a time: a lock per run names its holder.

The stamp (<step>/.done) is JSON: when the step finished and what it vouches for (its outputs, with sizes),
so that a later step can tell when those outputs were deleted since."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from checks import registry, rundir
from checks.errors import CheckError
from checks.rundir import write_atomic
from kitlib import launchers, manifest
from kitlib.hooks import Keeper, Watch
from kitlib.profile import ROOT, Unit, expand
from kitlib.render import render
from kitlib.sampler import GpuSampler, die_with_parent
from kitlib.tee import Tee, pump, secrets


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
    versions: dict[str, str | None] = field(default_factory=dict)
    watch: bool = False  # WATCH=1: judge the step as it runs and stop it when the profile's policy says so


def child_env(cfg: Config, unit: Unit | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HOME", cfg.hf_home)
    env.setdefault("VLLM_CACHE_ROOT", str(Path(cfg.hf_home).parent / "vllm"))
    if unit is not None and unit.offline:
        env["HF_HUB_OFFLINE"] = "1"  # a hidden download fails loudly instead of succeeding quietly
        env["HF_DATASETS_OFFLINE"] = "1"
    if "HF_TOKEN" not in env:
        # The token file `hf auth login` writes; read into the child's environment only.
        for p in (Path(env["HF_HOME"]) / "token", Path.home() / ".cache" / "huggingface" / "token"):
            if p.is_file():
                env["HF_TOKEN"] = p.read_text().strip()
                break
    return env


@contextmanager
def run_lock(run_dir: Path, unit: str):
    """One step of a run at a time. A second `make` on the same RUN stops at once, naming the holder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / ".lock"
    f = path.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise CheckError(f"run {run_dir.name} is busy: {holder}", where=str(path),
                         hint="wait for it to finish, or use another RUN=...; steps of one run never run at once") from None
    f.seek(0)
    f.truncate()
    f.write(f"step {unit} by pid {os.getpid()} on {socket.gethostname()} since {manifest.now()}\n")
    f.flush()
    try:
        yield
    finally:
        f.seek(0)
        f.truncate()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def rotate(sdir: Path) -> Path | None:
    """Keep a failed attempt's files under attempts/N/ instead of overwriting them; returns that directory."""
    names = (rundir.LOG, rundir.META, rundir.GPU_MEM, rundir.JOB)
    old = [p for p in [*(sdir / n for n in names), *sdir.glob("job-*.log"), *sdir.glob("slurm-*.out")] if p.exists()]
    if not old:
        return None
    n = 1 + max((int(p.name) for p in (sdir / rundir.ATTEMPTS).glob("*") if p.name.isdigit()), default=0)
    dest = sdir / rundir.ATTEMPTS / str(n)
    dest.mkdir(parents=True)
    for p in old:
        p.rename(dest / p.name)
    return dest


def outputs(unit: Unit, sdir: Path, ctx: dict[str, str]) -> list[Path]:
    """What a finished step vouches for: its log, its linked outputs, and the iterations it keeps."""
    out = [sdir / rundir.LOG, *(Path(expand(t, ctx)) for t in unit.link.values())]
    out += [Path(ctx[var]) for var in registry.get(unit.step).kit.outputs]  # e.g. prune: PRUNED_HF
    for it in unit.keep_iterations:
        out.append(Path(ctx["DISTILL_OUT"]) / rundir.CKPT_DIR / f"iter_{it:07d}")
    return out


def _size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def write_stamp(sdir: Path, unit: Unit, ctx: dict[str, str]) -> None:
    vouch = {str(p): _size(p) for p in outputs(unit, sdir, ctx) if p.exists()}
    write_atomic(sdir / rundir.STAMP, json.dumps({"unit": unit.name, "finished": manifest.now(), "outputs": vouch},
                                                indent=2) + "\n")


def stamp_problems(sdir: Path) -> list[str]:
    """Outputs a stamp vouches for that are gone or changed size since; [] when the stamp still holds."""
    try:
        doc = json.loads((sdir / rundir.STAMP).read_text())
    except (OSError, ValueError):
        return [f"{sdir / rundir.STAMP} is not the kit's stamp (written before stamps recorded their outputs?)"]
    bad = []
    for path, size in (doc.get("outputs") or {}).items():
        p = Path(path)
        if not p.exists():
            bad.append(f"{p} is gone")
        elif _size(p) != size:
            bad.append(f"{p} changed size since the step finished ({size} -> {_size(p)} bytes)")
    return bad


def unfinished(unit: Unit, sdir: Path) -> str | None:
    """Why a step that exited 0 did not finish (e.g. a distillation that stopped before its last
    iteration), judged from its log by the checks parsers; None when it finished."""
    if not unit.completion:
        return None
    from checks.run import load_path

    try:
        rec = load_path(unit.step, sdir / rundir.LOG)
    except CheckError as e:
        return f"its log cannot be read: {e.what}"
    for key, want in unit.completion.items():
        have = getattr(rec, key, None)
        target = getattr(rec, want, None) if isinstance(want, str) and hasattr(rec, want) else want
        if have != target or have is None:
            return f"{key} is {have!r}, expected {target!r} ({want})"
    return None


def run_unit(cfg: Config, unit: Unit) -> int:
    with run_lock(cfg.run_dir, unit.name):
        return _run_unit(cfg, unit)


def _run_unit(cfg: Config, unit: Unit) -> int:
    sdir = cfg.run_dir / unit.name
    sdir.mkdir(parents=True, exist_ok=True)
    if (sdir / rundir.STAMP).exists():
        print(f"[kit] {unit.name}: already done ({sdir / rundir.STAMP}); delete the stamp to run it again")
        return 0
    watch = Watch.for_unit(cfg.run_dir, unit, cfg.profile) if cfg.watch else None  # bad policy: stop before launching
    attempt = rotate(sdir)
    env = child_env(cfg, unit)
    for d in (cfg.ctx["DATA_ROOT"], cfg.hf_home, env["VLLM_CACHE_ROOT"]):  # mounted into containers: must exist
        Path(d).mkdir(parents=True, exist_ok=True)
    ctx = {**cfg.ctx, "STEP_DIR": str(sdir.resolve())}
    rendered = render(unit, ctx, cfg.versions, multinode=cfg.runner == "slurm" and unit.nodes > 1)
    script = sdir / rundir.COMMAND
    probe = f"python3 {ROOT / 'scripts' / 'probe_env.py'} > {sdir / rundir.ENV} 2>/dev/null || true\n"
    script.write_text(rendered.script.replace("set -euo pipefail\n", "set -euo pipefail\n" + probe, 1))
    script.chmod(0o755)
    meta = {"unit": unit.name, "runner": cfg.runner, "command": rendered.command, "deviations": rendered.deviations,
            "versions_rendered_for": cfg.versions, "nodes": unit.nodes, "gpus_per_node": unit.gpus_per_node,
            "world_size": unit.nodes * unit.gpus_per_node, "started": manifest.now(), "exit_code": None,
            **({"repeats": unit.repeats} if registry.get(unit.step).kit.repeatable else {})}
    write_atomic(sdir / rundir.META, json.dumps(meta, indent=2) + "\n")
    log = (sdir / rundir.LOG).open("ab")
    tee = Tee([sys.stdout.buffer, log], secrets(env))
    sampler = GpuSampler(sdir / rundir.GPU_MEM, cfg.gpu_sample_s) if cfg.runner != "slurm" else None
    keeper = Keeper(Path(ctx["DISTILL_OUT"]) / rundir.CKPT_DIR, unit.keep_iterations, cfg.keep_poll_s) \
        if unit.keep_iterations else None
    if keeper:
        keeper.set_aside(attempt)
    t0 = time.monotonic()
    code = None
    launch = None
    try:
        launch = launchers.launch_argv(cfg, unit, script, sdir, env)
        if sampler:
            sampler.start()
        if keeper:
            keeper.start()
        # Its own process group (so a stop ends all of it), and bound to the kit's life: a step whose kit died
        # has lost its log and its stamp; it must not go on unseen.
        launch.proc = subprocess.Popen(launch.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                       start_new_session=True, preexec_fn=die_with_parent)
        if watch:
            watch.begin(lambda reason: launchers.stop(launch, reason))
        if cfg.runner == "slurm":
            launchers.follow_slurm(launch, sdir, tee)
        else:
            pump(launch.proc.stdout.fileno(), tee)
        code = launch.proc.wait()
    except KeyboardInterrupt:
        code = 130
        if launch:
            launchers.stop(launch, "interrupted")
    except OSError as e:
        tee.feed(f"[kit] could not start the step: {e}\n".encode())
        code = 127
    finally:
        if watch:
            watch.finish()
            if watch.stopped and code == 0:
                code = 1  # ended by the watcher: never a finished step, whatever its process said
        if launch and launch.proc and launch.proc.poll() is None:
            launchers.stop(launch, "the kit is ending")
        if sampler:
            sampler.stop()
        if keeper:
            keeper.finish()
            tee.feed("".join(f"\n{n}" for n in keeper.notes).encode() + b"\n")
        if watch:
            tee.feed(watch.report().encode())
        why = unfinished(unit, sdir) if code == 0 else None
        if why:
            tee.feed(f"[kit] {unit.name} exited 0 but did not finish: {why}; not marking it done\n".encode())
            code = 3
        tee.close()
        log.close()
        meta.update(exit_code=code, ended=manifest.now(), seconds=round(time.monotonic() - t0, 1))
        if launch and launch.job_id:
            meta["slurm_job_id"] = launch.job_id
        if watch:
            meta["watch"] = watch.record()
        write_atomic(sdir / rundir.META, json.dumps(meta, indent=2) + "\n")
        manifest.record_step(cfg.run_dir, unit.name, meta, _read_json(sdir / rundir.ENV))
    if code == 0:
        _post(unit, sdir, ctx)
        write_stamp(sdir, unit, ctx)
        print(f"[kit] {unit.name}: done in {meta['seconds']:.0f} s; log {sdir / rundir.LOG}")
    else:
        print(f"[kit] {unit.name}: FAILED with exit code {code}; log {sdir / rundir.LOG}. "
              f"Fix the cause and rerun: finished steps are not repeated.", file=sys.stderr)
    return code


def _post(unit: Unit, sdir: Path, ctx: dict[str, str]) -> None:
    for name, target in unit.link.items():
        link, dest = sdir / name, Path(expand(target, ctx))
        if not dest.exists():
            raise CheckError(f"{unit.name} exited 0 but did not write {dest}; not marking it done",
                             hint="see the step's log")
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(dest, sdir))


def _read_json(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None
