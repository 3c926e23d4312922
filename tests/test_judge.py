import math

import pytest

from checks import judge as engine, values
from checks.findings import ERROR, FAIL, PASS, SKIP, Finding, exit_code
from checks.judge import judge_value
from checks.values import compare
from checks.run import Context
from checks.goldens import Golden, Tolerance


def g(**kw):
    base = dict(step="bench", id="x", source="test", tol=Tolerance("rel", 0.1), path="runs.a.v", expect=100.0)
    base.update(kw)
    return Golden(**base)


REC = {"runs": {"a": {"v": 105.0}, "b": {"v": 50.0}}, "layout": {"mlp.up_proj": "F8_E4M3"}}


@pytest.mark.parametrize("m,e,tol,status", [
    (105, 100, Tolerance("rel", 0.05), PASS),
    (105.01, 100, Tolerance("rel", 0.05), FAIL),
    (94.9, 100, Tolerance("abs", 5), FAIL),
    (95, 100, Tolerance("abs", 5), PASS),
    (float("nan"), 100, Tolerance("abs", 1e9), FAIL),
    (float("inf"), 100, Tolerance("at_most", 1e9), FAIL),
    (7e9, None, Tolerance("at_most", 7e9), PASS),
    (7e9 + 1, None, Tolerance("at_most", 7e9), FAIL),
    ("12", 12, Tolerance("abs", 1), ERROR),
    (True, 1, Tolerance("abs", 1), ERROR),
    ([1, 2], [1, 2], Tolerance("exact"), PASS),
    ([1, 2], [1, 2, 3], Tolerance("exact"), FAIL),
    ({"a": 1}, {"a": 1.0}, Tolerance("exact"), PASS),
    (True, 1, Tolerance("exact"), FAIL),
])
def test_compare(m, e, tol, status):
    assert compare(m, e, tol)[0] == status


def test_binomial_width_gpqa():
    # GPQA Diamond, 198 questions x 8 repeats, p = 0.569: 3 * sqrt(2 * .569 * .431 / 1584) = 5.28 pp
    assert values.binomial_width(Tolerance("binomial", n=198, repeats=8, z=3), 56.9) == pytest.approx(5.28, abs=0.01)
    # The width never collapses to zero, even at 0% or 100%.
    assert values.binomial_width(Tolerance("binomial", n=30, repeats=1, z=3), 0.0) > 0


def test_greedy_keys_with_dots():
    v = judge_value(g(path="layout.mlp.up_proj", expect="F8_E4M3", tol=Tolerance("exact")), REC, Context())
    assert v.status == PASS


def test_ratio_and_missing_paths():
    assert judge_value(g(path=None, ratio=("runs.a.v", "runs.b.v"), expect=2.0), REC, Context()).status == PASS
    v = judge_value(g(path="runs.c.v"), REC, Context())
    assert v.status == ERROR and "not found" in v.note
    assert judge_value(g(path="runs.c.v", optional=True), REC, Context()).status == SKIP
    # optional skips an absent run, never an absent value inside a run that exists
    assert judge_value(g(path="runs.a.w", optional=True), REC, Context()).status == ERROR


def test_by_gpu_skips_only_when_no_golden_for_that_gpu():
    gold = g(expect=None, by_gpu={"H100": 100.0})
    assert judge_value(gold, REC, Context(gpu_model="NVIDIA H100 80GB HBM3")).status == PASS
    v = judge_value(gold, REC, Context(gpu_model="NVIDIA A100-SXM4-80GB"))
    assert v.status == SKIP and "no golden for GPU" in v.note
    assert judge_value(gold, REC, Context()).status == SKIP
    assert values.gpu_key("NVIDIA H100 NVL", ["H100", "H100 NVL"]) == "H100 NVL"
    assert values.gpu_key("NVIDIA H1000", ["H100"]) is None


def test_requires_and_formats_gates():
    gold = g(requires={"world_size": 768})
    assert judge_value(gold, REC, Context(world_size={"bench": 8})).status == SKIP
    assert judge_value(gold, REC, Context(world_size={"bench": 768})).status == PASS
    assert judge_value(g(formats=["modelopt-0.44"]), REC, Context(), "modelopt-0.46").status == SKIP


def test_exit_codes():
    V = Finding
    assert exit_code([V("s", "a", PASS), V("s", "b", SKIP)]) == 0
    assert exit_code([V("s", "a", PASS), V("s", "b", FAIL)]) == 1
    assert exit_code([V("s", "a", FAIL), V("s", "b", ERROR)]) == 2


def test_nan_never_passes_any_numeric_tolerance():
    for tol in (Tolerance("abs", math.inf), Tolerance("rel", 1e9), Tolerance("at_least", -math.inf),
                Tolerance("binomial", n=1, repeats=1, z=1e9)):
        assert compare(math.nan, 1.0, tol)[0] != PASS


def _eval_goldens():
    from checks import goldens as G
    from conftest import EXPECTED

    return [g for g in G.load(EXPECTED).steps["eval"] if g.id.startswith("iter_12800_")]


def _judge_eval(scores: dict, ctx):
    gs = _eval_goldens()
    rec = {"models": {"iter_12800": scores}}
    found = {g.id: judge_value(g, rec, ctx) for g in gs if not g.mean_of}
    avg = next(g for g in gs if g.mean_of)
    return found, engine.judge_mean(avg, found)


def test_the_average_fails_when_every_part_drifts_the_same_way_within_its_own_band():
    ctx = Context(deviations={"eval": {"addition-eval-math500"}})
    gs = [g for g in _eval_goldens() if not g.mean_of]
    # each benchmark 90% of its own half-width high: every cell PASSes ...
    scores = {}
    for g in gs:
        w = values.binomial_width(g.tol, g.expect)
        scores[g.path.split(".", 2)[2]] = g.expect + 0.9 * w
    found, avg = _judge_eval(scores, ctx)
    assert all(f.status == PASS for f in found.values())
    # ... but their mean is off by 0.9 x the mean width, beyond sqrt(sum w^2)/8: the Average FAILs
    assert avg.status == FAIL and avg.expected == 65.1 and "off by" in avg.note
    # exactly the tutorial's row passes
    found, avg = _judge_eval({g.path.split(".", 2)[2]: g.expect for g in gs}, ctx)
    assert avg.status == PASS


def test_without_math500_the_average_is_judged_over_the_seven_that_ran_and_says_so():
    gs = [g for g in _eval_goldens() if not g.mean_of]
    scores = {g.path.split(".", 2)[2]: g.expect for g in gs if "AA_math" not in g.id}
    found, avg = _judge_eval(scores, Context())
    math = next(f for f in found.values() if "AA_math" in f.id)
    assert math.status == SKIP and "addition-eval-math500" in math.note
    seven = [g.expect for g in gs if "AA_math" not in g.id]
    assert avg.status == PASS and abs(avg.expected - sum(seven) / 7) < 1e-9
    assert "over the 7 of 8 benchmarks that ran" in avg.note and "AA_math_test_500" in avg.note
    scores[next(iter(scores))] = 0.0  # one benchmark collapses: the average of seven notices
    assert _judge_eval(scores, Context())[1].status == FAIL
