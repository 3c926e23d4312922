"""Gate mode of `checks drift`: exit 0 means "this version will run the tutorial's commands"."""

from __future__ import annotations

import argparse

from checks.findings import Finding


def add_options(pr) -> None:
    pr.add_argument("--gate", action="store_true",
                    help="exit 0 only when this version will run the tutorial's commands (README text is shown, not counted)")


def findings(args: argparse.Namespace, commands: dict[str, str]) -> list[Finding]:
    return []
