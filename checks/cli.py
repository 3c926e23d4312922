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
from checks.stdout import PipeSafe


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
    from checks.drift import command as drift_command

    drift_command.add_parser(sub)
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
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ("exit codes: 0 every check passes (SKIP and XFAIL allowed), 1 a check failed, 2 bad input or ERROR;\n"
                "each command's own: checks COMMAND --help")
    for name, sp in sub.choices.items():  # every subcommand: what it does, an example, and its exit codes
        text, exits = _HELP[name]
        sp.formatter_class = argparse.RawDescriptionHelpFormatter
        sp.description = text
        sp.epilog = "exit codes:\n" + "\n".join(f"  {code}  {what}" for code, what in exits)
    return p


_HELP = {
    "parse": ("Print one step's parsed record as JSON: the values the checks read, the log format that matched\n"
              "and where each value was found (file:line). Judges nothing.\n"
              "  e.g. checks parse prune runs/full/prune/step.log",
              [(0, "the record was printed"),
               (2, "bad input: no such path, a log in no format the parser knows, an unreadable file")]),
    "verify": ("Judge a run directory against goldens (expected/<profile>.yaml): every value with its tolerance\n"
               "and source, plus the run's structure and provenance. Prints one line per check.\n"
               "  e.g. checks verify runs/full --expected expected/full.yaml --json runs/full/report.json",
               [(0, "every check passes (SKIP and XFAIL allowed)"), (1, "a check FAILed, or an XFAIL passed (XPASS)"),
                (2, "ERROR (a missing or unparseable log, an unknown log format) or bad input")]),
    "report": ("Write the verdicts of `checks verify` as one HTML page, with plots: loss curves, throughput and\n"
               "memory against the tutorial's table, eval scores within their bands.\n"
               "  e.g. checks report runs/full --html runs/full/report.html",
               [(0, "every check passes"), (1, "a check failed (the page is written all the same)"),
                (2, "ERROR or bad input")]),
    "diff": ("Compare two runs value by value, each within its golden's tolerance, and show every other parsed\n"
             "field, version, flag and erratum that differs (DIFFERS: shown, never failing).\n"
             "  e.g. checks diff runs/tiny runs/regress-tiny-modelopt-0.46.0",
             [(0, "no judged value changed beyond its tolerance"), (1, "a judged value changed (CHANGED)"),
              (2, "bad input or a run that cannot be read")]),
    "bless": ("Make a complete, clean run's values the new goldens: keeps every tolerance, records the run as the\n"
              "source, shows the YAML diff and asks before writing (--yes for scripts).\n"
              "  e.g. checks bless runs/tiny --into expected/tiny.yaml",
              [(0, "written, or nothing to write"), (1, "not confirmed at the prompt: nothing written"),
               (2, "an incomplete or unclean run, no --yes without a terminal, or bad input: nothing written")]),
    "drift": ("Compare recipes/tutorial/ with the command blocks of the tutorial's README at a Model-Optimizer ref,\n"
              "and (with --modelopt-root/--bridge-root) check that every script the commands call exists there and\n"
              "accepts every flag passed.\n"
              "  e.g. checks drift --flags-only --commands runs/x/commands.json --modelopt-root /opt/Model-Optimizer",
              [(0, "no drift"), (1, "a block changed, a script is missing or a flag is not accepted"),
               (2, "bad input: no README, no checkout, unreadable commands")]),
    "list-rules": ("List every rule the kit judges by: each goldens file's checks, lineage, completion and watch\n"
                   "policies (data), and the registered Python rules, with where each lives and its source.\n"
                   "  e.g. checks list-rules --expected expected/full.yaml",
                   [(0, "listed"), (2, "bad input: an unreadable or invalid goldens file")]),
    "watch": ("Judge a running step as its log grows (distillation, bench): the checks decided so far, the\n"
              "projected end, and the profile's stop policy (`watch:`); with --once one update.\n"
              "  e.g. checks watch runs/full --step distill --once",
              [(0, "the step finished healthy (with --once: healthy so far)"),
               (1, "the policy says stop, or a decided check failed"),
               (2, "bad input: no such run, an unreadable policy or goldens file, no log yet with --once")]),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{version('nemotron-repro-checks')} (nemotron-repro-checks)"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed: pip install -e .)"


def main(argv: list[str] | None = None) -> int:
    real = sys.stdout
    out = sys.stdout = real if isinstance(real, PipeSafe) else PipeSafe(real)
    try:
        return _main(argv, out)
    finally:
        out.flush()
        sys.stdout = real


def _main(argv: list[str] | None, out: PipeSafe) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, a usage error: their code, even when stdout is a closed pipe
        out.flush()
        return e.code if isinstance(e.code, int) else 2
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
    from checks.drift import command

    return command.run(args)


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
