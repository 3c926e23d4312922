"""Before an expensive step: check what it needs and stop with one list of everything missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from checks import registry
from checks.rundir import STAMP
from kitlib.profile import Unit
from kitlib.runner import Config, child_env, stamp_problems


def _run(argv: list[str], timeout: int = 30) -> tuple[int, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr).strip()
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(argv)} did not answer within {timeout} s"


def docker_problems(image: str | None, alternative: str = "") -> list[str]:
    out = []
    if not shutil.which("docker"):
        return ["no docker CLI on PATH: install Docker" + alternative]
    code, msg = _run(["docker", "info", "--format", "{{json .Runtimes}}"])
    if code != 0:
        return [f"no Docker engine reachable (`docker info` failed: {msg.splitlines()[-1] if msg else code}); "
                "start the Docker daemon or check DOCKER_HOST" + alternative]
    if "nvidia" not in msg:
        out.append("the Docker engine has no NVIDIA runtime (`docker info` lists none); install the NVIDIA "
                   "Container Toolkit and restart Docker")
    if image:
        code, _ = _run(["docker", "image", "inspect", image])
        if code != 0:
            out.append(f"image {image} is not built here; run `make image` (needs access to nvcr.io)")
    return out


def gpus() -> list[str]:
    code, out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
    return [l.strip() for l in out.splitlines() if l.strip()] if code == 0 else []


CHECKS = ("engine", "gpus", "tools", "hf_token", "inputs", "disk", "gate")


def problems(cfg: Config, unit: Unit, units: list[Unit], skip: set[str] = frozenset()) -> list[str]:
    """Everything the unit needs that is missing. `skip` names checks the user chose to bypass."""
    found = {c: [] for c in CHECKS}
    _collect(cfg, unit, units, found)
    for c in sorted(skip & set(CHECKS)):
        if found[c]:
            print(f"[kit] preflight: skipping the {c} check (PREFLIGHT_SKIP): {'; '.join(found[c])}")
    return [p for c in CHECKS if c not in skip for p in found[c]]


def _collect(cfg: Config, unit: Unit, units: list[Unit], found: dict[str, list[str]]) -> None:
    engine = found["engine"]
    if cfg.runner == "docker":
        engine += docker_problems(cfg.image, ", or use RUNNER=slurm (pyxis) or RUNNER=local inside the image")
    elif cfg.runner == "slurm":
        for tool in ("sbatch", "srun", "scontrol"):
            if not shutil.which(tool):
                engine.append(f"no `{tool}` on PATH: RUNNER=slurm needs a Slurm client (login node)")
    if unit.nodes > 1 and cfg.runner != "slurm":
        engine.append(f"{unit.name} needs {unit.nodes} nodes x {unit.gpus_per_node} GPUs: use RUNNER=slurm, "
                   f"or NODES=1 to run it on one node (the tutorial allows it, at {unit.nodes}x the time)")
    if unit.gpus_per_node and cfg.runner in ("local", "docker") and unit.nodes == 1:
        seen = gpus()
        if len(seen) < unit.gpus_per_node:
            found["gpus"].append(f"{unit.name} needs {unit.gpus_per_node} GPUs on this machine; nvidia-smi sees {len(seen)}"
                                 + (f" ({', '.join(sorted(set(seen)))})" if seen else ""))
        elif unit.gpu_model and not any(unit.gpu_model in g for g in seen):
            print(f"[kit] note: {unit.name}'s goldens are for {unit.gpu_model}; this machine has {seen[0]}: "
                  "absolute figures will be SKIPped, ratios still judged")
    env = child_env(cfg, unit)
    if cfg.runner == "local":  # this environment runs the step: what its command calls must be here
        found["tools"] += _tools(cfg, unit, env)
    if unit.hf_token and not env.get("HF_TOKEN"):
        found["hf_token"].append(f"{unit.name} downloads gated models or datasets: set HF_TOKEN, or run `hf auth login` "
                   f"(token file under {cfg.hf_home})")
    inputs = found["inputs"]
    for var in unit.needs_env:
        if not env.get(var):
            inputs.append(f"{unit.name} runs an opt-in addition that needs {var}: set it (export {var}=...), "
                          "or leave the addition off")
    kit = registry.get(unit.step).kit  # what the step needs, declared in checks/steps/<step>.py
    for var in kit.needs_vars:
        if not (cfg.ctx.get(var) or env.get(var)):
            inputs.append(f"{kit.needs_vars_why}: set {var} (make {unit.step} {var}=...)")
    for dep in unit.after:
        for d in (u for u in units if dep in (u.name, u.step)):
            sdir = cfg.run_dir / d.name
            if not (sdir / STAMP).exists():
                inputs.append(f"{unit.name} needs {d.name} first: run `make {d.step}` (no {sdir / STAMP})")
            elif bad := stamp_problems(sdir):
                inputs.append(f"{unit.name} needs what {d.name} wrote, but {'; '.join(bad)}: restore it, or delete "
                              f"{sdir / STAMP} to run {d.name} again")
    found["gate"] += _gate(cfg, unit)
    where = cfg.run_dir if kit.writes_under == "RUN_DIR" else Path(cfg.ctx[kit.writes_under])
    free = shutil.disk_usage(_existing(where)).free / 2**30
    if free < unit.disk_gib:
        found["disk"].append(f"{unit.name} writes up to ~{unit.disk_gib:.0f} GiB; {free:.0f} GiB free under {where} "
                             "(free space, or PREFLIGHT_SKIP=disk if you know better)")


def _tools(cfg: Config, unit: Unit, env: dict[str, str]) -> list[str]:
    from kitlib import needs
    from kitlib.profile import ROOT, expand
    from kitlib.render import render

    ctx = {**cfg.ctx, "STEP_DIR": str((cfg.run_dir / unit.name).resolve())}
    r = render(unit, ctx, cfg.versions)
    cwd = expand(unit.cwd, ctx) if unit.cwd else str(ROOT)
    roots = {"/opt/Model-Optimizer": cfg.ctx.get("MODELOPT_DIR", ""), "/opt/Megatron-Bridge": cfg.ctx.get("BRIDGE_DIR", "")}
    from checks.recipes import recipe_command

    found = needs.problems(unit.name, "\n".join([*map(recipe_command, unit.prelude), r.command]), cwd, env, roots)
    if found:
        found[-1] += (". RUNNER=local runs the step in this environment (inside the image); here, use RUNNER=docker "
                      "or RUNNER=slurm, install what is missing, or PREFLIGHT_SKIP=tools if you know better")
    return found


def _existing(p: Path) -> Path:
    p = p.resolve()
    while not p.exists():
        p = p.parent
    return p


def _gate(cfg: Config, unit: Unit) -> list[str]:
    """The front door's verdict on this unit's command (runs/<RUN>/gate.json, written by `make gate`, which
    make reproduce, regress and preflight run first): its failing findings for this unit stop it, and so does a
    command other than the one the gate checked. A run no gate has checked is said, not stopped (a step target
    run on its own, e.g. on a node without the launcher)."""
    from checks.drift.record import step_problems
    from kitlib.render import render

    command = render(unit, cfg.ctx, cfg.versions, multinode=cfg.runner == "slurm" and unit.nodes > 1).command
    problems, note = step_problems(cfg.run_dir, unit.name, unit.step, command)
    if note:
        print(f"[kit] preflight: note: {note}")
    return problems
