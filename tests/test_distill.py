import math

from checks.steps import distill
from tutorial_run import distill_log

LINE = (" [2026-05-20 10:00:00] iteration {it:8d}/{tot:8d} | consumed samples: {cs:12d} | elapsed time per "
        "iteration (ms): 2700.0 | learning rate: 1.000000E-04 | global batch size:   768 | {losses}loss scale: 1.0 |"
        " number of skipped iterations: {sk:3d} | number of nan iterations: {nan:3d} |")


def line(it, tot=30, losses="lm loss: 1.000000E+00 | total loss: 5.000000E-01 | ", sk=0, nan=0):
    return LINE.format(it=it, tot=tot, cs=it * 768, losses=losses, sk=sk, nan=nan)


def test_tutorial_run_figures():
    r = distill.parse_log(distill_log())
    assert r.format == "megatron-bridge" and r.completed
    assert r.tokens_per_iteration == 768 * 8192 == 6_291_456
    assert r.last_iteration == r.train_iters == 16000 and len(r.iterations) == 1600
    assert r.checkpoints == list(range(400, 16001, 400))
    assert abs(r.minutes_per_1k_iters - 45.0) < 0.2  # 2.7 s/iteration -> 45 min per 1k
    assert r.memory_gb["mem-max-allocated-gigabytes"] == 61.43
    assert set(r.final_losses) == {"lm loss", "total loss", "logits distillation loss", "intermediate distillation loss"}
    assert r.nan_iterations == r.skipped_iterations == r.nonfinite_losses == r.dropped_loss_values == 0
    assert r.missing_iterations == []


def test_nan_loss_omitted_from_line_is_detected():
    text = "\n".join([line(10), line(20, losses="lm loss: 1.000000E+00 | ", nan=1), line(30)])
    r = distill.parse_log(text)
    assert r.dropped_loss_values == 1 and r.nan_iterations == 1


def test_inf_and_nan_values_count_as_nonfinite():
    text = "\n".join([line(10, losses="lm loss: INF | total loss: NAN | "), line(20)])
    r = distill.parse_log(text)
    assert r.nonfinite_losses == 2 and math.isinf(r.iterations[0].losses["lm loss"])


def test_missing_and_skipped_iterations():
    r = distill.parse_log("\n".join([line(10, tot=50), line(20, tot=50, sk=2), line(40, tot=50)]))
    assert r.missing_iterations == [30] and r.skipped_iterations == 2
    assert r.last_iteration == 40 and r.train_iters == 50 and not r.completed


def test_resumed_run_is_flagged_out_of_order():
    r = distill.parse_log("\n".join([line(10), line(20), line(10), line(20), line(30)]))
    assert r.out_of_order == 1


def test_not_a_training_log():
    import pytest

    from checks.errors import FormatNotRecognised

    with pytest.raises(FormatNotRecognised):
        distill.parse_log("hello\nworld\n")
