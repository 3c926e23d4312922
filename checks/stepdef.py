"""What the kit knows of one step, declared once, in the step's own module (checks/steps/<name>.py: `STEP = Step(...)`).

checks.registry collects the declarations; Run (loading), the engine (judging), diff, bless, watch, the report
and the runner side (scripts/kitlib: plan, runner, preflight, profile) look a step up there instead of testing
its name. Adding a step is its module and its goldens section (README, "Extending the kit").

A Step says:
- what its record is and how it is read: `record` (a dataclass, the type goldens' paths are checked against when
  they load), `load` (the step directory -> record, reading only through the Run it is given), `parse` (a log file
  -> record, for `checks parse STEP LOG`), `scan` (the needles and blocks of a log too large to read line by line);
- its structure: `variants` (the record field holding one entry per variant directory), `per_variant` (its
  step.log and step.json sit in <step>/<variant>/), `formats` (log formats its parser labels), `completion`
  (record fields that say the step finished: bless refuses a run that fails a golden on one);
- its rules (`rules`: Python checks the goldens cannot express as data, registered and named: `checks list-rules`);
- what `checks watch` can judge while its log grows (`live`), what `checks diff` compares beyond the goldens
  (`diff`), what the report draws (`figure`);
- what the runner side needs (`kit`);
- for closed-world judging (issue 15), declarations only so far: where its complete effective configuration comes
  from (`config`) and which paths it reads and writes (`paths`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    """A check written in Python because data cannot say it (the settings a tool echoed against the recorded
    command, one clean run per log). `check(run, data)` returns findings; `id` is the finding id it produces
    (prefixed `<variant>_` per variant where `per_variant`)."""

    id: str
    check: Callable
    source: str  # where the truth it checks comes from
    what: str = ""  # one line for `checks list-rules`
    per_variant: bool = False
    completeness: bool = False  # a run failing it is not whole and clean: bless refuses it
    live: bool = False  # also judged by `checks watch` while the log grows (once the record holds what it needs)

    @property
    def where(self) -> str:
        """file:line of the check, for `checks list-rules`."""
        fn = inspect.unwrap(self.check)
        try:
            file = Path(inspect.getsourcefile(fn) or "?")
            line = inspect.getsourcelines(fn)[1]
        except (OSError, TypeError):
            return getattr(fn, "__qualname__", repr(fn))
        root = Path(__file__).resolve().parents[1]
        try:
            file = file.resolve().relative_to(root)
        except ValueError:
            pass
        return f"{file}:{line}"


@dataclass(frozen=True)
class Live:
    """What `checks watch` judges while the step's log grows. Field names are the record's (of one variant's record
    for a step run per variant)."""

    growing: tuple[str, ...] = ()  # values that can only grow: a FAIL is final the moment it is seen
    early: tuple[str, ...] = ()  # values decided as soon as they are printed
    scan: bool = False  # follow only the lines the parser reads (Step.scan), not every line
    iterations: bool = False  # the log has an iteration clock: project the step's end, judge train_iters, the loss trend
    nan_reason: Callable | None = None  # record -> why it holds a NaN now (the policy's stop_on_nan), or None
    time_golden: str | None = None  # the golden field giving the expected time per 1,000 iterations


@dataclass(frozen=True)
class Kit:
    """What scripts/kitlib needs of the step to run it."""

    outputs: tuple[str, ...] = ()  # context variables naming what a finished step vouches for, beside its log
    repeatable: bool = False  # BENCH_REPEATS: its command may run N times in one step (step.json `repeats`)
    needs_vars: tuple[str, ...] = ()  # variables its launcher needs (preflight)
    needs_vars_why: str = ""
    writes_under: str = "RUN_DIR"  # the context variable under which it writes (the disk check)
    cwd_files: tuple[str, ...] = ()  # files its working directory must hold in the image
    judged: bool = True  # `make check` judges it (data is not: it writes the tokenized blend, outside the run)


@dataclass(frozen=True)
class ConfigSource:
    """Issue 15: one place the step's effective configuration comes from, e.g. ("command", "the recorded command
    line"), ("argparse", "prune_minitron.py's defaults at MODELOPT_REF"), ("echo", "the arguments block")."""

    kind: str  # command | argparse | echo | file
    what: str


@dataclass(frozen=True)
class PathUse:
    """Issue 15: a path the step reads or writes, relative to the run (placeholders in <>)."""

    path: str
    use: str  # reads | writes


@dataclass(frozen=True)
class Step:
    name: str
    order: int  # run order (data 0, prune 10, ... bench 60): the order of STEPS, goldens sections, reports
    doc: str
    record: type | None = None
    load: Callable | None = None  # (run, step directory) -> record
    parse: Callable | None = None  # (lines, source) -> record, for a log file given on its own
    scan: tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None = None  # (NEEDLES, BLOCKS) for logread.scan
    variants: str | None = None  # the record field with one entry per variant directory
    per_variant: bool = False  # step.log and step.json in <step>/<variant>/ (each variant a unit of the runner)
    formats: tuple[str, ...] = ()
    completion: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    live: Live | None = None
    diff: Callable | None = None  # (baseline record, candidate record, goldens) -> findings beyond the goldens
    figure: Callable | None = None  # (plt, record, goldens, findings, gpu) -> a matplotlib figure, or None
    kit: Kit = field(default_factory=Kit)
    config: tuple[ConfigSource, ...] = ()
    paths: tuple[PathUse, ...] = ()

    @property
    def judged(self) -> bool:
        """Does `checks` judge this step (a record and a loader)?"""
        return self.record is not None and self.load is not None and self.kit.judged

    def unit_prefix(self, variant: str | None) -> str:
        """The record path prefix of one variant's values (`runs.7b-fp8.`), '' for a step run once."""
        return f"{self.variants}.{variant}." if self.variants and variant else ""
