"""A profile (recipes/profiles/<name>.yaml) expanded into units: one per step, or per step variant.

Profiles are validated strictly (checks.yamlio): an unknown or misspelt key, a wrong type or a missing
`recipe` is an error naming the file and line, never a silent default."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from checks import goldenschema, registry, yamlio
from checks.errors import CheckError
from checks.yamlio import YMap

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(\w+)\}")

TOP = ("profile", "recipes", "expected", "env", "steps", "watch", "model")  # model: the profile needs MODEL=<checkpoint>
STEP_KEYS = ("recipe", "prelude", "additions", "additions_if", "cwd", "after", "nodes", "gpus_per_node", "hours", "hours_source", "env",
             "link", "keep_iterations", "multinode", "hf_token", "disk_gib", "gpu_model", "variants", "offline",
             "completion")
VARIANT_KEYS = ("after", "hours", "hours_source", "group", "recipe", "link")  # plus UPPER_CASE variables


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
    offline: bool = False  # the step must need nothing from the network (HF_HUB_OFFLINE=1)
    completion: dict = field(default_factory=dict)  # e.g. {last_iteration: 16000}: exit 0 alone does not stamp
    needs_env: list[str] = field(default_factory=list)  # secrets an enabled addition needs (checked by preflight)
    repeats: int = 1  # BENCH_REPEATS: the bench command run N times in one step (median judged, spread shown)

    @property
    def gpu_hours(self) -> float:
        return self.hours * self.nodes * self.gpus_per_node


def expand(text: str, ctx: dict[str, str]) -> str:
    """Replace ${VAR} for the variables the kit defines; leave every other reference to the shell."""
    return _VAR.sub(lambda m: ctx.get(m.group(1), m.group(0)), text)


def profile_path(profile: str) -> Path:
    path = ROOT / "recipes" / "profiles" / f"{profile}.yaml"
    if not re.fullmatch(r"[\w-]+", profile or "") or not path.exists():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
        raise CheckError(f"unknown PROFILE={profile!r}", expected=f"one of {known}", hint="pick one of those profiles")
    return path


def read(profile: str) -> YMap:
    """The profile document, validated."""
    path = profile_path(profile)
    doc = yamlio.load(path, "profile")
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise CheckError("profile has no `schema: 1`", where=str(path))
    doc = yamlio.mapping(doc, "profile", str(path), required=("schema", "recipes", "steps"), allowed=TOP)
    yamlio.typed(doc, "recipes", str, "profile")
    yamlio.typed(doc, "model", str, "profile")
    steps = yamlio.mapping(doc["steps"], "`steps:` of the profile", doc.where("steps"), allowed=registry.names())
    for name, spec in steps.items():
        what = f"step `{name}`"
        spec = yamlio.mapping(spec, what, steps.where(name), required=("recipe",), allowed=STEP_KEYS)
        for key, types in (("recipe", str), ("cwd", str), ("hours_source", str), ("gpu_model", str), ("nodes", int),
                           ("gpus_per_node", int), ("hours", (int, float)), ("disk_gib", (int, float)),
                           ("multinode", bool), ("hf_token", bool), ("offline", bool), ("prelude", list),
                           ("additions", list), ("after", list), ("keep_iterations", list), ("env", dict),
                           ("link", dict), ("variants", dict), ("completion", dict), ("additions_if", dict)):
            yamlio.typed(spec, key, types, what)
        for key in ("nodes", "gpus_per_node", "hours", "disk_gib"):
            if key in spec and spec[key] < 0:
                raise CheckError(f"`{key}` of {what} is negative", where=spec.where(key), found=str(spec[key]))
        if spec.get("completion"):  # the runner reads these from the step's record: they must be its values
            goldenschema.completion(name, spec["completion"], spec.where("completion"))
        for v, vspec in (spec.get("variants") or {}).items():
            vspec = vspec if vspec is not None else YMap()
            if not isinstance(vspec, dict):
                raise CheckError(f"variant `{v}` of {what} is not a mapping", where=spec["variants"].where(v))
            for k in vspec:
                if not (str(k).isupper() or k in VARIANT_KEYS):
                    raise CheckError(f"unknown key {k!r} in variant `{v}` of {what}", where=vspec.where(k),
                                     expected=f"UPPER_CASE variables or one of {', '.join(VARIANT_KEYS)}")
    if "watch" in doc:  # the early-stop policy: its schema lives with the code that applies it (checks.watchpolicy)
        from checks.watchpolicy import policy_from

        policy_from(doc["watch"], doc.where("watch"), f"`watch:` of {path}")
    return doc


# An opt-in addition: the Make variable that enables it and the secret it needs (preflight checks it is set).
OPT_IN = {"MATH500": ["JUDGE_API_KEY"]}


def load(profile: str, ctx: dict[str, str], nodes: int | None = None, gpus_per_node: int | None = None,
         enabled: frozenset[str] = frozenset(), bench_repeats: int = 1) -> list[Unit]:
    """Expand the profile; `enabled` names the opt-in additions asked for (e.g. MATH500)."""
    doc = read(profile)
    path = profile_path(profile)
    recipes = ROOT / doc["recipes"]
    units: list[Unit] = []
    for step, spec in doc["steps"].items():
        variants = spec.get("variants") or {None: {}}
        for variant, vspec in variants.items():
            vspec = dict(vspec or {})
            env = {k: str(v) for k, v in {**(doc.get("env") or {}), **(spec.get("env") or {}), **vspec}.items() if k.isupper()}
            variant = expand(str(variant), ctx) if variant else variant  # e.g. "${BF16_ROW}" (kitlib.model)
            name = f"{step}/{variant}" if variant else step
            multinode = bool(spec.get("multinode"))
            gpus = int(spec.get("gpus_per_node", 0))
            recipe = (recipes / vspec.get("recipe", spec["recipe"])).resolve()
            if not recipe.is_file():
                raise CheckError(f"step `{name}` names a recipe that does not exist", where=spec.where("recipe"),
                                 found=str(recipe), hint="fix the recipe path (relative to the profile's `recipes:`)")
            opted = [(var, p) for var, paths in (spec.get("additions_if") or {}).items() if var in enabled for p in paths]
            for var, _ in opted:
                if var not in OPT_IN:
                    raise CheckError(f"additions_if names {var!r}, which is no opt-in the kit knows",
                                     where=spec.where("additions_if"), expected=", ".join(OPT_IN))
            u = Unit(
                name=name, step=step, variant=variant, recipe=recipe,
                prelude=[recipes / p for p in spec.get("prelude", [])],
                additions=[recipes / p for p in spec.get("additions", [])] + [recipes / p for _, p in opted],
                needs_env=sorted({e for var, _ in opted for e in OPT_IN[var]}), cwd=spec.get("cwd"),
                after=[str(a) for a in vspec.get("after", spec.get("after", []))],
                nodes=int(nodes if (nodes and multinode) else spec.get("nodes", 1)),
                gpus_per_node=int(gpus_per_node if (gpus_per_node and multinode) else gpus),
                hours=float(vspec.get("hours", spec.get("hours", 0))),
                hours_source=str(vspec.get("hours_source", spec.get("hours_source", ""))),
                env=env, link={str(k): str(v) for k, v in (vspec.get("link", spec.get("link")) or {}).items()},
                keep_iterations=[int(i) for i in spec.get("keep_iterations", [])],
                multinode=multinode, hf_token=bool(spec.get("hf_token")), disk_gib=float(spec.get("disk_gib", 0)),
                gpu_model=spec.get("gpu_model"), group=vspec.get("group"), offline=bool(spec.get("offline")),
                completion=dict(spec.get("completion") or {}),
                repeats=bench_repeats if registry.get(step).kit.repeatable else 1,
            )
            units.append(u)
    names = {u.name for u in units} | {u.step for u in units}
    for u in units:
        for a in u.after:
            if a not in names:
                raise CheckError(f"{u.name} runs after unknown step {a!r}", where=str(path),
                                 expected=", ".join(sorted(names)))
    return units


def find(units: list[Unit], name: str) -> Unit:
    for u in units:
        if u.name == name:
            return u
    raise CheckError(f"no step {name!r} in this profile", expected=", ".join(u.name for u in units))


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
