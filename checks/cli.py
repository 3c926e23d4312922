"""`checks` command line. Exit codes: 0 all checks pass (SKIP allowed), 1 a check failed, 2 bad input or ERROR."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from checks import engine, goldens, kitfiles, registry, render
from checks.errors import CheckError
from checks.findings import exit_code, summary
from checks.run import Run, load_path
from checks.rundir import write_atomic


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its usage line, add a hint
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}\n  what to do: see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="checks", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    STEPS = registry.judged()  # noqa: N806
    pp = sub.add_parser("parse", help="print a step's parsed record as JSON")
    pp.add_argument("step", choices=STEPS)
    pp.add_argument("path", type=Path, help="the step's log file or the step's directory")
    pv = sub.add_parser("verify", help="judge a run directory against goldens")
    pv.add_argument("run_dir", type=Path)
    pv.add_argument("--expected", type=Path, default=None,
                    help="goldens file (default: the kit's goldens of the run's profile, full when it names none)")
    pv.add_argument("--step", action="append", choices=STEPS, help="only these steps (repeatable)")
    pv.add_argument("--json", type=Path, metavar="FILE", help="also write verdicts as JSON")
    pv.add_argument("--junit", type=Path, metavar="FILE", help="also write verdicts as JUnit XML")
    ph = sub.add_parser("report", help="verdicts as an HTML page with plots (loss curves, throughput, eval)")
    ph.add_argument("run_dir", type=Path)
    ph.add_argument("--html", type=Path, required=True, metavar="FILE")
    ph.add_argument("--expected", type=Path, default=None, help="goldens file (default: the run's profile)")
    ph.add_argument("--baseline", type=Path, default=None, help="a run whose loss curves are drawn beside")
    pd = sub.add_parser("diff", help="what changed between two runs, within the goldens' tolerances")
    pd.add_argument("baseline", type=Path)
    pd.add_argument("candidate", type=Path)
    pd.add_argument("--expected", type=Path, default=None, help="goldens file (default: the baseline's profile)")
    pd.add_argument("--step", action="append", choices=STEPS)
    pd.add_argument("--json", type=Path, metavar="FILE")
    pb = sub.add_parser("bless", help="make a run's values the new goldens (shows the YAML diff first)")
    pb.add_argument("run_dir", type=Path)
    pb.add_argument("--into", type=Path, required=True, help="the goldens file to update, e.g. expected/tiny.yaml")
    pb.add_argument("--step", action="append", choices=STEPS)
    pb.add_argument("--yes", action="store_true", help="write without asking (for scripts)")
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
    pw = sub.add_parser("watch", help="judge a running step as its log grows, project its end, apply the stop policy")
    pw.add_argument("run_dir", type=Path)
    pw.add_argument("--step", default=None, metavar="STEP",
                    help="distill or bench/<variant> (default: the unit that is running, else distill)")
    pw.add_argument("--expected", type=Path, default=None, help="goldens file (default: the run's profile's)")
    pw.add_argument("--every", type=float, default=None, metavar="SECONDS",
                    help="seconds between updates (default: the policy's every_s)")
    pw.add_argument("--once", action="store_true", help="one update, then exit (0 healthy so far, 1 stop, 2 bad input)")
    pw.add_argument("--status", type=Path, default=None, metavar="FILE", help="write a JSON status each update")
    pw.add_argument("--policy", default=None, metavar="FILE-or-profile",
                    help="the stop policy: a YAML file or a profile name (default: the run's profile's `watch:`)")
    pl = sub.add_parser("list-rules", help="every rule the kit judges by: goldens, lineage, completion and watch "
                                           "policies (data) and the registered Python rules, where each lives and its source")
    pl.add_argument("--expected", type=Path, action="append", default=None, metavar="FILE",
                    help="goldens files to list (default: every file of the kit's expected/)")
    pl.add_argument("--json", type=Path, metavar="FILE")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True)
    try:
        return {"parse": cmd_parse, "verify": cmd_verify, "diff": cmd_diff, "bless": cmd_bless,
                "drift": cmd_drift, "report": cmd_report, "watch": cmd_watch, "list-rules": cmd_list_rules}[args.cmd](args)
    except CheckError as e:
        err.print(f"[bold magenta]ERROR[/] {escape(e.render())}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def cmd_parse(args: argparse.Namespace) -> int:
    record = load_path(args.step, args.path)
    print(json.dumps(dataclasses.asdict(record), indent=2, default=str, allow_nan=True))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    run = Run.load(args.run_dir)
    g = goldens.load(_profile_goldens(run, args.expected))
    findings = engine.evaluate(g, run, steps=args.step)
    render.terminal(findings, Console(), f"checks verify {args.run_dir} against {g.file}")
    meta = {"run_dir": str(args.run_dir), "expected": g.file, "profile": g.profile}
    if args.json:
        render.write_json(args.json, findings, meta)
    if args.junit:
        render.write_junit(args.junit, findings)
    return exit_code(findings)


def _profile_goldens(run: Run, explicit: Path | None) -> Path:
    """--expected, else the kit's goldens of the profile the run's manifest names (never a path the run names)."""
    return explicit if explicit else kitfiles.goldens_file(run.profile)


def cmd_diff(args: argparse.Namespace) -> int:
    from checks import diff

    base, cand = Run.load(args.baseline), Run.load(args.candidate)
    g = goldens.load(_profile_goldens(base, args.expected))
    changes = diff.diff_runs(base, cand, g, args.step)
    render.terminal(changes, Console(), f"checks diff {args.baseline} -> {args.candidate} ({g.file})",
                    labels=("baseline", "candidate"))
    if args.json:
        render.write_json(args.json, changes, {"baseline": str(args.baseline), "candidate": str(args.candidate),
                                               "expected": g.file})
    return exit_code(changes)


def cmd_bless(args: argparse.Namespace) -> int:
    from checks import bless

    g = goldens.load(args.into)
    old, new, notes = bless.bless(Run.load(args.run_dir), g, args.step)
    console = Console()
    for n in notes:
        console.print(f"[dim]{escape(n)}[/dim]", highlight=False)
    patch = bless.unified(old, new, str(args.into))
    if not patch:
        console.print(f"{args.into}: the run's values are the goldens already; nothing to write")
        return 0
    console.print(patch, markup=False, highlight=False, soft_wrap=True)  # a diff is read whole: never wrapped
    if not args.yes:
        if not sys.stdin.isatty():
            raise CheckError("not writing without confirmation", hint="review the diff above, then rerun with --yes")
        if input(f"Write these goldens to {args.into}? [y/N] ").strip().lower() not in ("y", "yes"):
            console.print("nothing written")
            return 1
    goldens.load_text(new, str(args.into))  # refuse to write a file the loader would reject
    write_atomic(args.into, new)
    console.print(f"wrote {args.into}; review it with `git diff {args.into}` and commit it with the reason")
    return 0


def cmd_drift(args: argparse.Namespace) -> int:
    from checks import drift
    from checks.recipes import as_tutorial, compared_with_readme, recipe_command

    for opt in ("modelopt_root", "bridge_root", "baseline_modelopt_root", "baseline_bridge_root"):
        d = getattr(args, opt)
        if d is not None and not d.is_dir():
            raise CheckError(f"--{opt.replace('_', '-')} is not a directory", where=str(d),
                             hint="pass the top directory of the checkout (e.g. /opt/Model-Optimizer)")
    checkout = args.modelopt_root is not None or args.bridge_root is not None
    if args.flags_only and not checkout:
        raise CheckError("checks drift --flags-only needs a checkout to check the recipes against",
                         expected="--modelopt-root DIR and/or --bridge-root DIR")
    if not args.flags_only and args.readme is None:
        raise CheckError("checks drift needs the tutorial's README", expected="--readme README.md",
                         hint="pass the README.md of examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2 at the ref, "
                              "or --flags-only with --modelopt-root/--bridge-root to check only scripts and flags")
    paths = sorted(args.recipes.glob("*.sh"))
    if not paths and (not args.flags_only or not args.commands):
        raise CheckError("no recipes found", where=str(args.recipes), expected="recipes/tutorial/*.sh")
    found, title = [], "checks drift"
    if not args.flags_only:
        if not args.readme.is_file():
            raise CheckError("tutorial README not found", where=str(args.readme),
                             hint="pass the README.md of examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2 at the ref")
        recipes = {p.stem: as_tutorial(p) for p in paths if compared_with_readme(p)}
        markdown = args.readme.read_text(encoding="utf-8", errors="replace")
        found = drift.compare(recipes, markdown)
        title += f" {args.readme}"
        if checkout:  # scripts the README itself names that the checkout lacks (distill_minitron.py at every ref)
            for f in drift.missing_paths(drift.blocks(markdown), args.modelopt_root, args.bridge_root):
                f.step, f.note = "README", f"the README names it; {f.note}"
                found.append(f)
    if checkout:
        if args.commands:
            commands: dict[str, str] = {}
            for f in args.commands:
                try:
                    commands.update(drift.read_commands(f))
                except (OSError, ValueError) as e:
                    raise CheckError("cannot read commands", where=str(f), found=str(e),
                                     expected="JSON {name: command} or a shell script") from None
        else:
            commands = {p.stem: recipe_command(p) for p in paths}
        baseline = {k: v for k, v in (("modelopt", args.baseline_modelopt_root), ("bridge", args.baseline_bridge_root)) if v}
        flagged = drift.flags(commands, args.modelopt_root, args.bridge_root, baseline)
        errata = args.recipes.parent / "errata.yaml"
        if not args.commands and errata.is_file():  # the recipes as written: say where an erratum rewrites a path
            finds = _errata_finds(errata)
            for f in flagged:
                if f.status == "MISSING" and "/" in f.id and any(f.id in x for x in finds):
                    f.note += (f" ({errata} rewrites this path for some versions: to check what will run, pass the "
                               "commands rendered with errata, --commands FILE)")
        found += flagged
        title += " flags in " + " + ".join(str(r) for r in (args.modelopt_root, args.bridge_root) if r)
    render.terminal(found, Console(), title, labels=("expected", "found"))
    if args.json:
        render.write_json(args.json, found, {"readme": str(args.readme) if args.readme else None,
                                             "modelopt_root": str(args.modelopt_root) if args.modelopt_root else None,
                                             "bridge_root": str(args.bridge_root) if args.bridge_root else None,
                                             "baseline": {k: str(v) for k, v in baseline.items()} if checkout else {},
                                             "commands": [str(c) for c in args.commands or []] or str(args.recipes)})
    return exit_code(found)


def _errata_finds(path: Path) -> list[str]:
    """Every `find:` text of the errata file (any schema), to tell which recipe paths an erratum rewrites."""
    import yaml

    def walk(x: object):
        if isinstance(x, dict):
            if isinstance(x.get("find"), str):
                yield x["find"]
            for v in x.values():
                yield from walk(v)
        elif isinstance(x, list):
            for v in x:
                yield from walk(v)

    try:
        return list(walk(yaml.safe_load(path.read_text(encoding="utf-8"))))
    except (OSError, yaml.YAMLError):
        return []


def cmd_report(args: argparse.Namespace) -> int:
    from checks import plots

    run = Run.load(args.run_dir)
    g = goldens.load(_profile_goldens(run, args.expected))
    findings = engine.evaluate(g, run)
    baseline = Run.load(args.baseline) if args.baseline else None
    write_atomic(args.html, plots.html_report(run, g, findings, baseline))
    print(f"wrote {args.html} ({', '.join(f'{n} {s}' for s, n in summary(findings).items())})")
    return exit_code(findings)


def cmd_watch(args: argparse.Namespace) -> int:
    """Exit 0 the step finished healthy (with --once: healthy so far), 1 the policy said stop or a decided check
    failed, 2 bad input (no such run, an unreadable policy or goldens file, no log yet with --once)."""
    from checks import watch

    if args.every is not None and not args.every > 0:
        raise CheckError(f"--every {args.every:g}: expected seconds > 0")
    run = Run.load(args.run_dir)
    unit = args.step or watch.default_unit(args.run_dir)
    policy = watch.load_policy(args.policy, run.profile)
    g = goldens.load(_profile_goldens(run, args.expected))
    w = watch.Watcher(args.run_dir, unit, policy=policy, goldens=g)
    return watch.follow(w, Console(), every_s=args.every or policy.every_s, once=args.once, status_file=args.status)


def cmd_list_rules(args: argparse.Namespace) -> int:
    from checks import rulelist

    rows = rulelist.rows(args.expected)
    rulelist.show(rows, Console())
    if args.json:
        write_atomic(args.json, json.dumps([r.__dict__ for r in rows], indent=2) + "\n")
    return 0
