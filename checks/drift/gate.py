"""What `checks drift` reads beyond scripts and flags, and its gate mode: exit 0 means "this version will run
the tutorial's commands" (scripts, flags, imports against the pinned libraries, the evaluator config's metrics
against the goldens, the launcher's dry-run); README text differences are shown, not counted."""

from __future__ import annotations

import argparse
from pathlib import Path

from checks import goldens as goldens_mod
from checks.drift import evalcfg, imports, launcher
from checks.drift.flags import invocations
from checks.errors import CheckError
from checks.findings import SKIP, Finding

PINS = {"megatron.bridge": "MEGATRON_BRIDGE_VERSION", "megatron.core": "MEGATRON_CORE_VERSION",
        "transformers": "TRANSFORMERS_VERSION"}


def add_options(pr) -> None:
    pr.add_argument("--gate", action="store_true",
                    help="exit 0 only when this version will run the tutorial's commands (README text is shown, not counted)")
    pr.add_argument("--expected", type=Path, metavar="FILE",
                    help="goldens whose eval metrics the evaluator config at the ref must produce (e.g. expected/full.yaml)")
    pr.add_argument("--launcher", type=Path, default=None, metavar="PATH",
                    help=f"nemo-evaluator-launcher for the eval step's --dry-run (default with --gate: {launcher.DEFAULT})")
    pr.add_argument("--packages", type=Path, metavar="DIR",
                    help="sources of the libraries the image pins, <dist>/<version>/ trees or wheels, for the import check")
    pr.add_argument("--pins", type=Path, default=Path("versions.env"), metavar="FILE",
                    help="the pinned versions (default: %(default)s)")


def read_pins(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def findings(args: argparse.Namespace, commands: dict[str, str]) -> list[Finding]:
    pins = read_pins(args.pins)
    out = []
    if args.modelopt_root is not None and commands:
        out += _eval(args, commands, pins)
        if args.packages is not None:
            out += _imports(args, commands, pins)
        elif args.gate:
            out.append(Finding("imports", "pinned libraries", SKIP, note="not checked: no --packages DIR with the sources "
                                                                          "of the libraries the image pins"))
    return out


def _eval(args: argparse.Namespace, commands: dict[str, str], pins: dict[str, str]) -> list[Finding]:
    cfg = args.modelopt_root / evalcfg.EVAL_YAML
    evals = {k: v for k, v in commands.items() if k.split("/")[0] == "eval" and launcher.launch_lines(v)}
    if not evals or not (args.gate or args.expected or args.launcher):
        return []
    if not cfg.is_file():
        raise CheckError("the eval step launches the tutorial's nemo_evaluator.yaml, which the checkout lacks",
                         where=str(cfg), hint="pass the Model-Optimizer checkout at the ref (--modelopt-root)")
    text, where = cfg.read_text(encoding="utf-8"), f"Model-Optimizer:{evalcfg.EVAL_YAML}"
    out = []
    if args.expected is not None:
        out += evalcfg.check(text, where, goldens_mod.load(args.expected), str(args.expected))
    exe = args.launcher or (launcher.DEFAULT if args.gate else None)
    if exe is not None:
        for name, command in sorted(evals.items()):
            out += launcher.dry_run(command, text, where, exe, pins.get("NEMO_EVALUATOR_LAUNCHER_VERSION"), step=name)
    return out


def _packages(root: Path, dist: str, pinned: str | None) -> tuple[imports.Package | None, list[imports.Package]]:
    """(the pinned version's sources, later versions' sources) found under `root`."""
    from packaging.version import InvalidVersion, Version

    found = {}
    for p in sorted((root / dist).glob("*")) if (root / dist).is_dir() else []:
        found[p.name] = p
    for w in sorted(root.glob(f"{dist.replace('-', '_')}-*.whl")):
        found.setdefault(w.name.split("-")[1], w)

    def key(v: str):
        try:
            return Version(v)
        except InvalidVersion:
            return None

    pkg = imports.Package(dist, pinned, found[pinned]) if pinned in found else None
    later = [imports.Package(dist, v, p) for v, p in found.items() if pinned and key(v) and key(pinned) and key(v) > key(pinned)]
    return pkg, sorted(later, key=lambda p: key(p.version))


def _imports(args: argparse.Namespace, commands: dict[str, str], pins: dict[str, str]) -> list[Finding]:
    packages, newer = {}, {}
    for lib, pin in PINS.items():
        dist = imports.LIBRARIES[lib][0]
        packages[lib], newer[lib] = _packages(args.packages, dist, pins.get(pin))
        if packages[lib] is None:
            del packages[lib]
    if (args.modelopt_root / "modelopt" / "__init__.py").is_file():  # the image installs the checkout itself
        packages["modelopt"] = imports.Package("nvidia-modelopt", "the checkout", args.modelopt_root)
    roots = {"modelopt": args.modelopt_root, "bridge": args.bridge_root}
    out, seen = [], set()
    for name, command in sorted(commands.items()):
        for inv in invocations(command):
            root = roots.get(inv["repo"])
            script = Path(root) / inv["path"] if root else None
            if script is None or not script.is_file() or (inv["repo"], inv["path"]) in seen:
                continue
            seen.add((inv["repo"], inv["path"]))
            repo = "Model-Optimizer" if inv["repo"] == "modelopt" else "Megatron-Bridge"
            out += imports.check_script(name, repo, inv["path"], script.read_text(encoding="utf-8", errors="replace"),
                                        packages, newer)
    return out
