"""Closed-world attack suite (issue 15): runs that did not reproduce the tutorial in ways the first attack suite
(tests/test_attacks.py, classes 1-9) never asked about. Each case starts from the faithful full fixture run and asks,
for one thing the run contains, "what if it differs from the tutorial?": a setting any step's tool echoed or the
runner recorded, the evaluation's configuration, an input or output outside the run, the provenance the tools print
themselves, who chooses the goldens, what an expected failure absorbs, what `checks diff` judges, a checkpoint header
the safetensors library refuses, and files built to hang or crash a reader.

Every case must be judged FAIL (exit 1) or ERROR (exit 2): never PASS, never a traceback, never a hang. What the kit
gets wrong today is marked `gap="<kind>: why"` (kind: PASS, traceback or hang); such a case is a strict expected
failure: it fails loudly once the kit catches it (drop the mark then), and also when it goes wrong in another way
than the mark says. A case judged right to PASS has `expect_pass="why"`.

The settings cases are generated from what the fixture's tools echo (distill.py's and prune_minitron.py's arguments
blocks, vLLM's non-default args and engine config line, the recorded commands, the FP8 export's record), so a key the
fixture learns to echo gets its cases without an edit here; keys the real tools echo that the fixture does not
(every argparse argument of distill.py and prune_minitron.py at ModelOpt 0.44.0) are added with other values.

How each case is judged (`via`): `verify` in process (engine.evaluate, as `checks verify` does), `cli` through
`checks.cli.main` in process (report, watch, diff, bless), `process` as a `python -m checks ...` subprocess with a hard
time and memory limit (hostile files: FIFOs, devices, alias bombs, quadratic inputs), run concurrently.
`python tests/test_attacks_closed.py` prints the classes, their counts and gaps; `--gaps` the gaps grouped by why;
`--probe [substring]` judges the cases outside pytest and says which marks no longer hold."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_attacks import (CONV, DISTILL_ARGS, DLOG, DROP, EXPECTED, PLOG, QC, QUANT, ROOT, TRACEBACK, Attack, R,  # noqa: E402
                          blog, clone)
from test_attacks import _goldens as _cached_goldens  # noqa: E402
from tutorial_run import bench_log, distill_log, prune_log  # noqa: E402

# A hostile input must be judged (ERROR) within a second or two; a faithful `checks verify` of the fixture takes about
# 1 s of CPU. A subprocess that blocks (a FIFO) is killed after PROCESS_TIMEOUT_S of wall time, one that computes after
# PROCESS_CPU_S of CPU time: either is a hang. Its address space is bounded too, so a reader that slurps /dev/zero fails
# fast instead of taking the machine.
PROCESS_TIMEOUT_S = 20.0
PROCESS_CPU_S = 3
PROCESS_MEMORY = 1 << 30
PROCESS_WORKERS = 3  # cases that compute; cases built to block (FIFOs) wait side by side, all at once


# ---------------------------------------------------------------- the registry


@dataclass
class Case(Attack):
    via: str = "verify"  # verify | cli | bless | process
    blocking: bool = False  # process: built to block a reader (it costs wall time, not CPU)

    @property
    def gap_kind(self) -> str:
        return self.gap.split(":", 1)[0].strip() if self.gap else ""


CASES: list[Case] = []
GAP_KINDS = ("PASS", "traceback", "hang")


def attack(cls: str, name: str, **kw):
    def reg(fn):
        add(cls, name, fn, **kw)
        return fn
    return reg


def add(cls: str, name: str, fn: Callable, **kw) -> None:
    c = Case(cls, name, fn, **kw)
    assert not c.gap or c.gap_kind in GAP_KINDS, f"{c.id}: gap must start with one of {GAP_KINDS}"
    assert c.id not in {x.id for x in CASES}, f"duplicate case {c.id}"
    CASES.append(c)


class RC(R):
    """A clone of the fixture (see test_attacks.R) with the edits this suite needs, and how it is to be judged."""

    def __init__(self, path: Path, orig: Path) -> None:
        super().__init__(path, orig)
        self.expected: Path = EXPECTED
        self.steps: list[str] | None = None  # judge only these steps (their settings and lineage rules)
        self.argv: list[str] | None = None  # via cli / process: the command line ({run} is this run)

    # -- the arguments block a tool echoes (`{key:<35} {value}` between "=== Arguments ===" and a line of "=")

    def block(self, rel: str) -> list[tuple[str, str]]:
        return echoed_block(self.read(rel))

    def set_arg(self, rel: str, key: str, value: str) -> None:
        self.resub(rel, rf"^{re.escape(key)}\s{{2,}}.*$", lambda m: f"{key:<35} {value}", count=1)

    def drop_arg(self, rel: str, key: str) -> None:
        self.lines(rel, lambda i, ln: None if re.match(rf"^{re.escape(key)}\s{{2,}}", ln) else ln)

    def add_arg(self, rel: str, key: str, value: str) -> None:
        text = self.read(rel)
        start = text.index("=== Arguments ===")
        end = text.index("\n" + "=" * 20, start + 20)
        self.write(rel, text[:end] + f"\n{key:<35} {value}" + text[end:])

    # -- the command the runner recorded

    def flag(self, unit: str, key: str, value: str | bool | None) -> None:
        """Set `--key value` in <unit>/step.json's command: replace it where present, else append it; True is a bare
        flag, None removes the flag (and its value)."""
        doc = self.json(f"{unit}/step.json")
        doc["command"] = set_flag(doc["command"], key, value)
        self.write(f"{unit}/step.json", json.dumps(doc))

    # -- the runner's records and the manifest

    def localize(self, *units: str) -> None:
        """Make these units' logs and recorded commands name this clone, as if the run had been made here (the fixture's
        own place still exists, and a path there is judged as a copied run: by what it holds there)."""
        for u in units:
            for f in (f"{u}/step.log", f"{u}/step.json"):
                if self.p(f).is_file() and self.orig in self.read(f):
                    self.write(f, self.read(f).replace(self.orig, str(self.path)))

    def step_manifest(self, unit: str, **kv) -> None:
        self.manifest(lambda m: m["steps"].setdefault(unit, {}).update(kv))

    def times(self, unit: str, **kv) -> None:
        self.meta(unit, **kv)

    def other_run(self, name: str = "elsewhere") -> Path:
        """Another faithful run of the same name, elsewhere (another user's, another attempt's)."""
        dst = self.path.parent / name / self.path.name
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            clone(Path(self.orig), dst)
        return dst

    # -- file kinds a reader must refuse

    def mkfifo(self, rel: str) -> None:
        self.rm(rel)
        os.mkfifo(self.p(rel))

    def device(self, rel: str, dev: str) -> None:
        self.rm(rel)
        self.p(rel).symlink_to(dev)

    def goldens_copy(self, edit: Callable[[str], str] = lambda t: t, name: str = "goldens.yaml") -> Path:
        g = self.path.parent / name
        g.write_text(edit(EXPECTED.read_text()))
        return g


def set_flag(command: str, key: str, value) -> str:
    """The command with `--key` set to `value` (True: a bare flag; None: removed with its value and line continuation)."""
    pat = re.compile(rf"(^|\s)--{re.escape(key)}(?:[ =]([^\s\\-][^\s\\]*))?(?=\s|$)")
    m = pat.search(command)
    if value is None:
        assert m, f"attack setup: --{key} not in the command"
        end = m.end() + (t.end() if (t := re.match(r"[ \t]*\\\n", command[m.end():])) else 0)  # its continuation
        out = command[:m.start()] + m.group(1) + command[end:].lstrip(" ")
        return re.sub(r"[ \t]*\\\n\s*$", "", out) if out.rstrip().endswith("\\") else out.rstrip()
    new = f"--{key}" if value is True else f"--{key} {value}"
    if m:
        return command[:m.start()] + m.group(1) + new + command[m.end():]
    return command.rstrip() + f" \\\n{new}"


def echoed_block(text: str) -> list[tuple[str, str]]:
    """(key, value as printed) of the first arguments block in a log."""
    start = text.index("=== Arguments ===")
    end = text.index("\n" + "=" * 20, start + 20)
    out = []
    for ln in text[start:end].split("\n")[1:]:
        if m := re.match(r"^(\w+)\s{2,}(.*?)\s*$", ln):
            out.append((m.group(1), m.group(2)))
    return out


def other_value(printed: str) -> str:
    """Another value of the same kind as one a tool printed: a setting that differs from the tutorial's."""
    if printed in ("True", "False"):
        return "False" if printed == "True" else "True"
    if printed == "None":
        return "/scratch/other"
    if re.fullmatch(r"-?\d+", printed):
        return str(int(printed) * 2 or 1)
    if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?|\d+e-?\d+", printed):
        return repr(float(printed) * 2)
    if printed.startswith("["):
        v = ast.literal_eval(printed)
        return repr(v[:-1] if len(v) > 1 else v + ["other"])
    if printed.startswith("/"):
        return "/scratch/other" + printed
    return printed + "-other"


def tag(value: object) -> str:
    """A value as a short part of a case's name."""
    v = str(value)
    if v.startswith("/") or v.startswith("'/"):
        return "elsewhere"
    if v.endswith("-other"):
        return "other"
    v = re.sub(r"[^\w.]+", "-", v).strip("-")
    return v[:30].strip("-") or "empty"


def cli_value(printed: str) -> str:
    """How a printed value is given on the command line."""
    if printed.startswith("["):
        return " ".join(str(x) for x in ast.literal_eval(printed))
    return printed


# ---------------------------------------------------------------- judging


@dataclass
class Outcome:
    kind: str  # caught | PASS | traceback | hang
    code: int | None
    detail: object = ""


def _caught(code) -> str:
    return "caught" if code in (1, 2) else "PASS" if code == 0 else f"exit {code}"


def verdict_verify(run: Path, expected: Path = EXPECTED, steps: list[str] | None = None) -> Outcome:
    """engine.evaluate as `checks verify` runs it (and the renderers, which must not choke either)."""
    from checks import goldens as G, render
    from checks.engine import evaluate
    from checks.errors import CheckError
    from checks.findings import exit_code
    from checks.run import Run
    from rich.console import Console

    try:
        findings = evaluate(_cached_goldens(Path(expected), G), Run.load(run), steps=steps)
        render.terminal(findings, Console(file=io.StringIO(), width=200), "attack")
        render.write_json(run.parent / "report.json", findings, {})
    except CheckError as e:
        return Outcome("caught", 2, e.render())
    except Exception:  # noqa: BLE001
        return Outcome("traceback", None, traceback.format_exc()[-3000:])
    code = exit_code(findings)
    errors = [f for f in findings if str(f.status) == "ERROR" and not f.note]
    assert not errors, f"an ERROR that does not say why: {[f.id for f in errors]}"
    return Outcome(_caught(code), code, findings)


@contextlib.contextmanager
def _in_root():
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(here)


def verdict_cli(argv: list[str]) -> Outcome:
    """`checks ARGV` through the CLI's own entry point, in process (cwd: the kit, as `make` runs it)."""
    from checks import cli

    out, err = io.StringIO(), io.StringIO()
    try:
        with _in_root(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 2
    except Exception:  # noqa: BLE001
        return Outcome("traceback", None, traceback.format_exc()[-3000:])
    return Outcome(_caught(code), code, (out.getvalue() + err.getvalue())[-4000:])


def verdict_bless(run: Path, into: Path) -> Outcome:
    """`checks bless RUN --into G --yes`, then `checks verify RUN --expected G`: a deviation the goldens' source
    says is the tutorial's must not become the goldens (bless refuses), or the run must still not pass."""
    b = verdict_cli(["bless", run, "--into", into, "--yes"])
    if b.kind != "PASS":
        return b
    return verdict_verify(run, into)


# The limits are set by the child itself before it imports the kit (no preexec_fn: the suite runs several of these
# from threads at once).
_BOUNDED = ("import resource, runpy, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))\n"
            "resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu} + 2))\n"
            "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
            "sys.argv = ['checks', *sys.argv[1:]]\n"
            "runpy.run_module('checks', run_name='__main__', alter_sys=True)\n")


def verdict_process(argv: list[str], timeout: float = PROCESS_TIMEOUT_S) -> Outcome:
    """`python -m checks ARGV` with a hard time, CPU and memory limit: a hang is killed and reported, never waited for."""
    t0 = time.monotonic()
    boot = _BOUNDED.format(mem=PROCESS_MEMORY, cpu=PROCESS_CPU_S)
    try:
        p = subprocess.run([sys.executable, "-c", boot, *map(str, argv)], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "COLUMNS": "200"}, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return Outcome("hang", None, f"no verdict after {timeout:g} s")
    took = time.monotonic() - t0
    if p.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Outcome("hang", p.returncode, f"killed after {PROCESS_CPU_S} s of CPU ({took:.1f} s)")
    if "Traceback (most recent call last)" in p.stderr or f'File "{ROOT / "checks"}' in p.stdout + p.stderr:
        return Outcome("traceback", p.returncode, p.stderr[-3000:])
    return Outcome(_caught(p.returncode), p.returncode, f"{took:.1f} s; " + (p.stdout + p.stderr)[-3000:])


def judge_case(a: Case, r: RC) -> Outcome:
    if a.via == "verify":
        return verdict_verify(r.path, r.expected, r.steps)
    if a.via == "cli":
        return verdict_cli([str(x).replace("{run}", str(r.path)) for x in r.argv])
    if a.via == "bless":
        return verdict_bless(r.path, r.expected)
    raise AssertionError(a.via)


def check(a: Case, o: Outcome) -> None:
    """The verdict a case must get, with its marks."""
    if a.gap:
        assert o.kind != "caught", f"the gap is closed (exit {o.code}): drop `gap=` from {a.id}"
        assert o.kind == a.gap_kind, f"{a.id}: marked as a {a.gap_kind} gap, but now it is a {o.kind}: {_show(o)}"
        pytest.xfail(f"known gap: {a.gap}")
    if a.expect_pass:
        assert o.kind == "PASS", _show(o)
        return
    assert o.kind == "caught", _show(o)


def _show(o: Outcome) -> str:
    if isinstance(o.detail, list):
        return f"{o.kind}: " + "; ".join(f"{f.step}.{f.id}={f.status}" for f in o.detail if str(f.status) != "PASS")[:2000]
    return f"{o.kind} (exit {o.code}): {str(o.detail)[-2500:]}"


# ================================================================ 10. settings, closed world
C10 = "10-settings-closed-world"
# The values distill.py and prune_minitron.py echo (`for k, v in args.__dict__.items(): print(f"{k:<35} {v}")`), by
# their argparse definitions at ModelOpt 0.44.0 (examples/megatron_bridge/{distill,prune_minitron}.py): the key, what a
# faithful run prints (the tutorial's value, else the default), another value as printed, and as given on the command
# line. Keys the fixture's blocks echo already get generated cases below; these are the rest.
DISTILL_ECHO_0440 = {
    "cp_size": ("1", "2", "2"), "ep_size": ("1", "2", "2"), "etp_size": ("1", "2", "2"),
    "split": ("99,1,0", "90,5,5", "90,5,5"), "no_skip_lm_loss": ("False", "True", True),
    "kd_loss_scale": ("1.0", "2.0", "2.0"), "wandb_project": ("None", "nano-kd", "nano-kd"),
    "wandb_entity": ("None", "someone", "someone"), "wandb_exp_name": ("None", "try-2", "try-2"),
    "hf_export_path": ("None", "/scratch/export/hf", "/scratch/export/hf"),
    "student_hf_model": ("None", "nvidia/NVIDIA-Nemotron-Nano-9B-v2", "nvidia/NVIDIA-Nemotron-Nano-9B-v2"),
}
PRUNE_ECHO_0440 = {
    "trust_remote_code": ("True", "False", None), "output_megatron_path": ("None", "/scratch/pruned-mcore", "/scratch/pruned-mcore"),
    "output_hf_path": ("{run}/prune/hf", "/scratch/pruned-hf", "/scratch/pruned-hf"), "pp_size": ("8", "4", "4"),
    "num_layers_in_first_pipeline_stage": ("None", "4", "4"), "num_layers_in_last_pipeline_stage": ("None", "4", "4"),
    "calib_dataset_name": ("nemotron-post-training-dataset-v2", "cnn_dailymail", "cnn_dailymail"),
    "calib_num_samples": ("1024", "64", "64"), "calib_mbs": ("1", "2", "2"), "calib_gbs": ("1", "8", "8"),
    "prune_intermediate_ckpt": ("{run}/prune/hf/modelopt_pruning_scores", "/scratch/other-run/prune/hf/modelopt_pruning_scores",
                                "/scratch/other-run/prune/hf/modelopt_pruning_scores"),
    "prune_export_config": ("None", "{'hidden_size': 4096}", "'{\"hidden_size\": 4096}'"),
    "prune_score_func": ("mmlu_10pct", "mmlu_1pct", "mmlu_1pct"), "ss_channel_divisor": ("None", "128", "128"),
    "max_width_pruning": ("0.4", "0.5", "0.5"), "max_depth_pruning": ("0.2", "0.3", "0.3"), "top_k": ("10", "3", "3"),
}
# Keys whose other values the first suite covers already (class 1 lineage, class 2 settings).
DISTILL_COVERED = {k for k, _, _ in DISTILL_ARGS} | {"teacher_hf_path", "student_hf_path", "trust_remote_code", "data_paths"}
PRUNE_COVERED_BOTH = {"prune_target_params", "hparams_to_skip"}  # class 2 changes these in the command and the log

_DISTILL_FIXTURE = echoed_block(distill_log(train_iters=20))
_PRUNE_FIXTURE = echoed_block(prune_log())


@functools.lru_cache(maxsize=None)
def _recorded(unit: str) -> dict[str, object]:
    """The flags of a unit's recorded command in the fixture (tutorial_run.recorded_commands)."""
    from checks.commands import command_flags
    from tutorial_run import recorded_commands

    return command_flags(recorded_commands(Path("/runs/tutorial"))[unit])


@functools.lru_cache(maxsize=None)
def _judged_args(step: str, required: bool) -> frozenset[str]:
    """The echoed arguments a golden `args.<key>` names (only the non-optional ones: `required`), and those a lineage
    rule reads."""
    import yaml

    doc = yaml.safe_load(EXPECTED.read_text())
    out = {g["path"][5:] for g in doc.get(step, []) if str(g.get("path", "")).startswith("args.")
           and not (required and g.get("optional"))}
    return frozenset(out | {str(x["echoed"])[5:] for x in doc.get("lineage", [])
                            if str(x.get("echoed", "")).startswith("args.") and x.get("unit") == step})


def _flags(unit: str) -> set[str]:
    return {k.lstrip("-") for k in _recorded(unit)}


# What the kit compares today (checks/rules.py settings): an echoed argument against the recorded command's flag, where
# the command passes that flag; and the goldens' required args.* values. Everything else a tool echoes is free: these
# are the reasons the generated cases below are gaps, decided per key from that model (and verified by strict xfail).
WHY_UNJUDGED = ("PASS: {tool} echoed another value of an argument the command does not pass and no golden names: "
                "nothing compares it with the script's default")
WHY_BOTH = ("PASS: {tool} ran with another value, the command says so too, and no golden or rule holds it to the "
            "tutorial's value or the script's default")
WHY_MISSING = "PASS: {tool}'s echo lacks an argument the command does not pass: its absence is not noticed"
WHY_MISSING_PRUNE = "PASS: {tool}'s echo lacks an argument; the command's flag is compared only with an echo that has it"
# Cases the kit FAILs today for a reason of its own, not because the value differs from the tutorial's (noted, not gaps):
# distill.py echoes `split 90,5,5` as text; the kit reads it as the tuple (90, 5, 5) and finds it unlike the command's
# `--split 90,5,5` (a run that declared that deviation would FAIL too). prune_minitron.py echoes --prune_export_config
# after json.loads (a dict); the kit compares it with the command's JSON text.
WRONG_REASON = {"distill-split-added-as-90-5-5-in-both", "prune-prune_export_config-added-as-hidden_size-4096-in-both"}


def _gen_gap(name: str, tool: str, step: str, key: str, value: str, where: str) -> str:
    flags = _flags(step)
    if name in WRONG_REASON:
        return ""
    if where == "missing":  # distill's rule names a flag the echo lacks; prune's compares the keys both have
        if key in _judged_args(step, True) or (step == "distill" and key in flags):
            return ""
        return (WHY_MISSING if key not in flags else WHY_MISSING_PRUNE).format(tool=tool)
    if key in _judged_args(step, False):
        return ""
    if where == "log":
        return "" if key in flags else WHY_UNJUDGED.format(tool=tool)
    if where == "both":
        return WHY_BOTH.format(tool=tool)
    return ""  # the command alone: its flag no longer matches the echo


def _distill_echo(key: str, printed: str, where: str, steps=("distill",)):
    def do(r):
        if where in ("log", "both"):
            r.set_arg(DLOG, key, printed) if any(k == key for k, _ in r.block(DLOG)) else r.add_arg(DLOG, key, printed)
        if where in ("command", "both"):
            r.flag("distill", key, _as_flag(printed))
            if printed.startswith("/") and key == "output_dir":  # the tool writes its checkpoints there too
                r.sub(DLOG, f"{r.orig}/distill/output/checkpoints", f"{printed}/checkpoints", 0)
        r.steps = list(steps)
    return do


def _as_flag(printed: str):
    return True if printed == "True" else None if printed == "False" else cli_value(printed)


def _drop_echo(rel: str, key: str, step: str):
    def do(r):
        r.drop_arg(rel, key)
        r.steps = [step]
    return do


def _gen(tool: str, step: str, name: str, fn, key: str, value: str, where: str) -> None:
    add(C10, name, fn, gap=_gen_gap(name, tool, step, key, value, where))


for _k, _v in _DISTILL_FIXTURE:
    _gen("distill.py", "distill", f"distill-{_k}-not-echoed", _drop_echo(DLOG, _k, "distill"), _k, "", "missing")
    if _k not in DISTILL_COVERED:
        for _where in ("log", "command", "both"):
            _o = other_value(_v)
            _gen("distill.py", "distill", f"distill-{_k}-{tag(_o)}-in-{_where}", _distill_echo(_k, _o, _where), _k, _o, _where)
for _k, (_default, _other, _cli) in DISTILL_ECHO_0440.items():
    for _where in ("log", "both"):
        _gen("distill.py", "distill", f"distill-{_k}-added-as-{tag(_other)}-in-{_where}", _distill_echo(_k, _other, _where),
             _k, _other, _where)


@attack(C10, "distill-complete-0.44.0-arguments-block-with-defaults",
        expect_pass="distill.py 0.44.0 echoes every argparse argument; a faithful run prints the defaults of the "
        "ones the tutorial does not pass, and must pass whatever the kit learns of them")
def _(r):
    for k, (default, _, _) in DISTILL_ECHO_0440.items():
        r.add_arg(DLOG, k, default)
    r.steps = ["distill"]


@attack(C10, "distill-an-argument-no-distill-py-has", gap="PASS: a key the kit does not know is ignored")
def _(r):
    r.add_arg(DLOG, "freeze_student_embeddings", "True")
    r.steps = ["distill"]


@attack(C10, "distill-synthetic-tokens-the-issue-case", gap="PASS: issue 15's own case: 39 PASS, exit 0 for a "
        "distillation on synthetic tokens (use_mock_data is neither a golden nor compared with a default)")
def _(r):
    """Issue 15's own: `use_mock_data True` in distill.py's own block, and --use_mock_data in the command."""
    r.set_arg(DLOG, "use_mock_data", "True")
    r.flag("distill", "use_mock_data", True)


@attack(C10, "distill-lr-decays-twice-as-fast")
def _(r):
    """The learning-rate column follows a cosine over 8,000 iterations, then the floor: the arguments block untouched."""
    from checks.steps.distill import expected_lr

    r.resub(DLOG, r"iteration\s+(\d+)/\s*16000 (.*?)learning rate: \S+ \|",
            lambda m: m.group(0).rsplit("learning rate:", 1)[0]
            + f"learning rate: {expected_lr(min(int(m.group(1)), 8000), 1e-4, 1e-5, 100, 8000):.6E} |")


def _prune_echo(key: str, printed: str, where: str, cli: object = ""):
    def do(r):
        value = printed.replace("{run}", r.orig)
        if where in ("log", "both"):
            r.set_arg(PLOG, key, value) if any(k == key for k, _ in r.block(PLOG)) else r.add_arg(PLOG, key, value)
        if where in ("command", "both"):
            r.flag("prune", key, _as_flag(value) if cli == "" else cli)
        r.steps = ["prune"]
    return do


for _k, _v in _PRUNE_FIXTURE:
    _o = other_value(_v)
    _gen("prune_minitron.py", "prune", f"prune-{_k}-not-echoed", _drop_echo(PLOG, _k, "prune"), _k, "", "missing")
    _gen("prune_minitron.py", "prune", f"prune-{_k}-{tag(_o)}-in-log", _prune_echo(_k, _o, "log"), _k, _o, "log")
    if _k not in PRUNE_COVERED_BOTH:
        _gen("prune_minitron.py", "prune", f"prune-{_k}-{tag(_o)}-in-both", _prune_echo(_k, _o, "both"), _k, _o, "both")
for _k, (_default, _other, _cli) in PRUNE_ECHO_0440.items():
    for _where in ("log", "both"):
        _gen("prune_minitron.py", "prune", f"prune-{_k}-added-as-{tag(_other)}-in-{_where}",
             _prune_echo(_k, _other, _where, _cli), _k, _other, _where)


@attack(C10, "prune-complete-0.44.0-arguments-block-as-the-tutorial-runs-it",
        expect_pass="prune_minitron.py 0.44.0 echoes every argparse argument; these are the tutorial's values and the "
        "script's defaults, as a faithful run prints them")
def _(r):
    for k, (default, _, _) in PRUNE_ECHO_0440.items():
        r.add_arg(PLOG, k, default.replace("{run}", r.orig))
    r.steps = ["prune"]


# vLLM: what `vllm bench throughput` echoes (its non-default args, its engine config line), from the fixture's own log
_BENCH_FIXTURE = bench_log(13.1, 963)
_NON_DEFAULT = ast.literal_eval(re.search(r"non-default args: (\{.*\})", _BENCH_FIXTURE).group(1))
_ENGINE = dict(re.findall(r"\b(\w+)=('[^']*'|[^,]+)", _BENCH_FIXTURE.split("with config: ", 1)[1].split("\n", 1)[0]))
BV = "7b-bf16"  # the variant the generated bench cases edit
_ENGINE_OTHER = {"torch.bfloat16": "torch.float16", "auto": "slow", "cuda": "cpu", "safetensors": "dummy", "fp8": "auto"}
_ENGINE_KEY_OTHER = {"speculative_config": "SpeculativeConfig(method='ngram', model=None, num_spec_tokens=4)",
                     "quantization": "fp8"}


def _engine_other(key: str, v: str) -> str:
    if v.startswith("'"):
        return "'/scratch/other/model'"
    return _ENGINE_KEY_OTHER.get(key) or _ENGINE_OTHER.get(v) or other_value(v)


def _set_engine(r, variant: str, key: str, value: str) -> None:
    r.resub(blog(variant), rf"(with config: .*?\b{key}=)('[^']*'|[^,\n]+)", lambda m: m.group(1) + value, count=1)


def _set_non_default(r, variant: str, fn: Callable[[dict], None]) -> None:
    def edit(m):
        d = ast.literal_eval(m.group(1))
        fn(d)
        return f"non-default args: {d!r}"
    r.resub(blog(variant), r"non-default args: (\{.*\})", edit, count=1)


# What the kit reads of vLLM's echo today (checks/steps/bench.py, checks/rules.py): the non-default args first, then six
# keys of the engine line where those did not name them; compared: the model, the two cache dtypes and the load format
# against the command, the tensor parallel size, the quantization against the checkpoint, the lengths and prompts.
BENCH_ENGINE_COMPARED = {"tensor_parallel_size", "quantization"}  # the engine line's word is read and compared
BENCH_NON_DEFAULT_ONLY = {"mamba_ssm_cache_dtype"}  # a golden reads it, and only the non-default args carry it
WHY_ENGINE = ("PASS: vLLM's engine config line says another value; the kit reads six of its keys, lets the non-default "
              "args win where both name one, and compares none of the rest")
WHY_NON_DEFAULT = ("PASS: vLLM's non-default args lack a key the command passes, or say another value; the engine line (or "
                   "nothing) stands in, and nothing notices")
WHY_OPTION = ("PASS: vLLM ran with an option the tutorial does not pass (in its log, its command or both); bench settings "
              "are judged for the model, the cache dtypes, the load format, the tensor parallel size, the lengths and "
              "the prompts only")

for _k, _v in _ENGINE.items():
    _o = _engine_other(_k, _v)
    add(C10, f"bench-engine-{_k}-{tag(_o)}",
        (lambda k, v: lambda r: (_set_engine(r, BV, k, v), setattr(r, "steps", ["bench"])))(_k, _o),
        gap="" if _k in BENCH_ENGINE_COMPARED else WHY_ENGINE)
for _k, _v in _NON_DEFAULT.items():
    add(C10, f"bench-non-default-{_k}-not-echoed",
        (lambda k: lambda r: (_set_non_default(r, BV, lambda d: d.pop(k)), setattr(r, "steps", ["bench"])))(_k),
        gap="" if _k in BENCH_NON_DEFAULT_ONLY else WHY_NON_DEFAULT)
    if _k in ("trust_remote_code", "tokenizer"):  # kv_cache_dtype, mamba, load_format: class 2; model: class 1
        _o = (not _v) if isinstance(_v, bool) else "/scratch/other/tokenizer"
        add(C10, f"bench-non-default-{_k}-{tag(_o)}",
            (lambda k, o: lambda r: (_set_non_default(r, BV, lambda d: d.update({k: o})), setattr(r, "steps", ["bench"])))(_k, _o),
            gap=WHY_NON_DEFAULT)

# vLLM options the tutorial's bench command does not pass: (flag as given, its non-default args entry, engine key and
# how the engine line prints it, or None where the engine line does not show it)
BENCH_OPTIONS = {
    "dtype": ("float16", {"dtype": "float16"}, ("dtype", "torch.float16")),
    "tensor-parallel-size": ("2", {"tensor_parallel_size": 2}, ("tensor_parallel_size", "2")),
    "pipeline-parallel-size": ("2", {"pipeline_parallel_size": 2}, ("pipeline_parallel_size", "2")),
    "speculative-config": ("'{\"method\": \"ngram\", \"num_speculative_tokens\": 4}'",
                           {"speculative_config": {"method": "ngram", "num_speculative_tokens": 4}},
                           ("speculative_config", "SpeculativeConfig(method='ngram', model=None, num_spec_tokens=4)")),
    "gpu-memory-utilization": ("0.5", {"gpu_memory_utilization": 0.5}, None),
    "max-model-len": ("8192", {"max_model_len": 8192}, ("max_seq_len", "8192")),
    "seed": ("1", {"seed": 1}, ("seed", "1")),
    "enforce-eager": (True, {"enforce_eager": True}, ("enforce_eager", "True")),
    "max-num-seqs": ("8", {"max_num_seqs": 8}, None),
    "max-num-batched-tokens": ("2048", {"max_num_batched_tokens": 2048}, None),
    "no-enable-prefix-caching": (True, {"enable_prefix_caching": False}, None),
}


def _bench_option(flag: str, where: str):
    given, nd, engine = BENCH_OPTIONS[flag]

    def do(r):
        if where in ("command", "both"):
            r.flag(f"bench/{BV}", flag, given)
        if where in ("log", "both"):
            _set_non_default(r, BV, lambda d: d.update(nd))
            if engine:
                _set_engine(r, BV, *engine)
        r.steps = ["bench"]
    return do


for _f in BENCH_OPTIONS:
    for _where in ("log", "command", "both"):
        add(C10, f"bench-{_f}-in-{_where}", _bench_option(_f, _where),
            gap="" if _f == "tensor-parallel-size" and _where != "both" else WHY_OPTION)


def _command_case(unit: str, flag: str, value, step: str):
    def do(r):
        r.flag(unit, flag, value.replace("{run}", r.orig) if isinstance(value, str) else value)
        r.steps = [step]
    return do


# hf_ptq.py echoes nothing of its settings and convert_checkpoints.py little: their recorded commands are the record.
# Every flag of the tutorial's command removed, and given another value.
# What is judged of these commands today: their input paths (lineage), the quantize command's flags against a list it may
# not exceed (a flag may go missing), and --qformat as containing the export's algorithm's name.
COMMAND_GAPS = {
    "quantize-command-export_path-removed": "PASS: hf_ptq.py's --export_path is not judged (only the export line of its log)",
    "quantize-command-export_path-other": "PASS: hf_ptq.py's --export_path is not judged (only the export line of its log)",
    "quantize-command-qformat-removed": "PASS: without --qformat nothing compares the command with the export",
    "quantize-command-qformat-other": "PASS: --qformat is judged as containing the export's algorithm (fp8_pb_wo contains fp8)",
    "quantize-command-trust_remote_code-removed": "PASS: the quantize command may pass fewer flags than the tutorial's",
    "convert-command-hf-path-removed": "PASS: where convert_checkpoints.py writes its export (--hf-path) is not judged",
    "convert-command-hf-path-other": "PASS: where convert_checkpoints.py writes its export (--hf-path) is not judged",
}
for _unit, _step in ((QC, "quantize"), ("convert", "convert")):
    for _f, _v in _recorded(_unit).items():
        _name = _f.lstrip("-")
        add(C10, f"{_step}-command-{_name}-removed", _command_case(_unit, _name, None, _step),
            gap=COMMAND_GAPS.get(f"{_step}-command-{_name}-removed", ""))
        if _v is not True:
            _o = "fp8_pb_wo" if _name == "qformat" else "/scratch/other" + str(_v).split("/tutorial", 1)[-1]
            add(C10, f"{_step}-command-{_name}-other", _command_case(_unit, _name, _o, _step),
                gap=COMMAND_GAPS.get(f"{_step}-command-{_name}-other", ""))
for _f in ("kv_cache_qformat fp8", "calib_size 64", "batch_size 4", "dataset cnn_dailymail", "device cpu",
           "auto_quantize_bits 4.8"):
    _k, _v = _f.split()
    add(C10, f"quantize-command-adds-{_k}", _command_case(QC, _k, _v, "quantize"))

# The FP8 export's own record of its settings (hf_quant_config.json `quantization`, mirrored in config.json)
_EXPORT_OTHER = {"quant_algo": "FP8_PB_WO", "kv_cache_quant_algo": "FP8",
                 "exclude_modules": ["lm_head", "*mixer.conv1d*"]}


def _export_setting(key: str, value, variant: str = "conservative"):
    def do(r):
        q = f"quantize/{variant}/hf_fp8"
        r.set_json(f"{q}/hf_quant_config.json", lambda d: d["quantization"].update({key: value}))
        r.set_json(f"{q}/config.json", lambda c: c["quantization_config"].update({key: value}))
        r.steps = ["quantize"]
    return do


for _k in QUANT["quantization"]:
    add(C10, f"quantize-export-{_k}-other", _export_setting(_k, _EXPORT_OTHER.get(_k, "other")),
        gap="" if _k == "quant_algo" else "PASS: the export's quantization record is judged for quant_algo (and the "
        "tensors' layout); its other keys are not read")
add(C10, "quantize-export-records-a-setting-the-kit-does-not-know", _export_setting("group_size", 128),
    gap="PASS: a key of the export's quantization record the kit does not know is ignored")


# ================================================================ 11. the evaluation's configuration
C11 = "11-eval-config"
E12800 = "eval/iter_12800"


def _artifacts(r, label: str = "iter_12800", name: str = "run_config.yml") -> list[str]:
    return sorted(str(p.relative_to(r.path)) for p in r.p(f"eval/{label}").rglob(f"artifacts/{name}"))


def _yaml_edit(r, rel: str, fn: Callable[[dict], None]) -> None:
    import yaml

    doc = yaml.safe_load(r.read(rel))
    fn(doc)
    r.write(rel, yaml.safe_dump(doc))


def _merge(doc: dict, path: str, value) -> None:
    *head, last = path.split(".")
    for k in head:
        doc = doc.setdefault(k, {})
    doc[last] = value


def _params(**kv):
    """NeMo Evaluator's config.params as the launcher records them in run_config.yml and results.yml."""
    def fn(doc):
        for k, v in kv.items():
            _merge(doc, f"config.params.{k}", v)
    return fn


def _eval_record(path: str, value, files: str = "both", task: str = "", first: int = 0):
    """Record `path` = value in the evaluation's own record of what ran (run_config.yml and results.yml of every task,
    or of `task`, or of the `first` N tasks)."""
    def do(r):
        names = ("run_config.yml", "results.yml") if files == "both" else (files,)
        for n in names:
            rels = [x for x in _artifacts(r, name=n) if f"/{task}/" in x] if task else _artifacts(r, name=n)
            for rel in rels[: first or None]:
                _yaml_edit(r, rel, lambda d: _merge(d, path, value))
        r.steps = ["eval"]
    return do


def _eval_params(files: str = "both", tasks: int = 0, **kv):
    def do(r):
        for k, v in kv.items():
            _eval_record(f"config.params.{k}", v, files, first=tasks)(r)
    return do


def _leaves(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        out += _leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]
    return out


EVAL_OTHER = {"temperature": 0.0, "top_p": 1.0}  # greedy decoding: what a hurried evaluation would use


def _other(v, key: str = ""):
    """Another value of a setting from a YAML config (bool flipped, number doubled, text changed)."""
    if key.rsplit(".", 1)[-1] in EVAL_OTHER:
        return EVAL_OTHER[key.rsplit(".", 1)[-1]]
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v * 2 if v else 1
    if isinstance(v, str) and v.startswith("<"):
        return "/scratch/other/tokenizer"
    return f"{v}-other"


# The tutorial's nemo_evaluator.yaml (ModelOpt 0.44.0, tests/fixtures/real/nemo-evaluator): what NeMo Evaluator runs with,
# and records in each task's run_config.yml (the merged config) and results.yml (`config.params`). Every setting there
# gets a case with another value, so one added upstream gets its case here.
NEMO_EVAL_YAML = Path(__file__).parent / "fixtures/real/nemo-evaluator/modelopt-0.44.0_nemo_evaluator.yaml"
_TUTORIAL_EVAL = __import__("yaml").safe_load(NEMO_EVAL_YAML.read_text())
_EVAL_PARAMS = _leaves(_TUTORIAL_EVAL["evaluation"]["nemo_evaluator_config"]["config"]["params"])
_TASK_PARAMS = [(t["name"], k, v) for t in _TUTORIAL_EVAL["evaluation"]["tasks"]
                for k, v in _leaves(((t.get("nemo_evaluator_config") or {}).get("config") or {}).get("params") or {})]
_ADAPTER = [(k, v) for k, v in _leaves(_TUTORIAL_EVAL["evaluation"]["nemo_evaluator_config"]["target"]["api_endpoint"]
                                       ["adapter_config"]) if "logg" not in k and "stats" not in k]  # not how it generates
_DEPLOYMENT = [(k, v) for k, v in _leaves(_TUTORIAL_EVAL["deployment"]) if k in (
    "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "gpu_memory_utilization", "extra_args")]
_DEPLOYMENT_OTHER = {"extra_args": "--trust-remote-code --mamba_ssm_cache_dtype float32 --kv-cache-dtype auto"}

for _k, _v in _EVAL_PARAMS:
    add(C11, f"eval-params-{_k}-{tag(_other(_v, _k))}", _eval_record(f"config.params.{_k}", _other(_v, _k)))
add(C11, "eval-params-limit_samples-8", _eval_record("config.params.limit_samples", 8))  # commented out in the tutorial
for _t, _k, _v in _TASK_PARAMS:
    add(C11, f"eval-{_t}-{_k}-{tag(_other(_v))}", _eval_record(f"config.params.{_k}", _other(_v), task=_t))
for _k, _v in _ADAPTER:
    add(C11, f"eval-adapter-{_k}-{tag(_other(_v))}",
        _eval_record(f"target.api_endpoint.adapter_config.{_k}", _other(_v), files="run_config.yml"))
for _k, _v in _DEPLOYMENT:
    _o = _DEPLOYMENT_OTHER.get(_k, _other(_v))
    add(C11, f"eval-deployment-{_k}-{tag(_o)}", _eval_record(f"deployment.{_k}", _o, files="run_config.yml"))
add(C11, "eval-limit-samples-8-in-one-task-only", _eval_params(tasks=1, limit_samples=8))
add(C11, "eval-limit-samples-8-in-results-yml-only", _eval_params(files="results.yml", limit_samples=8))

# The fixture's own record of each task (tests/tutorial_run.write_eval): every value in it, changed.
_FIXTURE_RUN_CONFIG = {"framework_name": "nemo_skills-other", "pkg_name": "nemo_skills-other", "config.type": "ns_gpqa_diamond"}
for _k, _v in _FIXTURE_RUN_CONFIG.items():
    add(C11, f"eval-run-config-{_k}-other", _eval_record(_k, _v, files="run_config.yml", task="ns_gpqa"))


@attack(C11, "eval-limit-samples-given-on-the-command")
def _(r):
    r.cmd(E12800, "--config nemo_evaluator.yaml", "--config nemo_evaluator.yaml "
          "-o evaluation.nemo_evaluator_config.config.params.limit_samples=8")
    r.steps = ["eval"]


@attack(C11, "eval-temperature-given-on-the-command")
def _(r):
    r.cmd(E12800, "--config nemo_evaluator.yaml", "--config nemo_evaluator.yaml "
          "-o evaluation.nemo_evaluator_config.config.params.temperature=0.0")
    r.steps = ["eval"]


@attack(C11, "eval-results-recorded-for-another-checkpoint")
def _(r):
    """The launcher records what it served: the pruned model, not iteration 12800 (the command still names it)."""
    for rel in _artifacts(r) + _artifacts(r, name="results.yml"):
        _yaml_edit(r, rel, lambda d: d.setdefault("target", {}).setdefault("api_endpoint", {}).update(
            model_id=f"{r.orig}/prune/hf", url="http://127.0.0.1:8000/v1/chat/completions"))
    r.steps = ["eval"]


@attack(C11, "eval-deployment-of-another-checkpoint-in-run-config")
def _(r):
    for rel in _artifacts(r):
        _yaml_edit(r, rel, lambda d: d.update(deployment={"checkpoint_path": f"{r.orig}/convert/hf_iter_9600",
                                                          "tensor_parallel_size": 1}))
    r.steps = ["eval"]


LM = f"{E12800}/lm_eval/results_2026-05-21T10-10-10.json"


@attack(C11, "eval-mmlu-zero-shot")
def _(r):
    r.set_json(LM, lambda d: d.update({"n-shot": {"mmlu": 0}}))
    r.steps = ["eval"]


# lm-evaluation-harness 0.4.9.2 records how it ran in results_*.json `config`; these are the values the kit's MMLU
# command (recipes/tutorial/eval_mmlu.sh) gives or leaves at lm-eval's defaults ({run}: the run directory).
LM_EVAL_CONFIG = {"model": "vllm", "model_args": "pretrained={run}/convert/hf_iter_12800,trust_remote_code=True,"
                  "mamba_ssm_cache_dtype=float32,max_model_len=8192", "batch_size": "auto", "batch_sizes": [],
                  "device": None, "use_cache": None, "limit": None, "bootstrap_iters": 100000, "gen_kwargs": None,
                  "random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234, "fewshot_seed": 1234}
LM_EVAL_OTHER = {"model": "hf", "model_args": "pretrained={run}/prune/hf,trust_remote_code=True", "batch_size": 64,
                 "batch_sizes": [64], "device": "cpu", "use_cache": "/scratch/lm-eval-cache", "limit": 100,
                 "bootstrap_iters": 0, "gen_kwargs": "temperature=0.7", "random_seed": 1, "numpy_seed": 1, "torch_seed": 1,
                 "fewshot_seed": 1}


def _lm_eval_config(**changes):
    def do(r):
        cfg = {k: (v.replace("{run}", r.orig) if isinstance(v, str) else v) for k, v in {**LM_EVAL_CONFIG, **changes}.items()}
        r.set_json(LM, lambda d: d.update(config=cfg))
        r.steps = ["eval"]
    return do


add(C11, "eval-lm-eval-config-as-the-kits-command-records-it", _lm_eval_config(),
    expect_pass="lm-eval's record of the kit's own MMLU command: its values and lm-eval's defaults (a control for the "
    "cases below)")
for _k, _o in LM_EVAL_OTHER.items():
    add(C11, f"eval-lm-eval-config-{_k}-{tag(_o)}", _lm_eval_config(**{_k: _o}))


@attack(C11, "eval-two-invocations-each-with-some-tasks")
def _(r):
    """Two launcher invocations in one unit: the first ran four tasks, a second (limited) the other three."""
    base = r.p(E12800)
    inv = next(base.glob("2026*"))
    second = base / "20260522_000000-ffffff"
    second.mkdir()
    for task in sorted(p for p in inv.iterdir())[4:]:
        shutil.copytree(task, second / task.name, copy_function=os.link)
        shutil.rmtree(task)
        for f in (second / task.name / "artifacts").iterdir():
            data = f.read_text()
            f.unlink()
            f.write_text(data)
            _yaml_edit(r, str(f.relative_to(r.path)), _params(limit_samples=8))
    r.steps = ["eval"]


@attack(C11, "eval-two-invocations-same-tasks-same-scores")
def _(r):
    inv = next(r.p(E12800).glob("2026*"))
    shutil.copytree(inv, inv.parent / "20260522_000000-ffffff", copy_function=os.link)
    r.steps = ["eval"]


@attack(C11, "eval-two-lm-eval-results-files")
def _(r):
    """A second MMLU run beside the first, its accuracy within the tolerance of the tutorial's."""
    r.write(f"{E12800}/lm_eval/results_2026-05-22T00-00-00.json",
            json.dumps({"results": {"mmlu": {"acc,none": 0.724, "alias": "mmlu"}}, "n-shot": {"mmlu": 5}}))
    r.steps = ["eval"]


WHY_EVAL = ("PASS: the evaluation is judged by its scores only (run_config.yml is read for the harness name, results.yml "
            "for the scores, the lm-eval JSON for the accuracy): the settings it ran with are not read")


def mark(cls: str, reasons: dict[str, str]) -> None:
    """Mark these cases of a class as known gaps (each must exist and not be marked already)."""
    by_name = {a.name: a for a in CASES if a.cls == cls}
    for name, why in reasons.items():
        assert name in by_name and not by_name[name].gap, f"mark: {cls}/{name}"
        assert why.split(":", 1)[0] in GAP_KINDS, why
        by_name[name].gap = why


mark(C11, {
    **{f"eval-params-{k}-{tag(_other(v, k))}": WHY_EVAL for k, v in _EVAL_PARAMS},
    "eval-params-limit_samples-8": WHY_EVAL.format(what="config.params.limit_samples"),
    **{f"eval-{t}-{k}-{tag(_other(v))}": WHY_EVAL.format(what=f"{t}'s config.params.{k}") for t, k, v in _TASK_PARAMS},
    **{f"eval-adapter-{k}-{tag(_other(v))}": WHY_EVAL.format(what=f"the adapter's {k}") for k, v in _ADAPTER},
    **{f"eval-deployment-{k}-{tag(_DEPLOYMENT_OTHER.get(k, _other(v)))}": WHY_EVAL.format(what=f"deployment.{k}")
       for k, v in _DEPLOYMENT},
    "eval-run-config-pkg_name-other": WHY_EVAL.format(what="run_config.yml's pkg_name"),
    "eval-run-config-config.type-other": WHY_EVAL.format(what="run_config.yml's config.type (the task it ran)"),
    "eval-limit-samples-8-in-one-task-only": WHY_EVAL.format(what="config.params.limit_samples"),
    "eval-limit-samples-8-in-results-yml-only": WHY_EVAL.format(what="config.params.limit_samples"),
    "eval-limit-samples-given-on-the-command": "PASS: the eval command is read for deployment.checkpoint_path only",
    "eval-temperature-given-on-the-command": "PASS: the eval command is read for deployment.checkpoint_path only",
    "eval-results-recorded-for-another-checkpoint": WHY_EVAL.format(what="target.api_endpoint.model_id (what was served)"),
    "eval-deployment-of-another-checkpoint-in-run-config": WHY_EVAL.format(what="run_config.yml's deployment"),
    "eval-mmlu-zero-shot": WHY_EVAL.format(what="lm-eval's n-shot"),
    **{f"eval-lm-eval-config-{k}-{tag(o)}": WHY_EVAL.format(what=f"lm-eval's config.{k}") for k, o in LM_EVAL_OTHER.items()},
    "eval-two-invocations-each-with-some-tasks": "PASS: every results.yml under the unit is merged, whichever invocation "
                                                 "wrote it and with whatever settings",
    "eval-two-invocations-same-tasks-same-scores": "PASS: two invocations in one unit are merged, not refused",
    "eval-two-lm-eval-results-files": "PASS: two lm-eval results files in one unit: the last one's accuracy is taken",
})


# ================================================================ 12. inputs and outputs outside the run
C12 = "12-lineage-outside"


@attack(C12, "prune-base-model-is-the-12b")
def _(r):
    r.flag("prune", "hf_model_name_or_path", "nvidia/NVIDIA-Nemotron-Nano-12B-v2")
    r.set_arg(PLOG, "hf_model_name_or_path", "nvidia/NVIDIA-Nemotron-Nano-12B-v2")


@attack(C12, "prune-base-model-is-a-local-copy-outside-the-run")
def _(r):
    r.flag("prune", "hf_model_name_or_path", "/scratch/models/NVIDIA-Nemotron-Nano-9B-v2")
    r.set_arg(PLOG, "hf_model_name_or_path", "/scratch/models/NVIDIA-Nemotron-Nano-9B-v2")


@attack(C12, "prune-scores-reused-from-another-run")
def _(r):
    other = r.other_run()
    r.flag("prune", "prune_intermediate_ckpt", f"{other}/prune/hf/modelopt_pruning_scores")
    r.add_arg(PLOG, "prune_intermediate_ckpt", f"{other}/prune/hf/modelopt_pruning_scores")


@attack(C12, "distill-teacher-is-a-local-copy-outside-the-run")
def _(r):
    r.flag("distill", "teacher_hf_path", "/scratch/models/NVIDIA-Nemotron-Nano-9B-v2")
    r.set_arg(DLOG, "teacher_hf_path", "/scratch/models/NVIDIA-Nemotron-Nano-9B-v2")


def _resume(r, attempt_until: int, loads_from: str, at: int) -> None:
    """distill/attempts/1: this run until `attempt_until`, then a crash; step.log: a resume from `loads_from`."""
    text = r.read(DLOG)
    head = text[:text.index("Starting distillation...")]
    cut = text.index(f" [2026-05-20 10:00:00] iteration {attempt_until + 10:8d}/")
    r.write("distill/attempts/1/step.log", text[:cut] + TRACEBACK)
    r.write("distill/attempts/1/step.json", json.dumps({**r.json("distill/step.json"), "exit_code": 1}))
    rest = text[text.index(f" [2026-05-20 10:00:00] iteration {at + 10:8d}/"):]
    r.write(DLOG, head + "Starting distillation...\n"
            f" loading distributed checkpoint from {loads_from} at iteration {at}\n" + rest)


@attack(C12, "distill-resumed-from-another-runs-checkpoints")
def _(r):
    _resume(r, 8000, f"{r.other_run()}/distill/output/checkpoints", 8000)


@attack(C12, "distill-resumed-from-a-checkpoint-its-attempt-never-saved")
def _(r):
    _resume(r, 6000, f"{r.orig}/distill/output/checkpoints", 8000)


def _symlink_out(rel: str):
    def do(r):
        other = r.other_run()
        r.rm(rel)
        r.p(rel).symlink_to(other / rel)
    return do


for _rel in ("prune", "distill", "convert", "bench/7b-fp8", E12800, f"{QC}/hf_fp8", "prune/hf"):
    add(C12, f"{_rel.replace('/', '-')}-is-a-symlink-into-another-run", _symlink_out(_rel))


@attack(C12, "eval-invocation-is-a-symlink-into-another-run")
def _(r):
    other = r.other_run()
    inv = next(r.p(E12800).glob("2026*"))
    shutil.rmtree(inv)
    inv.symlink_to(other / inv.relative_to(r.path))


@attack(C12, "distill-writes-its-checkpoints-elsewhere")
def _(r):
    r.flag("distill", "output_dir", "/scratch/other/distill/output")
    r.set_arg(DLOG, "output_dir", "/scratch/other/distill/output")
    r.sub(DLOG, f"{r.orig}/distill/output/checkpoints", "/scratch/other/distill/output/checkpoints", 0)


@attack(C12, "distill-also-exports-elsewhere")
def _(r):
    r.flag("distill", "hf_export_path", "/scratch/export/hf")
    r.flag("distill", "student_hf_model", "nvidia/NVIDIA-Nemotron-Nano-9B-v2")
    r.add_arg(DLOG, "hf_export_path", "/scratch/export/hf")
    r.add_arg(DLOG, "student_hf_model", "nvidia/NVIDIA-Nemotron-Nano-9B-v2")
    r.sub(DLOG, "Distillation done!", "Exporting final distilled ckpt to HF format to /scratch/export/hf\nDistillation done!")


@attack(C12, "convert-writes-its-export-elsewhere")
def _(r):
    r.flag("convert", "hf-path", "/scratch/other/hf_iter_12800")


@attack(C12, "quantize-exports-elsewhere-in-command-and-log")
def _(r):
    r.flag(QC, "export_path", "/scratch/other/hf_fp8")
    r.sub(f"{QC}/step.log", f"{r.orig}/quantize/conservative/hf_fp8", "/scratch/other/hf_fp8")


@attack(C12, "bench-writes-its-results-elsewhere")
def _(r):
    r.flag("bench/7b-fp8", "output-json", "/scratch/other/result.json")


def _ended_before(unit: str, producer: str):
    """`unit` read `producer`'s output, yet the runner recorded it as over before that step began."""
    def do(r):
        started = r.json(f"{producer}/step.json")["started"]
        r.times(unit, started=_shift(started, -30), ended=_shift(started, -10))
    return do


def _shift(stamp: str, minutes: int) -> str:
    from datetime import datetime, timedelta

    t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ") + timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


for _unit, _producer in (("distill", "prune"), ("convert", "distill"), (QC, "convert"), ("bench/7b-fp8", QC),
                         (E12800, "convert"), ("bench/7b-bf16", "convert")):
    add(C12, f"{_unit.replace('/', '-')}-finished-before-{_producer.replace('/', '-')}-started",
        _ended_before(_unit, _producer))


@attack(C12, "distill-started-before-prune-ended")
def _(r):
    prune_end = r.json("prune/step.json")["ended"]
    r.times("distill", started=_shift(prune_end, -20))


@attack(C12, "a-unit-ended-before-it-started")
def _(r):
    s = r.json("convert/step.json")
    r.times("convert", started=s["ended"], ended=s["started"])


@attack(C12, "step-times-missing")
def _(r):
    r.meta("distill", started=DROP, ended=DROP)


@attack(C12, "step-times-in-order", expect_pass="the fixture's own times, one unit after another: the order the "
        "data flows in (a control for the time-order cases above)")
def _(r):
    pass


WHY_TIME = "PASS: step.json's started/ended are not read: nothing says a step ran after the step whose output it read"
mark(C12, {
    "prune-base-model-is-the-12b": "PASS: the model prune_minitron.py loads is judged only as command against echo",
    "prune-base-model-is-a-local-copy-outside-the-run": "PASS: the model prune_minitron.py loads is judged only as command "
                                                        "against echo",
    "prune-scores-reused-from-another-run": "PASS: prune_minitron.py's --prune_intermediate_ckpt (cached scores) is not judged",
    "distill-resumed-from-another-runs-checkpoints": "PASS: a resume is chained to this run's earlier attempt, but where "
                                                     "it loaded its checkpoint from is not compared with this run",
    **{f"{x.replace('/', '-')}-is-a-symlink-into-another-run": "PASS: a step directory (or checkpoint) that resolves into "
       "another run is read as this run's" for x in ("prune", "distill", "convert", "bench/7b-fp8", E12800, f"{QC}/hf_fp8",
                                                     "prune/hf")},
    "distill-writes-its-checkpoints-elsewhere": "PASS: distill.py's --output_dir is not judged",
    "distill-also-exports-elsewhere": "PASS: distill.py's --hf_export_path (an export outside the run) is not judged",
    "convert-writes-its-export-elsewhere": "PASS: convert_checkpoints.py's --hf-path is not judged",
    "bench-writes-its-results-elsewhere": "PASS: vllm bench's --output-json outside the run is not judged",
    **{f"{u.replace('/', '-')}-finished-before-{p.replace('/', '-')}-started": WHY_TIME
       for u, p in (("distill", "prune"), ("convert", "distill"), (QC, "convert"), ("bench/7b-fp8", QC), (E12800, "convert"),
                    ("bench/7b-bf16", "convert"))},
    "distill-started-before-prune-ended": WHY_TIME,
    "a-unit-ended-before-it-started": WHY_TIME,
    "step-times-missing": WHY_TIME,
})


# ================================================================ 13. provenance cross-checked
C13 = "13-provenance-cross"
H100 = {"model": "NVIDIA H100 80GB HBM3", "count": 8, "driver": "570.124.06", "memory_mib": "81559"}


def _gpu(model: str, count: int = 1) -> dict:
    return {**H100, "model": model, "count": count}


def _env(gpu: dict, **versions) -> dict:
    return {"host": "node001", "versions": {"modelopt": "0.44.0", "vllm": "0.21.0", **versions}, "gpu": gpu}


@attack(C13, "bench-7b-fp8-on-an-a100-the-run-says-h100")
def _(r):
    """The runner copies the last step's GPU into the manifest: one bench unit ran elsewhere."""
    r.step_manifest("bench/7b-fp8", gpu=_gpu("NVIDIA A100-SXM4-80GB"), env=_env(_gpu("NVIDIA A100-SXM4-80GB")))
    r.manifest(lambda m: m.update(gpu=H100))


@attack(C13, "every-bench-unit-on-an-h200-the-run-says-h100")
def _(r):
    for v in ("9b-bf16", "9b-fp8", "12b-bf16", "7b-bf16", "7b-fp8", "7b-fp8-aggressive"):
        r.step_manifest(f"bench/{v}", gpu=_gpu("NVIDIA H200"), env=_env(_gpu("NVIDIA H200")))
    r.step_manifest(E12800, gpu=H100, env=_env(H100))  # the last step recorded


@attack(C13, "distill-on-a100s-the-run-says-h100")
def _(r):
    r.step_manifest("distill", gpu=_gpu("NVIDIA A100-SXM4-80GB", 8), env=_env(_gpu("NVIDIA A100-SXM4-80GB", 8)))


@attack(C13, "vllm-prints-another-version-than-the-manifest")
def _(r):
    for v in ("9b-bf16", "9b-fp8", "12b-bf16", "7b-bf16", "7b-fp8", "7b-fp8-aggressive"):
        r.sub(blog(v), "(v0.21.0)", "(v0.19.1)")


@attack(C13, "vllm-one-bench-unit-on-another-version")
def _(r):
    r.sub(blog("7b-fp8"), "(v0.21.0)", "(v0.13.0)")


@attack(C13, "export-producer-another-modelopt")
def _(r):
    r.set_json(f"{QC}/hf_fp8/hf_quant_config.json", lambda d: d["producer"].update(version="0.46.0"))


@attack(C13, "export-producer-not-modelopt")
def _(r):
    r.set_json(f"{QC}/hf_fp8/hf_quant_config.json", lambda d: d.update(producer={"name": "llm-compressor", "version": "0.6.0"}))


@attack(C13, "prune-log-of-the-0.46-format-manifest-0.44")
def _(r):
    r.write(PLOG, prune_log("modelopt-0.46", out=f"{r.orig}/prune/hf"))


@attack(C13, "prune-log-of-the-0.45-format-manifest-0.44")
def _(r):
    r.write(PLOG, prune_log("modelopt-0.45", out=f"{r.orig}/prune/hf"))


for _name, _model in (("cyrillic-en", "NVIDIA \u041d100 80GB HBM3"), ("zero-width-space", "NVIDIA H\u200b100 80GB HBM3"),
                      ("fullwidth", "NVIDIA \uff28100 80GB HBM3"), ("letter-o", "NVIDIA H1O0 80GB HBM3"),
                      ("trailing-nbsp", "NVIDIA H100\u00a080GB HBM3")):
    add(C13, f"gpu-name-with-a-confusable-{_name}", (lambda m: lambda r: r.manifest(lambda d: d["gpu"].update(model=m)))(_model))

for _name, _fn in (("missing", lambda s: s.pop("world_size")), ("null", lambda s: s.update(world_size=None)),
                   ("a-string", lambda s: s.update(world_size="768"))):
    add(C13, f"distill-world-size-{_name}", (lambda fn: lambda r: r.manifest(lambda m: fn(m["steps"]["distill"])))(_fn))


@attack(C13, "distill-world-size-contradicts-the-runners-record")
def _(r):
    r.meta("distill", nodes=1, gpus_per_node=8, world_size=8)


@attack(C13, "image-named-for-another-modelopt")
def _(r):
    r.manifest(lambda m: m["image"].update(name="nemotron-repro:modelopt-0.46.0"))


@attack(C13, "manifest-has-no-vllm-version")
def _(r):
    r.manifest(lambda m: m["versions"].pop("vllm"))


WHY_GPU = ("PASS: the run's GPU is manifest.json's gpu.model, which the runner copies from the last step recorded; a "
           "step's own GPU is not read")
WHY_CONFUSABLE = ("PASS: the GPU name matches no golden key, so the absolute figures SKIP (exit 0) instead of an ERROR "
                  "for a name no GPU has")
WHY_WORLD = "PASS: the time per 1k iterations SKIPs when the world size is not an integer; a missing value is no ERROR"
mark(C13, {
    "bench-7b-fp8-on-an-a100-the-run-says-h100": WHY_GPU,
    "every-bench-unit-on-an-h200-the-run-says-h100": WHY_GPU,
    "distill-on-a100s-the-run-says-h100": WHY_GPU,
    "vllm-prints-another-version-than-the-manifest": "PASS: the version vLLM prints is parsed, not held against the manifest",
    "vllm-one-bench-unit-on-another-version": "PASS: the version vLLM prints is parsed, not held against the manifest",
    "export-producer-another-modelopt": "PASS: the export's producer is parsed (shown by diff), not held against the manifest",
    "export-producer-not-modelopt": "PASS: the export's producer is parsed (shown by diff), not held against the manifest",
    "prune-log-of-the-0.46-format-manifest-0.44": "PASS: the log format family matched is not held against the manifest's "
                                                  "ModelOpt version",
    "prune-log-of-the-0.45-format-manifest-0.44": "PASS: the log format family matched is not held against the manifest's "
                                                  "ModelOpt version",
    **{f"gpu-name-with-a-confusable-{n}": WHY_CONFUSABLE for n in ("cyrillic-en", "zero-width-space", "fullwidth",
                                                                     "letter-o", "trailing-nbsp")},
    **{f"distill-world-size-{n}": WHY_WORLD for n in ("missing", "null", "a-string")},
    "distill-world-size-contradicts-the-runners-record": "PASS: step.json's nodes/gpus_per_node/world_size are not read",
    "image-named-for-another-modelopt": "PASS: the image's name and labels are not held against the versions probed",
    "manifest-has-no-vllm-version": "PASS: a missing component version is not an ERROR (nothing needs it today)",
})


# ================================================================ 14. the goldens belong to the kit
C14 = "14-goldens-ownership"
KV_GOLDEN = "{id: 7b-fp8_kv_cache_dtype, path: runs.7b-fp8.settings.kv_cache_dtype, expect: fp8,"


def _kv_auto(r) -> None:
    """A run that did not reproduce: the 7B-FP8 bench served with the KV cache in BF16 (kit's goldens: FAIL)."""
    r.cmd("bench/7b-fp8", "--kv-cache-dtype fp8", "--kv-cache-dtype auto")
    r.sub(blog("7b-fp8"), "'kv_cache_dtype': 'fp8'", "'kv_cache_dtype': 'auto'")
    r.sub(blog("7b-fp8"), "kv_cache_dtype=fp8", "kv_cache_dtype=auto")


def _evil(r) -> Path:
    """Goldens next to the run, as someone who wants it to pass writes them."""
    g = r.goldens_copy(lambda t: t.replace(KV_GOLDEN, KV_GOLDEN.replace("expect: fp8", "expect: auto")), "evil.yaml")
    assert g.read_text() != EXPECTED.read_text()
    return g


def _profile_points_to(r, g: Path, absolute: bool) -> None:
    stem = str(g.with_suffix(""))
    r.manifest(lambda m: m.update(profile=stem if absolute else os.path.relpath(stem, ROOT / "expected")))


@attack(C14, "report-of-a-deviating-run-with-the-kits-goldens", via="cli")
def _(r):
    _kv_auto(r)
    r.argv = ["report", "{run}", "--html", r.path.parent / "report.html"]


for _abs in (False, True):
    add(C14, f"report-takes-goldens-from-the-manifest-{'absolute' if _abs else 'relative'}-path",
        (lambda ab: lambda r: (_kv_auto(r), _profile_points_to(r, _evil(r), ab),
                               setattr(r, "argv", ["report", "{run}", "--html", r.path.parent / "report.html"])))(_abs),
        via="cli")


def _seq4096(r) -> None:
    """distill with --seq_length 4096 in the command and in what it echoed: the tokens per iteration halve."""
    r.cmd("distill", "--seq_length 8192", "--seq_length 4096")
    r.set_arg(DLOG, "seq_length", "4096")


def _evil_tokens(r) -> Path:
    return r.goldens_copy(lambda t: t.replace("path: tokens_per_iteration, expect: 6291456", "path: tokens_per_iteration, "
                                              "expect: 3145728").replace("path: args.seq_length, expect: 8192",
                                                                         "path: args.seq_length, expect: 4096"), "evil.yaml")


@attack(C14, "watch-of-a-deviating-run-with-the-kits-goldens", via="cli")
def _(r):
    _seq4096(r)
    r.argv = ["watch", "{run}", "--step", "distill", "--once"]


@attack(C14, "watch-takes-goldens-from-the-manifest-path", via="cli")
def _(r):
    _seq4096(r)
    _profile_points_to(r, _evil_tokens(r), absolute=False)
    r.argv = ["watch", "{run}", "--step", "distill", "--once"]


@attack(C14, "diff-takes-goldens-from-the-baselines-manifest-path", via="cli")
def _(r):
    base = r.other_run("baseline")
    evil = _evil(r)
    stem = os.path.relpath(str(evil.with_suffix("")), ROOT / "expected")
    doc = json.loads((base / "manifest.json").read_text())
    (base / "manifest.json").unlink()
    (base / "manifest.json").write_text(json.dumps({**doc, "profile": stem}))
    _kv_auto(r)
    # and the baseline as the evil goldens want it, so that no golden CHANGES between the two
    for f in ("step.json",):
        d = json.loads((base / "bench/7b-fp8" / f).read_text())
        (base / "bench/7b-fp8" / f).unlink()
        (base / "bench/7b-fp8" / f).write_text(json.dumps({**d, "command": d["command"].replace("--kv-cache-dtype fp8",
                                                                                                "--kv-cache-dtype auto")}))
    log = (base / "bench/7b-fp8/step.log").read_text()
    (base / "bench/7b-fp8/step.log").unlink()
    (base / "bench/7b-fp8/step.log").write_text(log.replace("'kv_cache_dtype': 'fp8'", "'kv_cache_dtype': 'auto'")
                                                .replace("kv_cache_dtype=fp8", "kv_cache_dtype=auto"))
    r.argv = ["diff", base, "{run}"]


def _tier_without_lineage(r) -> Path:
    """A new tier's goldens that include every step of full.yaml, as the README says to reuse checks."""
    g = r.path.parent / "tier.yaml"
    g.write_text(f"schema: 1\nprofile: full\ninclude:\n- file: {EXPECTED}\n  steps: [prune, distill, convert, eval, "
                 "quantize, bench]\n")
    return g


def _lineage_attack_under_tier(edit: Callable):
    def do(r):
        edit(r)
        r.expected = _tier_without_lineage(r)
    return do


@attack(C14, "a-tier-including-full-yaml-judges-a-faithful-run",
        expect_pass="every check of full.yaml, included: a faithful run passes them (a control for the cases below)")
def _(r):
    r.expected = _tier_without_lineage(r)


for _name, _edit in (("convert-is-a-copy-of-prune-hf", lambda r: r.copy_dir("prune/hf", CONV)),
                     ("distill-student-elsewhere", lambda r: (r.cmd("distill", f"{r.orig}/prune/hf", "/scratch/someone/pruned"),
                                                              r.sub(DLOG, f"{r.orig}/prune/hf", "/scratch/someone/pruned"))),
                     ("bench-7b-bf16-serves-the-pruned-model", lambda r: (r.cmd("bench/7b-bf16", "convert/hf_iter_12800", "prune/hf"),
                                                                         r.sub(blog("7b-bf16"), "convert/hf_iter_12800", "prune/hf", 0))),
                     ("quantize-reads-another-iteration", lambda r: r.cmd(QC, "convert/hf_iter_12800", "convert/hf_iter_9600"))):
    add(C14, f"a-tier-including-full-yaml-drops-its-lineage-{_name}", _lineage_attack_under_tier(_edit),
        gap="PASS: `include:` takes a file's step sections, not the lineage rules of the steps it includes")


@attack(C14, "prune-quant-bench-tier-bench-9b-bf16-serves-the-12b", gap="PASS: the prune-quant-bench goldens include "
        "full.yaml's bench checks but not its lineage rules (the tier has none)")
def _(r):
    """The kit's own prune-quant-bench goldens include full.yaml's bench checks, not its lineage."""
    r.cmd("bench/9b-bf16", "NVIDIA-Nemotron-Nano-9B-v2", "NVIDIA-Nemotron-Nano-12B-v2")
    r.sub(blog("9b-bf16"), "NVIDIA-Nemotron-Nano-9B-v2", "NVIDIA-Nemotron-Nano-12B-v2", 0)
    _pqb(r)


def _pqb(r, gib: float = 13.3) -> None:
    """Judged as the prune-quant-bench tier: its 9B-FP8 is quantized by the tier with the conservative config (its
    goldens' known discrepancy: ~13.3 GiB, not the official 9.6)."""
    r.resub(blog("9b-fp8"), r"Model loading took \S+ GiB", f"Model loading took {gib:.2f} GiB")
    r.expected = ROOT / "expected" / "prune-quant-bench.yaml"
    r.steps = ["bench"]


@attack(C14, "prune-quant-bench-tier-judges-a-faithful-run", expect_pass="the tier's own goldens on the steps it "
        "shares with the full run: a control for the case above")
def _(r):
    _pqb(r)


def _bless_deviation(edit: Callable):
    def do(r):
        edit(r)
        r.expected = r.goldens_copy()
    return do


def _lr_2e4(r) -> None:
    """distill with --lr 2e-4 in the command, in its arguments block and in the schedule it logged."""
    from checks.steps.distill import expected_lr

    r.cmd("distill", "--lr 1e-4", "--lr 2e-4")
    r.set_arg(DLOG, "lr", "0.0002")
    r.resub(DLOG, r"iteration\s+(\d+)/\s*16000 (.*?)learning rate: \S+ \|", lambda m: m.group(0).rsplit("learning rate:", 1)[0]
            + f"learning rate: {expected_lr(int(m.group(1)), 2e-4, 1e-5, 100, 16000):.6E} |")


BLESS = {
    "distill-lr-2e-4": _lr_2e4,
    "distill-seq-length-4096": _seq4096,
    "bench-7b-fp8-kv-cache-auto": _kv_auto,
    "prune-skips-mamba-heads": lambda r: (r.cmd("prune", "--hparams_to_skip num_attention_heads", "--hparams_to_skip mamba_num_heads"),
                                          r.sub(PLOG, "['num_attention_heads']", "['mamba_num_heads']", 0)),
}
for _name, _edit in BLESS.items():
    add(C14, f"bless-rewrites-the-tutorials-value-{_name}", _bless_deviation(_edit), via="bless")


# ================================================================ 15. strict expected failures
C15 = "15-strict-xfail"


def _bench_mem(gib: float):
    def do(r):
        r.resub(blog("7b-fp8"), r"Model loading took \S+ GiB", f"Model loading took {gib:.2f} GiB")
        r.steps = ["bench"]
    return do


for _gib, _why in ((25.0, "three times the known 10.8 GiB"), (3.0, "less than any FP8 7B"),
                   (13.1, "the BF16 checkpoint's size: it served unquantized weights")):
    add(C15, f"bench-7b-fp8-loads-{_gib:g}-gib", _bench_mem(_gib),
        gap=f"PASS: the 7.8 GiB golden is xfail (known: ~10.8 GiB); {_gib:g} GiB ({_why}) is absorbed as XFAIL")
add(C15, "bench-7b-fp8-loads-10.9-gib-the-known-discrepancy", _bench_mem(10.9),
    expect_pass="within the golden's own ±0.2 GiB of the known 10.79 GiB: the discrepancy the xfail names")


def _retype(r, ckdir: str, match: Callable[[str], bool], dtype: str) -> None:
    """Relabel tensors of a checkpoint (same element size: BF16 <-> F16) in every shard's header, in place."""
    n = 0
    for shard in sorted(r.p(ckdir).glob("*.safetensors")):
        def edit(h):
            nonlocal n
            for k, v in h.items():
                if k != "__metadata__" and match(k):
                    v["dtype"] = dtype
                    n += 1
            return h
        rewrite_header(shard, edit)
    assert n, "attack setup: no tensor matched"


@attack(C15, "quantize-mamba-in-proj-f16", gap="PASS: the in_proj layout golden is xfail (known: BF16); F16 is absorbed")
def _(r):
    r.localize(QC, "bench/7b-fp8")
    _retype(r, f"{QC}/hf_fp8", lambda k: k.endswith("mixer.in_proj.weight"), "F16")
    r.steps = ["quantize"]


@attack(C15, "quantize-mamba-out-proj-mixed", gap="PASS: the out_proj layout golden is xfail (known: BF16); a mix of "
        "BF16 and F16 is absorbed")
def _(r):
    r.localize(QC, "bench/7b-fp8")
    _retype(r, f"{QC}/hf_fp8", lambda k: k.endswith("mixer.out_proj.weight") and int(k.split(".")[2]) % 2 == 0, "F16")
    r.steps = ["quantize"]


@attack(C15, "prune-quant-bench-9b-fp8-loads-25-gib", gap="PASS: the tier's 9B-FP8 golden is xfail (known: ~13.3 GiB); "
        "25 GiB is absorbed as XFAIL")
def _(r):
    _pqb(r, 25.0)


@attack(C15, "aggressive-variant-at-the-conservative-size")
def _(r):
    """Not an xfail: the aggressive variant must hold the table's 7.8 GiB (a guard that xfail stays per check)."""
    r.resub(blog("7b-fp8-aggressive"), r"Model loading took \S+ GiB", "Model loading took 10.79 GiB")
    r.steps = ["bench"]


# ================================================================ 16. checks diff judges settings and lineage
C16 = "16-diff-judges"


def _diff(edit: Callable, step: str | None):
    def do(r):
        base = r.other_run("baseline")
        edit(r)
        r.argv = ["diff", base, "{run}", "--expected", EXPECTED] + (["--step", step] if step else [])
    return do


DIFF_CANDIDATES = {
    "distill-on-synthetic-tokens": lambda r: (r.set_arg(DLOG, "use_mock_data", "True"), r.flag("distill", "use_mock_data", True)),
    "distill-kd-loss-scale-2": lambda r: (r.add_arg(DLOG, "kd_loss_scale", "2.0"), r.flag("distill", "kd_loss_scale", "2.0")),
    "distill-student-elsewhere": lambda r: (r.cmd("distill", f"{r.orig}/prune/hf", "/scratch/someone/pruned"),
                                            r.sub(DLOG, f"{r.orig}/prune/hf", "/scratch/someone/pruned")),
    "convert-is-a-copy-of-prune-hf": lambda r: r.copy_dir("prune/hf", CONV),
    "quantize-calibrated-on-16-samples": lambda r: r.flag(QC, "calib_size", "16"),
    "bench-7b-bf16-in-float16": _bench_option("dtype", "both"),
    "bench-7b-bf16-speculative": _bench_option("speculative-config", "both"),
    "bench-7b-bf16-serves-the-pruned-model": lambda r: (r.cmd("bench/7b-bf16", "convert/hf_iter_12800", "prune/hf"),
                                                        r.sub(blog("7b-bf16"), "convert/hf_iter_12800", "prune/hf", 0)),
    "prune-calibrated-on-other-data": _prune_echo("calib_dataset_name", "cnn_dailymail", "both", "cnn_dailymail"),
    "eval-limited-to-8-samples": _eval_record("config.params.limit_samples", 8),
    "eval-mmlu-zero-shot": lambda r: r.set_json(LM, lambda d: d.update({"n-shot": {"mmlu": 0}})),
    "distill-lr-2e-4-both": BLESS["distill-lr-2e-4"],
}
for _name, _edit in DIFF_CANDIDATES.items():
    add(C16, f"diff-candidate-{_name}", _diff(_edit, _name.split("-", 1)[0]), via="cli")
mark(C16, {f"diff-candidate-{n}": "PASS: `checks diff` judges only the goldens' values; settings, data and lineage "
                                   "differences are DIFFERS (shown, exit 0)" for n in DIFF_CANDIDATES if n != "distill-lr-2e-4-both"})
add(C16, "diff-of-a-faithful-run-and-its-copy", _diff(lambda r: None, None), via="cli",
    expect_pass="nothing differs: the same run twice (a control for the cases above)")


# ================================================================ 17. checkpoint headers the safetensors library refuses
C17 = "17-safetensors"
SHARD = f"{CONV}/model-00003-of-00004.safetensors"  # none of its tensors is a lineage fingerprint sample


def read_header(path: Path) -> tuple[int, bytes]:
    with path.open("rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return n, f.read(n)


def rewrite_header(path: Path, edit: Callable[[dict], object] | None = None, raw: bytes | None = None,
                   size_delta: int = 0, declared: int | None = None) -> None:
    """Write a new header over a shard, keeping every tensor's bytes at the same offset from the data's start (the
    sparse data extents are moved with the header); `raw` gives the header bytes; `size_delta` grows or cuts the file
    at its end; `declared` is the header length the first 8 bytes state (default: the real one)."""
    n, old = read_header(path)
    if raw is None:
        raw = json.dumps(edit(json.loads(old)), separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
    shift = len(raw) - n
    size = path.stat().st_size
    tmp = path.with_name(path.name + ".new")
    with path.open("rb") as src, tmp.open("wb") as dst:
        dst.write(struct.pack("<Q", len(raw) if declared is None else declared) + raw)
        pos = 8 + n
        while pos < size:
            try:
                start = os.lseek(src.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            src.seek(max(start, 8 + n))
            dst.seek(max(start, 8 + n) + shift)
            dst.write(src.read(end - max(start, 8 + n)))
            pos = end
        dst.truncate(size + shift + size_delta)
    path.unlink()
    tmp.rename(path)


def _tensors(h: dict) -> list[tuple[str, dict]]:
    return sorted(((k, v) for k, v in h.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"][0])


def _overlap(h: dict) -> dict:
    """The last tensor's offsets moved onto the end of the one before it (the file is cut to match: no gap)."""
    (ka, a), (kb, b) = _tensors(h)[-2:]
    size = b["data_offsets"][1] - b["data_offsets"][0]
    start = a["data_offsets"][1] - size
    b["data_offsets"] = [start, start + size]
    return h


def _last_size(path: Path) -> int:
    a, b = _tensors(json.loads(read_header(path)[1]))[-1][1]["data_offsets"]
    return b - a


def _hole(h: dict) -> dict:
    (ka, a) = _tensors(h)[-1]
    a["data_offsets"] = [a["data_offsets"][0] + 8, a["data_offsets"][1] + 8]
    return h


def _metadata(value) -> Callable[[dict], dict]:
    return lambda h: {"__metadata__": value, **{k: v for k, v in h.items() if k != "__metadata__"}}


def _dup_key(path: Path) -> bytes:
    """The header with its second tensor renamed to the first's name (JSON allows it; a reader keeps one of them)."""
    _, old = read_header(path)
    names = [k for k in json.loads(old) if k != "__metadata__"]
    a, b = names[0], names[1]
    return old.replace(f'"{b}":'.encode(), f'"{a}":'.encode(), 1)


def _not_utf8(path: Path) -> bytes:
    _, old = read_header(path)
    name = [k for k in json.loads(old) if k != "__metadata__"][-1]
    return old.replace(f'"{name}"'.encode(), b'"\xff' + name[1:].encode() + b'"', 1)


SAFETENSORS = {  # name: (edit of the shard, size change of the file, gap)
    "overlapping-offsets": (lambda p: rewrite_header(p, _overlap, size_delta=-_last_size(p)),
                            "PASS: tensors sharing bytes (offsets overlap) are not refused"),
    "a-hole-between-tensors": (lambda p: rewrite_header(p, _hole, size_delta=8),
                               "PASS: offsets that leave a gap in the data are not refused"),
    "bytes-after-the-last-tensor": (lambda p: rewrite_header(p, lambda h: h, size_delta=4096),
                                    "PASS: data past the last tensor's end is not refused"),
    "metadata-not-str-to-str": (lambda p: rewrite_header(p, _metadata({"format": "pt", "step": 12800})),
                                "PASS: __metadata__ is not read"),
    "metadata-nested": (lambda p: rewrite_header(p, _metadata({"format": {"nested": "pt"}})),
                        "PASS: __metadata__ is not read"),
    "metadata-a-list": (lambda p: rewrite_header(p, _metadata(["pt"])), "PASS: __metadata__ is not read"),
    "duplicate-tensor-name": (lambda p: rewrite_header(p, raw=_dup_key(p)), ""),
    "offsets-beyond-the-file": (lambda p: rewrite_header(p, lambda h: h, size_delta=-4096), ""),
    "dtype-and-shape-do-not-match-the-bytes": (lambda p: rewrite_header(p, lambda h: (h[_tensors(h)[-1][0]].update(dtype="F32"), h)[1]), ""),
    "header-length-past-the-end-of-the-file": (lambda p: rewrite_header(p, lambda h: h, declared=p.stat().st_size), ""),
    "header-not-utf8": (lambda p: rewrite_header(p, raw=_not_utf8(p)), ""),
    "offsets-three-numbers": (lambda p: rewrite_header(p, lambda h: (_tensors(h)[-1][1].update(
        data_offsets=_tensors(h)[-1][1]["data_offsets"] + [0]), h)[1]), ""),
    "offsets-negative": (lambda p: rewrite_header(p, lambda h: (_tensors(h)[0][1].update(data_offsets=[-2, 0]), h)[1]), ""),
    "shape-overflows": (lambda p: rewrite_header(p, lambda h: (_tensors(h)[0][1].update(shape=[2 ** 40, 2 ** 40]), h)[1]), ""),
}


def refused_by_safetensors(path: Path) -> str | None:
    """Why the safetensors library (the reader vLLM and transformers use) refuses the file; None if it reads it."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            list(f.keys())
            f.metadata()
    except Exception as e:  # noqa: BLE001 - the library's own error types
        return f"{type(e).__name__}: {e}"
    return None


def _safetensors_case(edit: Callable, refused: bool = True):
    def do(r):
        shard = r.p(SHARD)
        r.rm(SHARD)  # a copy of its own (the clone's is a hard link to the fixture's), sparse like it
        _sparse_copy(Path(r.orig) / SHARD, shard)
        edit(shard)
        why = refused_by_safetensors(shard)
        if refused:
            assert why, f"attack setup: the safetensors library reads this header: not a hostile case ({SHARD})"
        else:
            assert not why, f"attack setup: the safetensors library refuses this header ({why})"
        r.steps = ["convert"]
    return do


def _swap_offsets(h: dict) -> dict:
    """Two tensors of the same dtype and shape trade their bytes: offsets out of the header's order."""
    seen = {}
    for k, v in _tensors(h):
        key = (v["dtype"], tuple(v["shape"]))
        if key in seen:
            a = h[seen[key]]
            a["data_offsets"], v["data_offsets"] = v["data_offsets"], a["data_offsets"]
            return h
        seen[key] = k
    raise AssertionError("attack setup: no two tensors of one shape")


def _sparse_copy(src: Path, dst: Path) -> None:
    size = src.stat().st_size
    with src.open("rb") as fi, dst.open("wb") as fo:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fi.fileno(), start, os.SEEK_HOLE)
            fi.seek(start)
            fo.seek(start)
            fo.write(fi.read(end - start))
            pos = end
        fo.truncate(size)


for _name, (_edit, _gap) in SAFETENSORS.items():
    add(C17, f"shard-{_name}", _safetensors_case(_edit), gap=_gap)
add(C17, "shard-offsets-in-another-order-than-the-names", _safetensors_case(lambda p: rewrite_header(p, _swap_offsets), False),
    expect_pass="offsets need not follow the header's order: the safetensors library sorts the tensors by offset and "
    "reads this file (the control that the refusals above are about contiguity, not order)")


# ================================================================ 18. hostile files: bounded, never a traceback or a hang
C18 = "18-hostile-files"


STEP_NAMES = ("prune", "distill", "convert", "eval", "quantize", "bench")


def verify_argv(step: str | None = None) -> list:
    """`checks verify` of the run; with the step the hostile file belongs to, only that step (and the manifest)."""
    return ["verify", "{run}", "--expected", EXPECTED] + (["--step", step] if step else [])


def _hostile(edit: Callable, where: str | None = None, argv: list | None = None):
    """`where`: the file's path in the run (its step is what is judged), or a step name."""
    step = where.split("/", 1)[0] if where else None
    def do(r):
        edit(r)
        r.argv = argv or verify_argv(step if step in STEP_NAMES else None)
    return do


def _run_config(r) -> str:
    return _artifacts(r)[0]


def _results_yml(r) -> str:
    return _artifacts(r, name="results.yml")[0]


FIFO_AT = {"manifest.json": "manifest.json", "distill-log": DLOG, "prune-log": PLOG, "bench-log": blog("7b-fp8"),
           "quantize-log": f"{QC}/step.log", "distill-step-json": "distill/step.json", "convert-config": f"{CONV}/config.json",
           "convert-shard": SHARD, "convert-index": f"{CONV}/model.safetensors.index.json",
           "quant-config": f"{QC}/hf_fp8/hf_quant_config.json", "lm-eval-results": LM}
for _name, _rel in FIFO_AT.items():
    add(C18, f"fifo-as-{_name}", _hostile((lambda rel: lambda r: r.mkfifo(rel))(_rel), _rel), via="process",
        blocking=True)
add(C18, "fifo-as-run-config-yml", _hostile(lambda r: r.mkfifo(_run_config(r)), "eval"), via="process", blocking=True)
add(C18, "fifo-as-results-yml", _hostile(lambda r: r.mkfifo(_results_yml(r)), "eval"), via="process", blocking=True)

DEVICE_AT = {"distill-log-dev-zero": (DLOG, "/dev/zero"), "bench-log-dev-urandom": (blog("7b-bf16"), "/dev/urandom"),
             "manifest-dev-zero": ("manifest.json", "/dev/zero"), "convert-config-dev-zero": (f"{CONV}/config.json", "/dev/zero"),
             "lm-eval-results-dev-zero": (LM, "/dev/zero"), "step-json-dev-zero": ("bench/7b-fp8/step.json", "/dev/zero")}
for _name, (_rel, _dev) in DEVICE_AT.items():
    add(C18, f"device-as-{_name}", _hostile((lambda rel, dev: lambda r: r.device(rel, dev))(_rel, _dev), _rel),
        via="process")
add(C18, "device-as-run-config-yml-dev-zero", _hostile(lambda r: r.device(_run_config(r), "/dev/zero"), "eval"), via="process")
add(C18, "device-as-results-yml-dev-zero", _hostile(lambda r: r.device(_results_yml(r), "/dev/zero"), "eval"), via="process")

DEEP = 100_000
DEEP_JSON = "[" * DEEP + "]" * DEEP
DEEP_YAML = "a: " + "[" * DEEP + "]" * DEEP + "\n"
for _name, _rel in (("manifest", "manifest.json"), ("step-json", "distill/step.json"), ("convert-config", f"{CONV}/config.json"),
                    ("quant-config", f"{QC}/hf_fp8/hf_quant_config.json"), ("lm-eval-results", LM),
                    ("index", f"{CONV}/model.safetensors.index.json")):
    add(C18, f"deep-nesting-in-{_name}", _hostile((lambda rel: lambda r: r.write(rel, DEEP_JSON))(_rel), _rel), via="process")
add(C18, "deep-nesting-in-results-yml", _hostile(lambda r: r.write(_results_yml(r), DEEP_YAML), "eval"), via="process")
add(C18, "deep-nesting-in-run-config-yml", _hostile(lambda r: r.write(_run_config(r), DEEP_YAML), "eval"), via="process")
add(C18, "deep-nesting-in-a-safetensors-header",
    _hostile(lambda r: (r.write(SHARD, struct.pack("<Q", 2 * DEEP) + DEEP_JSON.encode())), SHARD), via="process")
add(C18, "deep-nesting-in-the-goldens", _hostile(lambda r: r.goldens_copy(lambda t: t + "\nextra: " + "[" * DEEP + "]" * DEEP + "\n"),
                                                 argv=["verify", "{run}", "--expected", "{dir}/goldens.yaml"]), via="process")
add(C18, "deep-nesting-in-the-distill-arguments",
    _hostile(lambda r: r.set_arg(DLOG, "data_paths", "[" * 5000 + "]" * 5000), DLOG), via="process")
add(C18, "deep-nesting-in-vllm-non-default-args",
    _hostile(lambda r: r.sub(blog("7b-bf16"), "non-default args: {", "non-default args: {'x': " + "[" * 5000 + "]" * 5000 + ", "),
             "bench"),
    via="process")

LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 10))
BOMB = "l0: &l0 [lol]\n" + LAUGHS


@attack(C18, "billion-laughs-in-run-config-yml", via="process")
def _(r):
    rel = _run_config(r)
    r.write(rel, r.read(rel) + BOMB)
    r.argv = verify_argv("eval")


@attack(C18, "alias-fan-out-in-results-yml", via="process")
def _(r):
    """results.tasks: 300 tasks, each the same 300 metrics, each the same 300 scores: 27 million scores from a few
    thousand lines, by aliases."""
    rel = _results_yml(r)
    scores = "".join(f"    s{i}: {{value: 1.0}}\n" for i in range(300))
    metrics = "".join(f"    m{i}: {{scores: *S}}\n" for i in range(300))
    tasks = "".join(f"      t{i}: {{metrics: *M}}\n" for i in range(300))
    r.write(rel, "command: ns eval\nS: &S\n" + scores + "M: &M\n" + metrics + "results:\n  tasks:\n" + tasks)
    r.argv = verify_argv("eval")


@attack(C18, "billion-laughs-in-the-goldens", via="process")
def _(r):
    r.goldens_copy(lambda t: t + "\n" + BOMB.replace("l0:", "x0:"))
    r.argv = ["verify", "{run}", "--expected", r.path.parent / "goldens.yaml"]


SPACES = 300_000


@attack(C18, "a-long-run-of-spaces-in-the-distill-arguments", via="process")
def _(r):
    r.set_arg(DLOG, "data_path_to_cache", "/data/cache" + " " * SPACES + "x")
    r.argv = verify_argv("distill")


@attack(C18, "a-50-mib-line-in-the-bench-log", via="process", expect_pass="a long line is no error in itself (tools print "
        "long config dumps): the values around it are whole, and it is judged within the suite's time and memory limits")
def _(r):
    r.write(blog("7b-bf16"), r.read(blog("7b-bf16")).replace("When dataset path", "x" * (50 << 20) + "\nWhen dataset path"))
    r.argv = verify_argv("bench")


@attack(C18, "a-huge-rich-panel-in-the-prune-log", via="process", expect_pass="rows the parser does not know are not values; "
        "what matters is that 20,000 of them are read within the suite's limits (linear: see the parser tests)")
def _(r):
    """A 0.45-format log whose Best Subnet panel has 20,000 rows."""
    text = prune_log("modelopt-0.45", out=f"{r.orig}/prune/hf")
    row = next(ln for ln in text.split("\n") if ln.startswith("│ params"))
    r.write(PLOG, text.replace(row, "\n".join([row.replace("params", "pad   ")] * 20000 + [row]), 1))
    r.argv = verify_argv("prune")


WHY_FIFO = "hang: the file is opened without asking whether it is a regular file; a FIFO blocks the open for ever"
WHY_SLURP = "traceback: the file is read whole without asking what it is or bounding its size; /dev/zero ends in MemoryError"
mark(C18, {
    **{f"fifo-as-{n}": WHY_FIFO.format(what=n) for n in FIFO_AT if n != "convert-shard"},
    "fifo-as-results-yml": WHY_FIFO.format(what="results.yml"),
    "device-as-distill-log-dev-zero": "hang: the distill log's scan carries a line that never ends, growing and copying it "
                                      "(quadratic) until the CPU limit",
    "device-as-bench-log-dev-urandom": "hang: the bench log is read line by line from a device that never ends",
    **{f"device-as-{n}": WHY_SLURP.format(what=n.rsplit("-dev-", 1)[0], dev="/dev/" + n.rsplit("-dev-", 1)[1])
       for n in ("manifest-dev-zero", "convert-config-dev-zero", "lm-eval-results-dev-zero", "step-json-dev-zero",
                 "results-yml-dev-zero")},
    "deep-nesting-in-lm-eval-results": "traceback: RecursionError from json.loads of lm-eval's results is not caught",
    "deep-nesting-in-run-config-yml": "traceback: RecursionError from the YAML loader of run_config.yml is not caught",
    "deep-nesting-in-a-safetensors-header": "traceback: RecursionError from json.loads of a safetensors header is not caught",
    "deep-nesting-in-the-goldens": "traceback: RecursionError from the goldens' YAML loader is not caught",
    "billion-laughs-in-run-config-yml": "PASS: run_config.yml is read for framework_name only; a 10^9-element alias bomb "
                                        "beside it passes (once its keys are judged, it must stay bounded)",
    "alias-fan-out-in-results-yml": "hang: results.yml is loaded with aliases and walked task x metric x score: 27 million "
                                    "scores from a few thousand lines",
    "a-long-run-of-spaces-in-the-distill-arguments": "hang: the arguments line regex `(.*?)\\s*$` is quadratic in a run "
                                                     "of spaces",
})


# ---------------------------------------------------------------- linear handling (the parsers, measured directly)


def _t(fn, arg) -> float:
    """CPU seconds of this process (other work on a shared machine does not count), best of 3, the garbage collector
    held off (its passes grow with every object alive, not with this input)."""
    import gc

    best = float("inf")
    for _ in range(3):
        gc.collect()
        gc.disable()
        try:
            t0 = time.process_time()
            fn(arg)
            best = min(best, time.process_time() - t0)
        finally:
            gc.enable()
    return best


def _distill_with_line(n: int) -> str:
    return distill_log(train_iters=20).replace("/data/cache", "/data/cache" + " " * n + "x", 1)


def _prune_with_line(n: int) -> str:
    return prune_log().replace("8192\n", "8192" + " " * n + "x\n", 1)


def _bench_long_line(n: int) -> str:
    return bench_log(13.1, 963).replace("When dataset path", "x" * n + "\nWhen dataset path", 1)


def _bench_many_lines(n: int) -> str:
    return bench_log(13.1, 963).replace("When dataset path", "INFO 05-21 10:00:00 [loader.py:1] filler\n" * n
                                        + "When dataset path", 1)


def _prune_panel(n: int) -> str:
    text = prune_log("modelopt-0.45")
    row = next(ln for ln in text.split("\n") if ln.startswith("│ params"))
    return text.replace(row, "\n".join([row.replace("params", "pad   ")] * n + [row]), 1)


def _distill_lines(n: int) -> str:
    return distill_log(train_iters=n * 10, save_interval=n * 10)


def _results_tasks(n: int) -> str:
    """results.yml as the launcher writes it (block style), with n tasks."""
    return "command: ns eval\nresults:\n  tasks:\n" + "".join(
        f"    t{i}:\n      metrics:\n        m:\n          scores:\n            s:\n              value: 1.0\n"
        for i in range(n))


LINEAR = {  # name: (parser call, input builder, small n, gap)
    "distill-arguments-line-of-spaces": (lambda t: _parse("distill", t), _distill_with_line, 1000,
                                         "quadratic: the arguments line regex `(.*?)\\s*$` retries a run of spaces at "
                                         "every position"),
    "prune-arguments-line-of-spaces": (lambda t: _parse("prune", t), _prune_with_line, 1000,
                                       "quadratic: the arguments line regex `(.*?)\\s*$` retries a run of spaces at "
                                       "every position"),
    "bench-one-long-line": (lambda t: _parse("bench", t), _bench_long_line, 1 << 20, ""),
    "bench-many-lines": (lambda t: _parse("bench", t), _bench_many_lines, 5000, ""),
    "prune-rich-panel-rows": (lambda t: _parse("prune", t), _prune_panel, 500, ""),
    "distill-iterations": (lambda t: _parse("distill", t), _distill_lines, 300, ""),
    "eval-results-tasks": (lambda t: __import__("checks.steps.eval_", fromlist=["x"]).parse_results(t, None),
                           _results_tasks, 500, ""),
}


def _parse(step: str, text: str):
    import importlib

    return importlib.import_module(f"checks.steps.{step}").parse_log(text)


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("a", [a for a in CASES if a.via != "process"], ids=[a.id for a in CASES if a.via != "process"])
def test_closed_world_attack_is_never_passed(a, pristine_run, tmp_path):
    run = clone(pristine_run, tmp_path / "tutorial")
    r = RC(run, pristine_run)
    a.do(r)
    check(a, judge_case(a, r))


@pytest.fixture(scope="module", autouse=True)
def launched(request, pristine_run, tmp_path_factory):
    """Every selected hostile case, prepared, then judged by subprocesses in the background while the in-process
    cases run (a hang costs its limit once, not once per case)."""
    chosen = [item.callspec.params["a"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_hostile_input_is_bounded" and hasattr(item, "callspec")]
    compute = ThreadPoolExecutor(max_workers=PROCESS_WORKERS)
    block = ThreadPoolExecutor(max_workers=max(1, sum(a.blocking for a in chosen)))
    out = {}
    for a in sorted(chosen, key=lambda a: not a.blocking):
        d = tmp_path_factory.mktemp("hostile")
        r = RC(clone(pristine_run, d / "tutorial"), pristine_run)
        try:
            a.do(r)
        except Exception:  # noqa: BLE001 - reported by the case's own test
            out[a.id] = traceback.format_exc()
            continue
        argv = [str(x).replace("{run}", str(r.path)).replace("{dir}", str(d)) for x in r.argv]
        out[a.id] = (block if a.blocking else compute).submit(verdict_process, argv)
    yield out
    for pool in (compute, block):
        pool.shutdown(wait=True)


@pytest.mark.parametrize("a", [a for a in CASES if a.via == "process"], ids=[a.id for a in CASES if a.via == "process"])
def test_hostile_input_is_bounded(a, launched):
    got = launched[a.id]
    assert not isinstance(got, str), f"attack setup failed:\n{got}"
    check(a, got.result())


# 10x the input may take ~12x the time: a growing working set costs a little more per item (PyYAML's C loader reading
# results.yml goes from 29 to 39 us a task between 200 and 20,000 tasks: 11.8-12.6x for 10x), so 13x is allowed;
# quadratic code takes ~100x.
LINEAR_LIMIT = 13.0


@pytest.mark.parametrize("name", list(LINEAR))
def test_parser_is_linear_in_its_input(name):
    """10x the input takes at most ~12x the CPU time (best of 3 each), measured on the pure parsers."""
    fn, build, n, gap = LINEAR[name]
    small, big = build(n), build(10 * n)
    t1, t10 = _t(fn, small), _t(fn, big)
    ratio = t10 / max(t1, 1e-4)
    if gap:
        assert ratio > LINEAR_LIMIT, f"linear now ({ratio:.1f}x for 10x the input): drop the gap of {name}"
        pytest.xfail(f"known gap: {gap} ({ratio:.0f}x for 10x the input)")
    assert ratio <= LINEAR_LIMIT, f"{name}: {t1 * 1e3:.1f} ms -> {t10 * 1e3:.1f} ms for 10x the input ({ratio:.1f}x)"


def test_the_safetensors_library_reads_the_fixture_shards(pristine_run):
    """So that "refused by the library" in class 17 is the edit's doing, not the fixture's."""
    for rel in (SHARD, f"{CONV}/model-00001-of-00004.safetensors", f"{QC}/hf_fp8/model-00001-of-00004.safetensors"):
        assert refused_by_safetensors(pristine_run / rel) is None, rel


def test_the_faithful_run_passes_every_way_it_is_judged_here(pristine_run, tmp_path):
    """The controls the suite relies on: verify, report and watch of the faithful run all exit 0."""
    run = clone(pristine_run, tmp_path / "tutorial")
    assert verdict_verify(run).kind == "PASS"
    assert verdict_cli(["report", run, "--html", tmp_path / "r.html"]).kind == "PASS"
    assert verdict_cli(["watch", run, "--step", "distill", "--once"]).kind == "PASS"


# ---------------------------------------------------------------- summary


def summary() -> dict[str, tuple[int, int]]:
    out: dict[str, list[int]] = {}
    for a in CASES:
        n = out.setdefault(a.cls, [0, 0])
        n[0] += 1
        n[1] += bool(a.gap)
    n = out.setdefault(C18, [0, 0])
    n[0] += len(LINEAR)
    n[1] += sum(bool(v[3]) for v in LINEAR.values())
    return {k: (v[0], v[1]) for k, v in out.items()}


def probe(pattern: str = "") -> int:
    """Judge each case (outside pytest) and say where the marks no longer hold."""
    import tempfile

    from tutorial_run import build_run

    wrong = 0

    def report(a: Case, o: Outcome, took: float) -> None:
        nonlocal wrong
        want = a.gap_kind or ("PASS" if a.expect_pass else "caught")
        wrong += o.kind != want
        print(f"{'ok' if o.kind == want else 'WRONG':<7} {a.id:<95} {o.kind:<9} (marked {want}) {took:5.2f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=PROCESS_WORKERS) as pool, \
            ThreadPoolExecutor(max_workers=64) as block:
        pristine = build_run(Path(tmp) / "pristine", aggressive=True)
        pending = []
        for i, a in enumerate(x for x in CASES if pattern in x.id):
            d = Path(tmp) / f"c{i}"
            r = RC(clone(pristine, d / "tutorial"), pristine)
            t0 = time.monotonic()
            try:
                a.do(r)
            except Exception as e:  # noqa: BLE001
                print(f"SETUP   {a.id}: {e!r}")
                wrong += 1
                continue
            if a.via == "process":
                argv = [str(x).replace("{run}", str(r.path)).replace("{dir}", str(d)) for x in r.argv]
                pending.append((a, t0, (block if a.blocking else pool).submit(verdict_process, argv)))
            else:
                report(a, judge_case(a, r), time.monotonic() - t0)
                shutil.rmtree(d, ignore_errors=True)
        for a, t0, fut in pending:
            report(a, fut.result(), time.monotonic() - t0)
    return 1 if wrong else 0


def gaps_by_reason() -> None:
    """Each class's gaps grouped by why: what closed-world judging has to close."""
    for cls in sorted({a.cls for a in CASES}, key=lambda c: int(c.split("-")[0])):
        by: dict[str, list[str]] = {}
        for a in CASES:
            if a.cls == cls and a.gap:
                by.setdefault(a.gap, []).append(a.name)
        if cls == C18:
            for name, v in LINEAR.items():
                if v[3]:
                    by.setdefault(f"quadratic parser: {v[3]}", []).append(f"linear:{name}")
        print(f"{cls}: {sum(map(len, by.values()))} gaps")
        for why, names in sorted(by.items(), key=lambda kv: -len(kv[1])):
            print(f"  [{len(names)}] {why}")
            print(f"      {', '.join(names)}"[:400])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        raise SystemExit(probe(sys.argv[2] if len(sys.argv) > 2 else ""))
    if len(sys.argv) > 1 and sys.argv[1] == "--gaps":
        gaps_by_reason()
        raise SystemExit(0)
    total = gaps = 0
    for k, (n, g) in sorted(summary().items(), key=lambda kv: int(kv[0].split("-")[0])):
        print(f"{k:<40} {n:>4} cases  {g:>4} gaps")
        total, gaps = total + n, gaps + g
    print(f"{'total':<40} {total:>4} cases  {gaps:>4} gaps")
    kinds = {k: sum(a.gap_kind == k for a in CASES) for k in GAP_KINDS}
    print("gaps by kind: " + ", ".join(f"{n} {k}" for k, n in kinds.items()) +
          f", {sum(bool(v[3]) for v in LINEAR.values())} quadratic parsers")
    print("cases judged right to PASS:")
    for a in CASES:
        if a.expect_pass:
            print(f"  {a.id}: {a.expect_pass}")
