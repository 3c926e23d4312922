"""Mutation suite: every checked value pushed just outside its tolerance, and every file the checks read
deleted, truncated or corrupted, must give FAIL or ERROR — never PASS. Counts are printed at the end."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random

import pytest

from checks import rundir, values
from checks.engine import evaluate
from checks.findings import PASS, XFAIL, XPASS, exit_code
from checks.judge import judge_value
from checks.values import binomial_width
from checks.run import Context, Run, context_from_manifest
from conftest import record_mutation

# Files that no check reads, and why that is right.
NOT_JUDGED = {
    "tokenizer.json": "prune/convert exports: the tokenizer is checked where it is needed (quantize, for vLLM)",
    "tokenizer_config.json": "tokenizer side files are not part of the reproduction claim",
    "special_tokens_map.json": "tokenizer side files are not part of the reproduction claim",
    "hf_quant_config.json": "config.json carries the same quantization_config, which is what loaders read",
}
UNREAD_LOGS = {"eval", "convert"}  # their facts come from results files / the checkpoint; step.json judges the exit


def _set(node, path: str, value) -> None:
    parts = path.split(".")
    i = 0
    while True:
        if isinstance(node, dict):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in node:
                    break
            else:
                raise KeyError(path)
        else:
            key, j = int(parts[i]), i + 1
        if j == len(parts):
            node[key] = value
            return
        node, i = node[key], j


def _outside(value, expected, tol):
    """Values just outside the tolerance around `expected` (or unequal to `value`, for exact)."""
    if tol.kind == "exact":
        if isinstance(value, bool):
            return [not value]
        if isinstance(value, int):
            return [value + 1, value - 1]
        if isinstance(value, float):
            return [value * (1 + 1e-9) + 1e-12]
        if isinstance(value, str):
            return [value + "x", value[:-1]]
        if isinstance(value, list):
            out = [value + [value[-1] if value else 0]]
            if value:
                out.append(value[:-1])
                if isinstance(value[0], int):
                    out.append([value[0] + 1] + value[1:])
            return out
        if isinstance(value, dict):
            k = next(iter(value))
            bumped = {**value, k: value[k] + 1 if isinstance(value[k], int) else "x"}
            return [bumped, {kk: v for kk, v in value.items() if kk != k}]
        raise AssertionError(f"no exact mutation for {value!r}")
    if tol.kind == "at_most":
        return [tol.value * (1 + 1e-9) + 1]
    if tol.kind == "at_least":
        return [tol.value * (1 - 1e-9) - 1]
    width = {"abs": tol.value, "rel": (tol.value or 0) * abs(expected)}.get(tol.kind) if tol.kind != "binomial" \
        else binomial_width(tol, expected)
    step = width * 1.001 + 1e-9 * max(1.0, abs(expected))
    return [expected + step, expected - step]


def _records(run, goldens):
    r = Run.load(run)
    return {s: dataclasses.asdict(r.step(s).record) for s in goldens.steps}


def test_every_checked_value_pushed_outside_its_tolerance_fails(pristine_run, goldens):
    ctx = context_from_manifest(json.loads((pristine_run / "manifest.json").read_text()))
    records = _records(pristine_run, goldens)
    escaped = []
    for step, gs in goldens.steps.items():
        for g in gs:
            if g.mean_of:
                continue  # a mean moves with its parts: tests/test_judge.py::test_the_average_* pushes them
            rec = records[step]
            base = judge_value(g, rec, ctx, rec.get("format"))
            if g.xfail:  # a known discrepancy: the run "repaired" to the golden must not pass silently (XPASS)
                assert base.status == XFAIL, (step, g.id, base.note)
                if g.ratio:
                    den = values.resolve(rec, g.ratio[1])
                    target = (g.ratio[0], base.expected * den)
                else:
                    target = (g.path, base.expected)
                mutated = copy.deepcopy(rec)
                _set(mutated, *target)
                v = judge_value(g, mutated, ctx, mutated.get("format"))
                record_mutation("xfail turned into a pass", v.status == XPASS)
                if v.status != XPASS:
                    escaped.append((step, g.id, "xfail"))
                continue
            assert base.status == PASS, (step, g.id, base.note)
            if g.ratio:
                den = values.resolve(rec, g.ratio[1])
                targets = [(g.ratio[0], r * den) for r in _outside(base.measured, base.expected, g.tol)]
            else:
                targets = [(g.path, v) for v in _outside(base.measured, base.expected, g.tol)]
            for path, value in targets:
                mutated = copy.deepcopy(rec)
                _set(mutated, path, value)
                v = judge_value(g, mutated, ctx, mutated.get("format"))
                record_mutation("value outside tolerance", v.status != PASS)
                if v.status == PASS:
                    escaped.append((step, g.id, value))
    assert not escaped, escaped


def _judged_files(run):
    for p in sorted(run.rglob("*")):
        if p.is_file() and p.name not in NOT_JUDGED:
            rel = p.relative_to(run)
            if p.name == rundir.LOG and rel.parts[0] in UNREAD_LOGS:
                continue
            yield p


def _verdict_passes(run, goldens, touched=None) -> bool:
    """Judge the run; when a file was touched, only its step needs judging again (the manifest: all)."""
    steps = None
    if touched is not None:
        top = touched.relative_to(run).parts[0]
        steps = [top] if top in goldens.steps else None
    return exit_code(evaluate(goldens, Run.load(run), steps=steps)) == 0


# Files whose digits carry nothing the checks judge.
DIGITS_NOT_JUDGED = {f"quantize/{v}/step.log": "its only digits are the time hf_ptq.py took (not a golden) and the "
                     "export path's, which lineage judges (caught by the other corruptions)" for v in ("conservative", "aggressive")}
# Files whose deletion leaves a fact that another file also records (the judge falls back to it).
DELETION_REDUNDANT = {"run_config.yml": "the harness is also named by the command results.yml records "
                                        "(tests/test_eval.py: without both, the scale is an ERROR)"}


def test_deleting_any_judged_file_is_caught(run, goldens):
    files = [f for f in _judged_files(run) if f.name not in DELETION_REDUNDANT]
    assert len(files) > 60
    escaped = []
    for f in files:
        saved = f.read_bytes() if f.suffix != ".safetensors" else None
        size = f.stat().st_size
        f.unlink()
        caught = not _verdict_passes(run, goldens, f)
        record_mutation("file deleted", caught)
        if not caught:
            escaped.append(str(f.relative_to(run)))
        if saved is not None:
            f.write_bytes(saved)
        else:
            _restore_shard(f, size, run)
    assert not escaped, escaped


def _restore_shard(f, size, run):
    from conftest import _sparse_copy  # noqa: F401  (sparse copies keep the fixture small)

    src = run.parent.parent.glob("**/pristine*/tutorial/" + str(f.relative_to(run)))
    _sparse_copy(next(src), f)
    assert f.stat().st_size == size


def _provenance_changed_verdicts(run, goldens, f) -> bool:
    """The manifest only conditions checks (GPU model, world size): a corrupted one must turn the
    checks that depend on it away from PASS (to SKIP with the reason shown), never leave them passing."""
    if f.name != rundir.MANIFEST:
        return False
    dependent = {(g.step, g.id) for gs in goldens.steps.values() for g in gs if g.by_gpu or g.requires}
    return all(v.status != PASS for v in evaluate(goldens, Run.load(run)) if (v.step, v.id) in dependent)


def _logs(run):
    for p in sorted(run.rglob(rundir.LOG)):
        if p.relative_to(run).parts[0] not in UNREAD_LOGS:
            yield p


def test_truncating_any_log_is_caught(run, goldens):
    rng = random.Random(0)
    escaped = []
    for log in _logs(run):
        text = log.read_text()
        lines = text.split("\n")
        last = max(i for i, l in enumerate(lines) if l.strip())
        cuts = sorted(set([0, last] + rng.sample(range(last), min(25, last))))
        for cut in cuts:
            log.write_text("\n".join(lines[:cut]))
            caught = not _verdict_passes(run, goldens, log)
            record_mutation("log truncated", caught)
            if not caught:
                escaped.append((str(log.relative_to(run)), cut))
        # A cut in the middle of a line, too.
        log.write_text(text[: len(text) // 2])
        caught = not _verdict_passes(run, goldens, log)
        record_mutation("log truncated", caught)
        if not caught:
            escaped.append((str(log.relative_to(run)), "mid-line"))
        log.write_text(text)
    assert not escaped, escaped


CORRUPTIONS = {
    "emptied": lambda b, r: b"",
    "random bytes": lambda b, r: bytes(r.randrange(256) for _ in range(max(64, min(len(b), 4096)))),
    "digits scrambled": lambda b, r: bytes((c - 48 + 1 + r.randrange(8)) % 10 + 48 if 48 <= c <= 57 else c for c in b),
}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupting_any_judged_file_is_caught(run, goldens, kind):
    rng = random.Random(1)
    escaped = []
    for f in _judged_files(run):
        if f.suffix == ".safetensors":
            continue  # shards: see test_truncated_or_garbled_shard
        if kind == "digits scrambled" and (str(f.relative_to(run)) in DIGITS_NOT_JUDGED or f.name == "run_config.yml"):
            continue  # run_config.yml holds no digit the judge reads
        saved = f.read_bytes()
        f.write_bytes(CORRUPTIONS[kind](saved, rng))
        caught = not _verdict_passes(run, goldens, f) or _provenance_changed_verdicts(run, goldens, f)
        record_mutation(f"file {kind}", caught)
        if not caught:
            escaped.append(str(f.relative_to(run)))
        f.write_bytes(saved)
    assert not escaped, escaped


def test_truncated_or_garbled_shard(run, goldens):
    for shard in sorted(run.rglob("*.safetensors")):
        size = shard.stat().st_size
        os.truncate(shard, size - 1)
        record_mutation("shard truncated", not _verdict_passes(run, goldens, shard))
        os.truncate(shard, size)
        with shard.open("rb") as fh:  # 16 bytes, not the whole sparse shard (gigabytes of zeros)
            head = fh.read(16)
        with shard.open("r+b") as fh:
            fh.seek(8)
            fh.write(b"\xff\xfe{{")
        record_mutation("shard header garbled", not _verdict_passes(run, goldens, shard))
        with shard.open("r+b") as fh:
            fh.write(head)
        assert _verdict_passes(run, goldens, shard)


def test_failed_step_exit_code_is_caught(run, goldens):
    for meta in sorted(run.rglob(rundir.META)):
        saved = meta.read_text()
        meta.write_text(json.dumps({**json.loads(saved), "exit_code": 1}))
        record_mutation("step exit code 1", not _verdict_passes(run, goldens, meta))
        meta.write_text(saved)


def test_unchanged_run_still_passes(run, goldens):
    assert _verdict_passes(run, goldens)


def test_context_defaults_are_safe():
    assert Context().gpu_model is None
