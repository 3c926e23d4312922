"""Turn a recipe into the script a runner executes: tutorial command + errata (visibly) + kit values."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from checks.recipes import header, recipe_command
from kitlib.profile import ROOT, KitError, Unit, expand

ERRATA = ROOT / "recipes" / "errata.yaml"


@dataclass
class Erratum:
    id: str
    step: str
    kind: str
    find: str
    replace: str
    reason: str
    file: str | None = None
    recipe: str | None = None  # e.g. tutorial/distill.sh; command errata apply to that recipe only


def load_errata(path: Path = ERRATA) -> list[Erratum]:
    doc = yaml.safe_load(path.read_text())
    out = []
    for e in doc.get("errata", []):
        if e.get("kind") not in ("erratum", "fill", "patch") or not all(e.get(k) for k in ("id", "step", "find", "replace", "reason")) \
                or (e["kind"] != "patch" and not e.get("recipe")):
            raise KitError(f"{path}: malformed entry {e.get('id', e)!r}: needs id, step, kind, find, replace, reason "
                           "(and recipe, unless kind: patch)")
        out.append(Erratum(e["id"], e["step"], e["kind"], e["find"], e["replace"], " ".join(str(e["reason"]).split()),
                           e.get("file"), e.get("recipe")))
    return out


def apply_errata(unit: Unit, command: str, errata: list[Erratum]) -> tuple[str, list[Erratum]]:
    """Apply the step's command errata; each `find` must occur exactly once, or the recipe and the
    errata have drifted apart and the step must not run."""
    applied = []
    recipe = unit.recipe.relative_to(ROOT / "recipes").as_posix()
    for e in errata:
        if e.kind == "patch" or e.recipe != recipe:
            continue
        n = command.count(e.find)
        if n != 1:
            raise KitError(f"erratum {e.id}: expected exactly one {e.find!r} in {unit.recipe.name}, found {n}; "
                           "the recipe changed: update recipes/errata.yaml")
        command = command.replace(e.find, e.replace)
        applied.append(e)
    applied += [e for e in errata if e.step == unit.step and e.kind == "patch"]
    return command, applied


def multinode_launcher(command: str) -> tuple[str, str | None]:
    """torchrun of one node -> rendezvous over the Slurm allocation (one torchrun per node)."""
    single = "torchrun --nproc_per_node 8 "
    if not command.startswith(single):
        return command, None
    multi = ("torchrun --nnodes ${SLURM_NNODES} --nproc_per_node 8 --rdzv_backend c10d "
             "--rdzv_endpoint ${MASTER_ADDR}:29500 --rdzv_id ${SLURM_JOB_ID} ")
    return multi + command[len(single):], ("torchrun --nproc_per_node 8 runs once per node with --nnodes ${SLURM_NNODES} "
                                           "and a c10d rendezvous on the first node (tutorial: 96 nodes x 8 GPUs)")


@dataclass
class Rendered:
    script: str  # what the runner executes
    command: str  # the tutorial command after errata, with the kit's values in place
    deviations: list[dict]

    def oneline(self) -> str:
        """The command on one line, for `make -n` and `make plan`."""
        patches = [f"[patch {d['file']}: {d['find']} -> {d['replace']}]" for d in self.deviations if d["kind"] == "patch"]
        lines = [l for l in re.sub(r"\\\n\s*", "", self.command).split("\n") if l.strip()]
        return " ".join(patches + [" ; ".join(lines)])


def render(unit: Unit, ctx: dict[str, str], errata: list[Erratum] | None = None, multinode: bool = False) -> Rendered:
    """The script prints every deviation from the tutorial before it runs anything."""
    errata = load_errata() if errata is None else errata
    ctx = {**ctx, **{k: expand(v, ctx) for k, v in unit.env.items()}}
    command, applied = apply_errata(unit, recipe_command(unit.recipe), errata)
    deviations = [{"id": e.id, "kind": e.kind, "reason": e.reason, "find": e.find, "replace": e.replace,
                   **({"file": expand(e.file, ctx)} if e.file else {})} for e in applied]
    for extra in unit.additions:
        command += "\n" + recipe_command(extra)
        deviations.append({"id": f"addition-{extra.stem.replace('_', '-')}", "kind": "addition",
                           "reason": " ".join(line.lstrip("# ").strip() for line in header(extra))})
    if multinode:
        command, note = multinode_launcher(command)
        if note:
            deviations.append({"id": "launcher-multinode", "kind": "launcher", "reason": note})
    lines = ["#!/usr/bin/env bash",
             f"# Rendered by the kit for step {unit.name} from {unit.recipe.relative_to(ROOT)} and recipes/errata.yaml.",
             "set -euo pipefail"]
    for d in deviations:
        lines.append("echo " + shlex.quote(f"[kit] {d['kind']} {d['id']}: {d['reason']}"))
    for d in deviations:
        if d["kind"] == "patch":
            lines.append(_patch_snippet(d))
    if unit.cwd:
        lines.append("cd " + shlex.quote(expand(unit.cwd, ctx)))
    for p in unit.prelude:
        lines.append(recipe_command(p))
    command = expand(command, ctx)
    lines.append(command)
    return Rendered("\n".join(lines) + "\n", command, deviations)


def _patch_snippet(d: dict) -> str:
    args = " ".join(shlex.quote(x) for x in (d["file"], d["find"], d["replace"], d["id"]))
    return f"python3 - {args} <<'KIT_PATCH'\n{_PATCHER}KIT_PATCH"


# Runs inside the container: idempotent, and loud when upstream no longer holds the line.
_PATCHER = """import sys
path, find, replace, eid = sys.argv[1:5]
try:
    text = open(path).read()
except OSError as e:
    sys.exit(f"[kit] patch {eid}: cannot read {path}: {e}")
if text.count(find) == 0 and text.count(replace) == 1:
    print(f"[kit] patch {eid}: already applied to {path}")
    sys.exit(0)
if text.count(find) != 1:
    sys.exit(f"[kit] patch {eid}: expected exactly one {find!r} in {path}, found {text.count(find)}; "
             "upstream changed this file: update recipes/errata.yaml")
open(path, "w").write(text.replace(find, replace))
print(f"[kit] patch {eid}: {path}: {find!r} -> {replace!r}")
"""
