"""What `checks drift` reads beyond scripts and flags, and its gate mode: exit 0 means "this version will run
the tutorial's commands" (scripts, flags, imports against the pinned libraries, the evaluator config's metrics
against the goldens, the launcher's dry-run, and no golden measured with a tool default that changed since the
baseline); README text differences are shown, not counted."""

from __future__ import annotations

import argparse
from pathlib import Path

from checks import goldens as goldens_mod
from checks.drift import evalcfg, imports, launcher
from checks.drift.flags import invocations
from checks.drift.packages import Registry
from checks.errors import CheckError
from checks.findings import CHANGED, DIFFERS, ERROR, SKIP, Finding

PINS = {"megatron.bridge": "MEGATRON_BRIDGE_VERSION", "megatron.core": "MEGATRON_CORE_VERSION",
        "transformers": "TRANSFORMERS_VERSION"}


def add_options(pr) -> None:
    pr.add_argument("--gate", action="store_true",
                    help="exit 0 only when this version will run the tutorial's commands (README text is shown, not counted)")
    pr.add_argument("--expected", type=Path, metavar="FILE",
                    help="goldens whose eval metrics the evaluator config at the ref must produce (e.g. expected/full.yaml), "
                         "and whose `relies_on` defaults are judged against the baseline checkout")
    pr.add_argument("--launcher", type=Path, default=None, metavar="PATH",
                    help=f"nemo-evaluator-launcher for the eval step's --dry-run: a path, or a name on PATH (default "
                         f"with --gate: {launcher.DEFAULT})")
    pr.add_argument("--packages", type=Path, metavar="DIR",
                    help="sources of the libraries the image pins, <dist>/<version>/ trees or wheels, for the import check")
    pr.add_argument("--fetch", action="store_true",
                    help="with --packages: download the pinned versions (and, for a missing name, later ones) from the "
                         "package registry into DIR (pip download --no-deps; nothing is installed)")
    pr.add_argument("--pins", type=Path, default=Path("versions.env"), metavar="FILE",
                    help="the pinned versions (default: %(default)s)")
    pr.add_argument("--modelopt-ref", metavar="REF", help="the MODELOPT_REF the commands were rendered for (for the record)")
    pr.add_argument("--baseline-skip", metavar="WHY",
                    help="no baseline checkout could be had (make regress says why): shown as the defaults' SKIP")


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
    if args.baseline_skip:
        out.append(Finding("defaults", "vs the baseline", SKIP, note=f"defaults not compared: {args.baseline_skip}"))
    return out


def _eval(args: argparse.Namespace, commands: dict[str, str], pins: dict[str, str]) -> list[Finding]:
    cfg = args.modelopt_root / evalcfg.EVAL_YAML
    evals = {k: v for k, v in commands.items() if launcher.launch_lines(v)}  # the units that launch the evaluator
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


def _imports(args: argparse.Namespace, commands: dict[str, str], pins: dict[str, str]) -> list[Finding]:
    reg = Registry(args.packages, fetch=args.fetch)
    packages, newer, unavailable = {}, {}, []
    for lib, pin in PINS.items():
        dist, version = imports.LIBRARIES[lib][0], pins.get(pin)
        if version is None:
            continue  # not pinned: check_script says SKIP, and why (versions.env)
        pkg = reg.package(dist, version)
        if pkg is None:
            unavailable.append(Finding("imports", f"{dist} {version}", ERROR if args.fetch else SKIP, where=str(args.packages),
                                       note=f"the sources of {dist} {version} ({pin} in {args.pins}) are not in "
                                            f"{args.packages}" + (f" and the registry did not give them: "
                                                                  f"{reg.problems.get(f'{dist}=={version}', '?')}" if args.fetch
                                                                  else " (no --fetch)")
                                            + ": the scripts' imports of it were not checked. What to do: network to the "
                                              "package registry, or put the wheel there"))
            continue
        packages[lib], newer[lib] = pkg, reg.later(dist, version)
    if (args.modelopt_root / "modelopt" / "__init__.py").is_file():  # the image installs the checkout itself
        packages["modelopt"] = imports.Package("nvidia-modelopt", "the checkout", args.modelopt_root)
    roots = {"modelopt": args.modelopt_root, "bridge": args.bridge_root}
    out, seen = list(unavailable), set()
    for name, command in sorted(commands.items()):
        for inv in invocations(command):
            root = roots.get(inv["repo"])
            script = Path(root) / inv["path"] if root else None
            if script is None or not script.is_file() or (inv["repo"], inv["path"]) in seen:
                continue
            seen.add((inv["repo"], inv["path"]))
            repo = "Model-Optimizer" if inv["repo"] == "modelopt" else "Megatron-Bridge"
            found = imports.check_script(name, repo, inv["path"], script.read_text(encoding="utf-8", errors="replace"),
                                         packages, newer)
            out += [_unpinned(f, pins, args.pins) for f in found]
    return out


def _unpinned(f: Finding, pins: dict[str, str], path: Path) -> Finding:
    """A library versions.env does not pin (transformers: the image's version is not published) is SKIP, saying so."""
    for lib, pin in PINS.items():
        if f.status == SKIP and f.id.endswith(f"imports {lib}") and pin not in pins:
            f.note = (f"{f.note.split(':')[0]}: versions.env pins no {pin} (the image's version is not published; "
                      f"see the comment in {path})")
    return f


def judge_defaults(args: argparse.Namespace, found: list[Finding]) -> list[Finding]:
    """A CHANGED default (against the baseline checkout) is judged by the goldens' `relies_on`: CHANGED (failing)
    when goldens were measured with the old default, DIFFERS (shown) when none was; SKIP when the new default is
    None, resolved in the script's body, where a static reading cannot say what it becomes."""
    if args.expected is None:
        return found  # no goldens named: every changed default stays CHANGED, as checks drift always said
    relies = goldens_mod.load(args.expected).relies_on
    for f in found:
        if f.status != CHANGED or not f.id.startswith("--"):
            continue
        key = f"{Path(f.where.split(':')[0]).name} {f.id}"
        ids = relies.get(key, [])
        if f.measured == "None":
            f.status = SKIP
            f.note = (f"not judged: the default became None, which the script resolves in its body (a static reading "
                      f"cannot say to what){'; goldens ' + ', '.join(ids) + ' rely on it: check by hand' if ids else ''}. "
                      + f.note)
        elif ids:
            f.note = (f"goldens {', '.join(ids)} ({args.expected}, relies_on) were measured with {f.expected}; the run "
                      f"would be judged against them with {f.measured}. " + f.note)
        else:
            f.status = DIFFERS
            f.note = f"no golden relies on it (relies_on in {args.expected}): shown, not judged. " + f.note
    return found

