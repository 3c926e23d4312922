"""One evaluation engine (checks.engine.evaluate): on the faithful full fixture run (tests/tutorial_run.py), `checks
verify`, `checks watch` at the end of a replay of each live unit, and `checks diff` of the run against itself agree
value for value; and every command exits by one rule (checks.findings.exit_code)."""

from __future__ import annotations

import dataclasses
import json
import shutil

from checks import engine, goldens as G, registry
from checks.findings import ERROR, SAME, exit_code
from checks.run import Run
from checks.watch import Watcher, exit_code_of
from checks.watchstatus import Status
from conftest import EXPECTED, _sparse_copy

FIELDS = ("status", "expected", "measured", "low", "high", "tolerance", "source", "note", "where")


def _as_row(f) -> dict:
    return {k: getattr(f, k) for k in FIELDS}


def _replay(run, unit: str, goldens) -> list:
    """Write the unit's log into its step.log a chunk at a time while a Watcher follows it, the step running (no exit
    code), then end the step as the runner does; the findings of the last update."""
    log, meta = run / unit / "step.log", run / unit / "step.json"
    text, doc = log.read_text(), json.loads(meta.read_text())
    meta.write_text(json.dumps({**doc, "exit_code": None}))
    log.write_text("")
    w = Watcher(run, unit, goldens=goldens)
    lines = text.splitlines(keepends=True)
    step = max(1, len(lines) // 7)
    with log.open("a") as f:
        for i in range(0, len(lines), step):
            f.write("".join(lines[i:i + step]))
            f.flush()
            w.update()
    meta.write_text(json.dumps(doc))
    st = w.update()
    assert st.state in ("finished", "ended") and exit_code_of(st) == 0, [(f.id, f.status, f.note) for f in st.findings
                                                                          if f.status not in ("PASS", "XFAIL")]
    return st.findings


def test_verify_watch_at_the_end_of_a_replay_and_diff_against_itself_agree_value_for_value(pristine_run, tmp_path):
    goldens = G.load(EXPECTED)
    verify = engine.evaluate(goldens, Run.load(pristine_run))
    assert exit_code(verify) == 0
    by_id = {(f.step, f.id): f for f in verify}
    golden_ids = {(g.step, g.id) for gs in goldens.steps.values() for g in gs}

    # diff against itself: every golden SAME, the baseline's value and the candidate's both verify's measured value
    diff = engine.evaluate(goldens, Run.load(pristine_run), baseline=Run.load(pristine_run))
    judged = [f for f in diff if (f.step, f.id) in golden_ids]
    assert len(judged) == len(golden_ids) and exit_code(diff) == 0
    for f in judged:
        v = by_id[(f.step, f.id)]
        assert f.status == SAME or (f.status == "SKIP" and v.status == "SKIP"), (f.id, f.status, f.note)
        assert f.expected == f.measured == v.measured, (f.step, f.id, f.expected, f.measured, v.measured)

    # watch, at the end of a replay of each unit it can follow: the unit's goldens and rules as verify has them
    run = tmp_path / "run"
    shutil.copytree(pristine_run, run, copy_function=_sparse_copy)
    units = [f"{s}/{d.name}" if registry.get(s).per_variant else s for s in ("distill", "bench")
             for d in (sorted((run / s).iterdir()) if registry.get(s).per_variant else [run / s])
             if d.is_dir() and (d / "step.log").exists()]
    assert "distill" in units and "bench/7b-fp8" in units and len(units) >= 4
    compared = 0
    for unit in units:
        watched = {(f.step, f.id): f for f in _replay(run, unit, goldens)}
        step, _, variant = unit.partition("/")
        mine = [(g.step, g.id) for g in engine.unit_goldens(goldens.steps[step], step, variant or None)]
        rule_ids = [k for k in by_id if k[0] == step and any(k[1] in (r.id, f"{variant}_{r.id}")
                                                             for r in registry.get(step).rules)]
        for key in mine + rule_ids + [(step, f"{variant}_exit_code" if variant else "exit_code")]:
            assert key in watched, (unit, key)
            assert _as_row(watched[key]) == _as_row(by_id[key]), (unit, key)
            compared += 1
    assert compared > 100


def test_one_exit_code_rule_watch_says_2_on_error_as_verify_does():
    """Bug fixed (issue 17): watch answered 1 on an ERROR, where findings.exit_code (verify, diff, bless) says 2."""
    from checks.findings import Finding

    st = Status("run", "distill", "distill/step.log", "running", "now",
                findings=[Finding("distill", "settings_echoed_match_command", ERROR, note="no command recorded")])
    assert exit_code_of(st) == 2 == exit_code(st.findings)
    stopped = dataclasses.replace(st, findings=[], stop="NaN at iteration 300")
    assert exit_code_of(stopped) == 1
