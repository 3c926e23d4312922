"""`checks` command line. Exit codes: 0 all checks pass (SKIP allowed), 1 a check failed, 2 bad input or ERROR."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rich.console import Console

from checks import engine, goldens, report
from checks.errors import CheckError
from checks.rundir import STEPS

DEFAULT_EXPECTED = Path("expected/full.yaml")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its usage line, add a hint
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}\n  what to do: see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="checks", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    pp = sub.add_parser("parse", help="print a step's parsed record as JSON")
    pp.add_argument("step", choices=STEPS)
    pp.add_argument("path", type=Path, help="the step's log file or the step's directory")
    pv = sub.add_parser("verify", help="judge a run directory against goldens")
    pv.add_argument("run_dir", type=Path)
    pv.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED, help="goldens file (default: %(default)s)")
    pv.add_argument("--step", action="append", choices=STEPS, help="only these steps (repeatable)")
    pv.add_argument("--json", type=Path, metavar="FILE", help="also write verdicts as JSON")
    pv.add_argument("--junit", type=Path, metavar="FILE", help="also write verdicts as JUnit XML")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True)
    try:
        if args.cmd == "parse":
            return cmd_parse(args)
        return cmd_verify(args)
    except CheckError as e:
        err.print(f"[bold magenta]ERROR[/] {e.render()}", markup=True, highlight=False)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def cmd_parse(args: argparse.Namespace) -> int:
    from checks.steps import module

    path: Path = args.path
    if not path.exists():
        raise CheckError(f"{path} does not exist", expected=f"the {args.step} step's log file or directory",
                         hint="check the path; runs live under runs/<id>/<step>/")
    record = module(args.step).load(path)
    print(json.dumps(dataclasses.asdict(record), indent=2, default=str, allow_nan=True))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    g = goldens.load(args.expected)
    verdicts = engine.verify(args.run_dir, g, args.step)
    console = Console()
    report.table(verdicts, console, title=f"checks verify {args.run_dir} against {args.expected}")
    meta = {"run_dir": str(args.run_dir), "expected": str(args.expected), "profile": g.profile}
    if args.json:
        report.write_json(args.json, verdicts, meta)
    if args.junit:
        report.write_junit(args.junit, verdicts)
    return engine.exit_code(verdicts)
