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
    assert set(r.final_losses) == {"total loss", "logits distillation loss"} and r.main_loss == "total loss"
    assert r.nan_iterations == r.skipped_iterations == r.nonfinite_losses == r.dropped_loss_values == 0
    assert r.missing_iterations == [] and r.iterations_without_loss == r.consumed_samples_mismatches == 0
    assert r.lr_schedule_max_rel_error < 1e-6 and r.loss_reduction > 1.5 and r.foreign_fragments == 0
    assert r.args["lr"] == 1e-4 and r.args["tp_size"] == 8 and r.args["trust_remote_code"] is True
    assert len(r.segments) == 1 and r.resumed_from == [] and r.restarts_from_scratch == [] and r.trouble == []
    assert r.where["last_iteration"] == "step.log:" + str(distill_log().split("\n").index(
        next(x for x in distill_log().split("\n") if "iteration    16000/" in x)) + 1)


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


# ------------------------------------------------------------ one run per log


def _split(text, it):
    """The log cut just after iteration `it`'s checkpoint save (a crash there)."""
    lines = text.split("\n")
    k = max(i for i, x in enumerate(lines) if f"saved checkpoint from iteration {it:7d}" in x)
    return lines[:k + 1], lines


def test_a_resume_from_the_runs_own_checkpoint_is_one_run():
    log = distill_log(train_iters=2000)
    head, lines = _split(log, 800)
    crash = head + [" [2026-05-20 10:00:00] iteration      810/    2000 | consumed samples:       622080 |",
                    "[rank3]: Traceback (most recent call last):", "[rank3]: RuntimeError: NCCL timeout"]
    resume = ["", " loading distributed checkpoint from /runs/r/distill/output/checkpoints at iteration 800"]
    tail = [x for x in lines[lines.index(head[-1]) + 1:]]
    r = distill.parse_log("\n".join(crash + resume + tail))
    assert r.resumed_from == [800] and r.restarts_from_scratch == [] and r.out_of_order == 0
    assert r.last_iteration == 2000 and r.completed and r.checkpoints == list(range(400, 2001, 400))
    assert r.missing_iterations == [] and r.trouble and r.trouble_after_completion is None
    assert [i.iteration for i in r.iterations] == list(range(10, 2001, 10))


def test_two_runs_concatenated_are_told_apart_from_a_resume():
    log = distill_log(train_iters=200, save_interval=100)
    r = distill.parse_log(log.split("Distillation done!")[0] + "\nKilled\n" + log)
    assert len(r.restarts_from_scratch) == 1 and r.restarts_from_scratch[0].startswith("step.log:")
    assert r.trouble and "Killed" in r.trouble[0]


def test_a_traceback_after_the_completion_line_is_recorded_with_its_line():
    text = distill_log(train_iters=100) + "\n[rank0]: Traceback (most recent call last):\n[rank0]: OSError: disk full\n"
    r = distill.parse_log(text)
    assert r.completed and r.trouble_after_completion.startswith("step.log:")
    assert "Traceback" in r.trouble_after_completion


def test_changed_arguments_in_a_second_block_are_recorded():
    log = distill_log(train_iters=100)
    r = distill.parse_log(log + "\n" + log.replace("lr                                  0.0001", "lr                                  0.001"))
    assert any(c.startswith("lr: 0.0001 -> 0.001") for c in r.args_changed)


def test_lr_off_schedule_and_consumed_samples_off_are_counted():
    log = distill_log(train_iters=1000)
    bad = log.replace("learning rate: 5.", "learning rate: 6.", 1)
    assert distill.parse_log(bad).lr_schedule_max_rel_error > 0.1
    gbs = log.replace("consumed samples:       153600", "consumed samples:       150000")
    r = distill.parse_log(gbs)
    assert r.consumed_samples_mismatches == 1 and "consumed_samples_mismatches" in r.where


def test_a_flat_loss_shows_as_no_reduction():
    import re

    flat = re.sub(r"(total loss|logits distillation loss): [0-9.E+-]+", r"\1: 5.000000E-01", distill_log(train_iters=500))
    assert distill.parse_log(flat).loss_reduction == 1.0


# ------------------------------------------------------------ real output (tests/fixtures/real/megatron)

REAL = __import__("pathlib").Path(__file__).parent / "fixtures" / "real" / "megatron"


def real(name, dedent=0):
    """A real paste; `dedent` removes the markdown indentation the page added (see PROVENANCE.md)."""
    return "\n".join(x[dedent:] for x in (REAL / name).read_text().split("\n"))


def test_real_torchrun_tee_prefix_is_stripped():
    r = distill.parse_log(real("flagscale_openseek_torchrun_default0_prefix.log", dedent=5))
    (it,) = r.iterations
    assert it.iteration == 1 and it.losses["lm loss"] == 11.92634 and it.losses["load_balancing_loss"] == 1.041994
    assert r.foreign_fragments == 0


def test_real_srun_label_prefix_is_stripped():
    r = distill.parse_log(real("megatronlm_awsome_slurm_srun_l_prefix.log", dedent=3))
    assert [i.iteration for i in r.iterations] == [25, 26, 27] and r.iterations[0].losses == {"lm loss": 10.86954}


def test_real_interleaved_rank_output_is_not_a_loss():
    r = distill.parse_log(real("mbridge_llama31_dgxc_interleaved_params_memory.log"))
    (it,) = r.iterations
    assert it.losses == {"lm loss": 12.58695} and r.foreign_fragments == 1
    assert r.memory_gb["mem-max-allocated-gigabytes"] == 194.41
    r = distill.parse_log(real("megatronlm_issue1880_interleaved_params_memory_mb.log"))
    assert r.iterations[0].losses == {"lm loss": 12.11149} and r.foreign_fragments == 1  # "|Number" cut short
    assert abs(r.memory_gb["max allocated"] - 22083.29296875 / 1024) < 1e-9


def test_real_extra_loss_names_and_fields():
    r = distill.parse_log(real("mbridge_issue4024_nemotron_super_lora_mtp_losses.log"))
    assert set(r.iterations[0].losses) == {"lm loss", "seq_load_balancing_loss", "mtp_1 loss", "mtp_2 loss"}
    r = distill.parse_log(real("megatronlm_issue756_throughput_load_balancing.log"))
    assert r.iterations[0].tflops_per_gpu == 243.6 and r.foreign_fragments == 0


def test_real_nan_grad_norm_with_the_loss_missing_is_an_iteration_without_loss():
    r = distill.parse_log(real("megatron_deepspeed_issue396_grad_norm_nan_no_lm_loss.log"))
    assert len(r.iterations) >= 3 and r.iterations_without_loss == len(r.iterations)
    assert all(math.isnan(i.grad_norm) for i in r.iterations)


def test_real_skipped_iterations_in_an_fp16_run():
    r = distill.parse_log(real("megatronlm_nccl_issue743_2022_skipped_then_loss_timers.log"))
    assert r.skipped_iterations >= 10 and r.iterations[0].losses == {}


def test_real_resume_line_then_a_traceback():
    r = distill.parse_log(real("mbridge_issue1544_resume_load_then_rank0_traceback.log"))
    assert r.iterations == [] and r.trouble and r.trouble[0].split(": ", 1)[1].startswith("Traceback")
    assert r.segments and r.segments[0].resumed_from is None  # loaded, never reached an iteration


def test_real_save_lines_with_timers_joined():
    for name in ("mbridge_llama31_dgxc_save_checkpoint_main.log", "mbridge_llama31_dgxc_save_checkpoint_v25.12.log"):
        with __import__("pytest").raises(Exception):
            distill.parse_log(real(name))  # a save line alone is no training log
        r = distill.parse_log(real("mbridge_docs_v0.3.0_mtp_guide_no_timestamp.log") + "\n" + real(name))
        assert r.checkpoints == [50]


def test_real_terminal_wrapped_paste_never_passes_as_healthy():
    r = distill.parse_log(real("mbridge_pr841_terminal_wrapped_paste_nsys.log"))
    assert r.iterations and r.iterations_without_loss == len(r.iterations)
