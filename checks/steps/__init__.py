"""One module per tutorial step. Each has `load(path) -> record` (reads files) built on pure
`parse_*` functions (text in, typed record out). No parser knows about tolerances."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from checks.rundir import STEPS


def module(step: str) -> ModuleType:
    if step not in STEPS:
        from checks.errors import CheckError

        raise CheckError(f"unknown step {step!r}", expected=", ".join(STEPS), found=step,
                         hint="use one of the step names above")
    return import_module(f"checks.steps.{'eval_' if step == 'eval' else step}")
