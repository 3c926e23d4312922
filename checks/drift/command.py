"""The `checks drift` command line: its options, its inputs (each bad one an exit-2 error naming it), and the
checks it runs. Exit codes: 0 nothing drifted, 1 something did, 2 bad input; with --gate, 0 means "this version
will run the tutorial's commands" (README text differences are shown, not counted)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from checks.errors import CheckError
from checks.findings import FAILING, SKIP, Finding

_ROOT_OPTS = ("modelopt_root", "bridge_root", "baseline_modelopt_root", "baseline_bridge_root")
README_IN_CHECKOUT = Path("examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2/README.md")


def add_parser(sub) -> None:
    pr = sub.add_parser("drift", help="compare recipes with the tutorial README at a Model-Optimizer ref, and check "
                                      "in a checkout that the scripts they call exist and accept their flags")
    pr.add_argument("--readme", type=Path, help="the tutorial's README.md at the ref (not needed with --flags-only)")
    pr.add_argument("--recipes", type=Path, default=Path("recipes/tutorial"), help="recipe directory (default: %(default)s)")
    pr.add_argument("--commands", type=Path, action="append", metavar="FILE",
                    help="check these commands' flags instead of the recipes' as written (e.g. rendered with errata): "
                         "JSON {name: command}, or a shell script (a step's command.sh is named after its directory); repeatable")
    pr.add_argument("--modelopt-root", type=Path, metavar="DIR",
                    help="a Model-Optimizer checkout at the ref: check that the scripts exist and accept every flag passed")
    pr.add_argument("--bridge-root", type=Path, metavar="DIR", help="a Megatron-Bridge checkout, likewise")
    pr.add_argument("--baseline-modelopt-root", type=Path, metavar="DIR",
                    help="an older Model-Optimizer checkout: also report changed defaults the recipes rely on")
    pr.add_argument("--baseline-bridge-root", type=Path, metavar="DIR", help="an older Megatron-Bridge checkout, likewise")
    pr.add_argument("--flags-only", action="store_true", help="only the scripts and flags check: no README comparison")
    pr.add_argument("--json", type=Path, metavar="FILE")
    add_gate_options(pr)


def add_gate_options(pr) -> None:
    """Filled in by checks.drift.gate (imports, the evaluator config, the launcher's dry-run)."""
    from checks.drift import gate

    gate.add_options(pr)


def read_commands(path: Path) -> dict[str, str]:
    """Commands to check, from a file: JSON {name: command}, or a shell script (name: its stem, or its
    directory's name for a step's rendered command.sh)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError(f"{path}: expected a JSON object {{name: command}}")
        return data
    return {path.parent.name if path.name == "command.sh" else path.stem: text}


def _validate(args: argparse.Namespace) -> bool:
    """Bad inputs stop here, named (exit 2). Returns whether a checkout was given."""
    for opt in _ROOT_OPTS:
        d = getattr(args, opt)
        if d is not None and not d.is_dir():
            raise CheckError(f"--{opt.replace('_', '-')} is not a directory", where=str(d),
                             hint="pass the top directory of the checkout (e.g. /opt/Model-Optimizer)")
    checkout = args.modelopt_root is not None or args.bridge_root is not None
    if args.flags_only and not checkout:
        raise CheckError("checks drift --flags-only needs a checkout to check the recipes against",
                         expected="--modelopt-root DIR and/or --bridge-root DIR")
    if args.readme is None and args.gate and args.modelopt_root is not None and (args.modelopt_root / README_IN_CHECKOUT).is_file():
        args.readme = args.modelopt_root / README_IN_CHECKOUT
    if not args.flags_only and args.readme is None and not args.gate:
        raise CheckError("checks drift needs the tutorial's README", expected="--readme README.md",
                         hint="pass the README.md of examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2 at the ref, "
                              "or --flags-only with --modelopt-root/--bridge-root to check only scripts and flags")
    if args.readme is not None and not args.readme.is_file():
        raise CheckError("tutorial README not found", where=str(args.readme),
                         hint="pass the README.md of examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2 at the ref")
    return checkout


def _recipe_paths(args: argparse.Namespace) -> list[Path]:
    paths = sorted(args.recipes.glob("*.sh"))
    if not paths and (not args.flags_only or not args.commands):
        raise CheckError("no recipes found", where=str(args.recipes), expected="recipes/tutorial/*.sh")
    return paths


def _readme_findings(args: argparse.Namespace, paths: list[Path], checkout: bool) -> list[Finding]:
    from checks.drift.readme import blocks, compare, missing_paths
    from checks.recipes import as_tutorial, compared_with_readme

    recipes = {p.stem: as_tutorial(p) for p in paths if compared_with_readme(p)}
    markdown = args.readme.read_text(encoding="utf-8", errors="replace")
    found = compare(recipes, markdown, str(args.readme))
    if args.gate:
        found = [_not_gating(f, "README text") for f in found]
    if checkout:  # scripts the README itself names that the checkout lacks (distill_minitron.py at every ref)
        for f in missing_paths(blocks(markdown), args.modelopt_root, args.bridge_root):
            f.step, f.note = "README", f"the README names it; {f.note}"
            found.append(_not_gating(f, "the README's own text; the commands that run are checked below") if args.gate else f)
    return found


def _commands(args: argparse.Namespace, paths: list[Path]) -> dict[str, str]:
    from checks.recipes import recipe_command

    if not args.commands:
        return {p.stem: recipe_command(p) for p in paths}
    commands: dict[str, str] = {}
    for f in args.commands:
        try:
            commands.update(read_commands(f))
        except (OSError, ValueError) as e:
            raise CheckError("cannot read commands", where=str(f), found=str(e),
                             expected="JSON {name: command} or a shell script") from None
    return commands


def _errata_paths(recipes: Path) -> list[str]:
    """Every `find` text of the errata file, read by the kit's strict loader (scripts/kitlib/errata.py): a broken
    errata file is an error here too, not a silently empty list."""
    path = recipes.parent / "errata.yaml"
    if not path.is_file():
        return []
    for scripts in (recipes.parent.parent / "scripts", Path(__file__).resolve().parents[2] / "scripts"):
        if (scripts / "kitlib" / "errata.py").is_file() and str(scripts) not in sys.path:
            sys.path.insert(0, str(scripts))
    try:
        from kitlib import errata
    except ImportError:
        return []  # checks without the kit beside it (inside the image): no errata to name
    return [f for e in errata.load(path) for x in e.expressions for f, _ in x.edits]


def _flag_findings(args: argparse.Namespace, paths: list[Path]) -> list[Finding]:
    from checks.drift.flags import flags

    baseline = {k: v for k, v in (("modelopt", args.baseline_modelopt_root), ("bridge", args.baseline_bridge_root)) if v}
    flagged = flags(_commands(args, paths), args.modelopt_root, args.bridge_root, baseline)
    if not args.commands:  # the recipes as written: say where an erratum rewrites a path
        finds = _errata_paths(args.recipes)
        for f in flagged:
            if f.status == "MISSING" and "/" in f.id and any(f.id in x for x in finds):
                f.note += (f" ({args.recipes.parent / 'errata.yaml'} rewrites this path for some versions: to check what "
                           "will run, pass the commands rendered with errata, --commands FILE)")
    return flagged


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from checks import render
    from checks.drift import gate
    from checks.findings import exit_code

    checkout = _validate(args)
    paths = _recipe_paths(args)
    found, title = [], "checks drift"
    if args.readme is not None and not args.flags_only:
        found += _readme_findings(args, paths, checkout)
        title += f" {args.readme}"
    commands = _commands(args, paths) if checkout else {}
    if checkout:
        found += gate.judge_defaults(args, _flag_findings(args, paths))
        title += " flags in " + " + ".join(str(r) for r in (args.modelopt_root, args.bridge_root) if r)
    found += gate.findings(args, commands)
    if args.gate:
        title += " --gate"
    render.terminal(found, Console(), title, labels=("expected", "found"))
    if args.json:
        render.write_json(args.json, found, _meta(args, commands))
    return exit_code(found)


def _not_gating(f: Finding, why: str) -> Finding:
    """In gate mode, shown but not counted: the gate asks whether this version will run the tutorial's commands
    (rendered with errata), not whether the README's text moved."""
    if f.status in FAILING:
        f.note = f"not gating ({why}; {f.status}): {f.note}"
        f.status = SKIP
    return f


def _meta(args: argparse.Namespace, commands: dict[str, str]) -> dict:
    from checks.drift.record import digest

    baseline = {k: str(v) for k, v in (("modelopt", args.baseline_modelopt_root), ("bridge", args.baseline_bridge_root)) if v}
    return {"commands_sha256": {k: digest(v) for k, v in commands.items()}, "modelopt_ref": args.modelopt_ref or _kit_ref(args.modelopt_root),
            "readme": str(args.readme) if args.readme else None,
            "modelopt_root": str(args.modelopt_root) if args.modelopt_root else None,
            "bridge_root": str(args.bridge_root) if args.bridge_root else None, "baseline": baseline,
            "commands": [str(c) for c in args.commands or []] or str(args.recipes), "gate": bool(args.gate)}


def _kit_ref(root: Path | None) -> str | None:
    """The ref a checkout was made at, as the image records it (.kit-ref: '<ref> <sha>')."""
    try:
        return (root / ".kit-ref").read_text().split()[0] if root is not None else None
    except (OSError, IndexError):
        return None
