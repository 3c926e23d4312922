"""Turn a recipe into the script a runner executes: tutorial command + errata (visibly) + kit values."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from checks.errors import CheckError
from checks.recipes import header, recipe_command
from kitlib import errata as errata_mod
from kitlib.errata import Erratum
from kitlib.profile import ROOT, Unit, expand

ERRATA = ROOT / "recipes" / "errata.yaml"


def load_errata() -> list[Erratum]:
    return errata_mod.load(ERRATA)


def apply_errata(unit: Unit, command: str, errata: list[Erratum], versions: dict[str, str | None],
                 addition=None) -> tuple[str, list[dict]]:
    """Apply the unit's errata, each in the expression its versions call for. Every command edit's `find`
    must occur exactly once, or the recipe and the errata have drifted apart and the step must not run.
    `addition`: a kit addition's recipe instead of the unit's own; only errata that name it apply to it.
    Returns the command and the deviations (what was applied, why, and for which versions)."""
    path = addition or unit.recipe
    recipe = path.relative_to(ROOT / "recipes").as_posix()
    applied = []
    for e in errata_mod.applicable(errata, unit.step, recipe):
        if addition is not None and e.recipe is None:
            continue
        x = e.select(versions)
        dev = {"id": e.id, "kind": x.kind, "reason": e.reason, "expression": x.name, "versions": x.describe(),
               "edits": [{"find": f, "replace": r} for f, r in x.edits]}
        if e.intent:
            dev["intent"] = e.intent
        if x.kind == "patch":
            dev["file"] = x.file
        else:
            for find, replace in x.edits:
                n = command.count(find)
                if n != 1:
                    raise CheckError(f"erratum {e.id} ({x.name}): expected exactly one {find!r} in {path.name}, found {n}",
                                     where=x.where, hint="the recipe changed: update recipes/errata.yaml")
                command = command.replace(find, replace)
        applied.append(dev)
    return command, applied


_TORCHRUN = re.compile(r"^torchrun --nproc_per_node (\d+) ")


def gpus_per_node_launcher(command: str, gpus: int) -> tuple[str, str | None]:
    """torchrun --nproc_per_node N with N != GPUS_PER_NODE: the launcher must start one process per GPU asked for."""
    m = _TORCHRUN.match(command)
    if not m or not gpus or int(m.group(1)) == gpus:
        return command, None
    return (f"torchrun --nproc_per_node {gpus} " + command[m.end():],
            f"torchrun --nproc_per_node {m.group(1)} -> {gpus}: GPUS_PER_NODE={gpus} (tutorial: {m.group(1)} GPUs per node)")


def multinode_launcher(command: str) -> tuple[str, str | None]:
    """torchrun of one node -> rendezvous over the Slurm allocation (one torchrun per node)."""
    m = _TORCHRUN.match(command)
    if not m:
        return command, None
    multi = (f"torchrun --nnodes ${{SLURM_NNODES}} --nproc_per_node {m.group(1)} --rdzv_backend c10d "
             "--rdzv_endpoint ${MASTER_ADDR}:29500 --rdzv_id ${SLURM_JOB_ID} ")
    return multi + command[m.end():], (f"torchrun --nproc_per_node {m.group(1)} runs once per node with --nnodes "
                                       "${SLURM_NNODES} and a c10d rendezvous on the first node (tutorial: 96 nodes x 8 GPUs)")


@dataclass
class Rendered:
    script: str  # what the runner executes
    command: str  # the tutorial command after errata, with the kit's values in place
    deviations: list[dict]

    def patches(self) -> list[str]:
        """The upstream edits applied in the container before the command, one line each (no shell)."""
        return [f"[patch {d['file']}: {e['find']} -> {e['replace']}]" for d in self.deviations if d["kind"] == "patch"
                for e in d["edits"]]

    def oneline(self) -> str:
        """The command as one line of shell that parses to the same commands (`make plan` prints it to be copied)."""
        return one_line(self.command)

    def shown(self) -> str:
        """The patches, then the command: what `make -n` shows in its comment line."""
        return " ".join(self.patches() + [self.oneline()])


# After these a newline is only a space: a `;` there would be a syntax error (`do ;`) or change the meaning (`& ;`).
_OPENERS = ("do", "then", "else", "{", "(", "|", "||", "&&", "&")


def one_line(command: str) -> str:
    """A multi-line shell command on one line: continuations joined, comments dropped (a `#` that starts a word,
    outside quotes, runs to the end of its line), and lines joined with `;` except after a word that opens a block
    or a pipe."""
    out: list[str] = []
    for line in re.sub(r"\\\n\s*", "", command).split("\n"):
        line = _uncomment(line).strip()
        if not line:
            continue
        if out and not out[-1].endswith(";") and out[-1].split()[-1] not in _OPENERS:
            out[-1] += " ;"
        out.append(line)
    return " ".join(out)


def _uncomment(line: str) -> str:
    quote, i = None, 0
    while i < len(line):
        c = line[i]
        if c == "\\" and quote != "'":
            i += 2  # an escaped character, inside double quotes or none
            continue
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t;&|()"):
            return line[:i]
        i += 1
    return line


def render(unit: Unit, ctx: dict[str, str], versions: dict[str, str | None], errata: list[Erratum] | None = None,
           multinode: bool = False) -> Rendered:
    """The script prints every deviation from the tutorial before it runs anything."""
    errata = load_errata() if errata is None else errata
    ctx = {**ctx, **{k: expand(v, ctx) for k, v in unit.env.items()}}
    command, deviations = apply_errata(unit, recipe_command(unit.recipe), errata, versions)
    for d in deviations:
        if "file" in d:
            d["file"] = expand(d["file"], ctx)
    for extra in unit.additions:
        extra_command, extra_errata = apply_errata(unit, recipe_command(extra), errata, versions, addition=extra)
        command += "\n" + extra_command
        deviations.append({"id": f"addition-{extra.stem.replace('_', '-')}", "kind": "addition",
                           "reason": " ".join(line.lstrip("# ").strip() for line in header(extra))})
        deviations += extra_errata
    if unit.repeats > 1:
        n = unit.repeats
        command = (f"for kit_repeat in $(seq 1 {n}); do\necho \"[kit] bench repeat $kit_repeat of {n}\"\n"
                   f"{command}\ndone")
        deviations.append({"id": "addition-bench-repeats", "kind": "addition",
                           "reason": f"BENCH_REPEATS={n}: the tutorial's bench command runs {n} times in this step; "
                                     "the median is judged and the spread (CV) reported (the tutorial's figures are single runs)"})
    command, note = gpus_per_node_launcher(command, unit.gpus_per_node)
    if note:
        deviations.append({"id": "launcher-gpus-per-node", "kind": "launcher", "reason": note})
    if multinode:
        command, note = multinode_launcher(command)
        if note:
            deviations.append({"id": "launcher-multinode", "kind": "launcher", "reason": note})
    lines = ["#!/usr/bin/env bash",
             f"# Rendered by the kit for step {unit.name} from {unit.recipe.relative_to(ROOT)} and recipes/errata.yaml.",
             "set -euo pipefail"]
    for d in deviations:
        how = f" ({d['expression']}, for {d['versions']})" if d.get("expression") and d["expression"] != d["id"] else ""
        lines.append("echo " + shlex.quote(f"[kit] {d['kind']} {d['id']}{how}: {d['reason']}"))
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
    (edit,) = d["edits"]  # a patch is one line of one file
    args = " ".join(shlex.quote(x) for x in (d["file"], edit["find"], edit["replace"], d["id"]))
    return f"python3 - {args} <<'KIT_PATCH'\n{_PATCHER}KIT_PATCH"


# Runs inside the container. The first patch of a file keeps its upstream text beside it (<file>.kit-upstream);
# every later patch starts again from that text, so two configs (conservative, aggressive) can take turns in
# one checkout (RUNNER=local keeps it between steps). Refuses when upstream no longer holds the line.
_PATCHER = """import os, sys
path, find, replace, eid = sys.argv[1:5]
keep = path + ".kit-upstream"
try:
    text = open(path).read()
except OSError as e:
    sys.exit(f"[kit] patch {eid}: cannot read {path}: {e}")
if text.count(find) == 1:
    upstream = text
    open(keep, "w").write(upstream)
elif os.path.exists(keep):
    upstream = open(keep).read()
    a, b = text.split("\\n"), upstream.split("\\n")
    if upstream.count(find) != 1 or len(a) != len(b) or sum(x != y for x, y in zip(a, b)) > 1:
        sys.exit(f"[kit] patch {eid}: {path} differs from its upstream copy {keep} beyond one patched line; "
                 "upstream changed this file: update recipes/errata.yaml")
else:
    sys.exit(f"[kit] patch {eid}: expected exactly one {find!r} in {path}, found {text.count(find)}; "
             "upstream changed this file: update recipes/errata.yaml")
patched = upstream.replace(find, replace)
if text == patched:
    print(f"[kit] patch {eid}: already applied to {path}")
else:
    open(path, "w").write(patched)
    print(f"[kit] patch {eid}: {path}: {find!r} -> {replace!r}")
"""
