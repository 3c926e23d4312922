"""A profile (recipes/profiles/<name>.yaml) expanded into units: one per step, or per step variant."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(\w+)\}")


class KitError(Exception):
    """Bad input or setup: the message says what was expected, what was found and what to do."""


@dataclass
class Unit:
    name: str  # "prune", or "bench/7b-fp8" for a variant
    step: str
    variant: str | None
    recipe: Path
    prelude: list[Path]
    additions: list[Path]
    cwd: str | None
    after: list[str]
    nodes: int
    gpus_per_node: int
    hours: float
    hours_source: str
    env: dict[str, str] = field(default_factory=dict)
    link: dict[str, str] = field(default_factory=dict)
    keep_iterations: list[int] = field(default_factory=list)
    multinode: bool = False
    hf_token: bool = False
    disk_gib: float = 0
    gpu_model: str | None = None
    group: str | None = None

    @property
    def gpu_hours(self) -> float:
        return self.hours * self.nodes * self.gpus_per_node


def expand(text: str, ctx: dict[str, str]) -> str:
    """Replace ${VAR} for the variables the kit defines; leave every other reference to the shell."""
    return _VAR.sub(lambda m: ctx.get(m.group(1), m.group(0)), text)


def load(profile: str, ctx: dict[str, str], nodes: int | None = None, gpus_per_node: int | None = None) -> list[Unit]:
    path = ROOT / "recipes" / "profiles" / f"{profile}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
        raise KitError(f"unknown PROFILE={profile!r}: expected one of {known}")
    doc = yaml.safe_load(path.read_text())
    recipes = ROOT / doc["recipes"]
    units: list[Unit] = []
    for step, spec in doc["steps"].items():
        variants = spec.get("variants") or {None: {}}
        for variant, vspec in variants.items():
            vspec = dict(vspec or {})
            env = {k: str(v) for k, v in {**doc.get("env", {}), **spec.get("env", {}), **vspec}.items() if k.isupper()}
            name = f"{step}/{variant}" if variant else step
            multinode = bool(spec.get("multinode"))
            u = Unit(
                name=name, step=step, variant=variant, recipe=(recipes / spec["recipe"]).resolve(),
                prelude=[recipes / p for p in spec.get("prelude", [])],
                additions=[recipes / p for p in spec.get("additions", [])], cwd=spec.get("cwd"),
                after=list(vspec.get("after", spec.get("after", []))),
                nodes=int(nodes if (nodes and multinode) else spec.get("nodes", 1)),
                gpus_per_node=int(gpus_per_node if (gpus_per_node and multinode) else spec.get("gpus_per_node", 0)),
                hours=float(vspec.get("hours", spec.get("hours", 0))),
                hours_source=str(vspec.get("hours_source", spec.get("hours_source", ""))),
                env=env, link=dict(spec.get("link", {})), keep_iterations=list(spec.get("keep_iterations", [])),
                multinode=multinode, hf_token=bool(spec.get("hf_token")), disk_gib=float(spec.get("disk_gib", 0)),
                gpu_model=spec.get("gpu_model"), group=vspec.get("group"),
            )
            units.append(u)
    names = {u.name for u in units} | {u.step for u in units}
    for u in units:
        for a in u.after:
            if a not in names:
                raise KitError(f"{path}: {u.name} runs after unknown step {a!r}")
    return units


def find(units: list[Unit], name: str) -> Unit:
    for u in units:
        if u.name == name:
            return u
    raise KitError(f"no step {name!r} in this profile: expected one of {', '.join(u.name for u in units)}")


def context(run_dir: Path, data_root: Path, modelopt_dir: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The values the kit substitutes into recipes. Secrets are never among them."""
    run_dir = run_dir.resolve()
    ctx = {
        "KIT_ROOT": str(ROOT),
        "RUN_DIR": str(run_dir),
        "DATA_ROOT": str(data_root.resolve()),
        "DATA_CACHE": str(data_root.resolve() / "cache"),
        "MODELOPT_DIR": modelopt_dir,
        "PRUNED_HF": str(run_dir / "prune" / "hf"),
        "DISTILL_OUT": str(run_dir / "distill" / "output"),
    }
    ctx.update(extra or {})
    return ctx
