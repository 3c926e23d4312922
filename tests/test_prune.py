import io

import pytest
from rich.console import Console
from rich.table import Table

from checks.errors import CheckError, FormatNotRecognised
from checks.run import load_path
from checks.steps import prune
from tutorial_run import EXCERPT, ORIGINAL_PATTERN, PRUNED_PATTERN, prune_log

BEST = {"num_layers": 48, "hidden_size": 4352, "mamba_num_heads": 120, "mamba_head_dim": 80, "ffn_hidden_size": 13824}


def test_tutorial_excerpt_is_the_0_44_format():
    r = prune.parse_log(EXCERPT)
    assert r.format == "modelopt-0.44"
    assert (r.width_pct, r.depth_pct) == (40, 20)
    assert r.skipped_hparams == ["num_attention_heads"]
    assert r.total_search_space == 17472 == 6 * 8 * 7 * 4 * 13
    assert len(r.candidates) == 10 and r.candidates[0].score == 0.2019
    assert r.best_subnet.config == BEST and r.best_subnet.score == 0.6789 and r.best_subnet.params == 7.0e9
    assert r.dropped_layers == [43, 44, 45, 46, 47, 48, 50, 52]
    assert (r.original_pattern, r.pruned_pattern) == (ORIGINAL_PATTERN, PRUNED_PATTERN)
    assert not r.completed  # the excerpt stops before "Done!"


def test_full_0_44_log_takes_the_scored_block_and_the_last_drop_line():
    r = prune.parse_log(prune_log("modelopt-0.44"))
    assert r.format == "modelopt-0.44" and r.completed
    # Every candidate is scored with its own "Dropping decoder layers" line first; the last one counts.
    assert r.dropped_layers == [43, 44, 45, 46, 47, 48, 50, 52]
    assert [c.score for c in r.candidates] == [c.score for c in prune.parse_log(EXCERPT).candidates]
    assert r.original_params == 8.89e9 and r.pruned_params == 7.0e9


@pytest.mark.parametrize("fmt", ["modelopt-0.45", "modelopt-0.46"])
def test_rich_formats_give_the_same_facts(fmt):
    old, new = prune.parse_log(prune_log("modelopt-0.44")), prune.parse_log(prune_log(fmt))
    assert new.format == fmt
    for field in ("width_pct", "depth_pct", "skipped_hparams", "search_space", "total_search_space",
                  "candidates", "best_subnet", "dropped_layers", "completed"):
        assert getattr(new, field) == getattr(old, field), field
    assert (new.original_pattern is None) == (fmt == "modelopt-0.46")


def test_rich_rows_wrapped_over_lines_are_joined():
    t = Table(title="Top 2 Candidates with Scores")
    for c in ("#", "export_config", "params", "score"):
        t.add_column(c)
    t.add_row("1", str(BEST), "7.00B", "0.6789")
    t.add_row("2", str({**BEST, "num_layers": 50}), "6.99B", "0.5000")
    buf = io.StringIO()
    Console(file=buf, width=70, force_terminal=False).print(t)
    assert buf.getvalue().count("\n") > 8  # really wrapped
    r = prune.parse_log("Search space for num_layers: [46, 48]\n" + buf.getvalue())
    assert [c.config["num_layers"] for c in r.candidates] == [48, 50]
    assert r.candidates[1].params == 6.99e9


def test_unknown_text_is_format_not_recognised():
    with pytest.raises(FormatNotRecognised) as e:
        prune.parse_log("Epoch 1: loss 0.3\nall good\n")
    assert "format not recognised" in str(e.value) and "what to do" in str(e.value)


def test_started_but_cut_log_is_not_a_format_error():
    r = prune.parse_log("Pruning model (showing PP rank0): MambaModel(...)\nCUDA out of memory\n")
    assert r.format is None and r.best_subnet is None


def test_step_directory_reads_the_checkpoint(run):
    r = load_path("prune", run / "prune")
    ck = r.checkpoint
    assert ck.architectures == ["NemotronHForCausalLM"] and ck.hybrid_override_pattern == PRUNED_PATTERN
    assert (ck.num_layers, ck.hidden_size, ck.mamba_num_heads, ck.mamba_head_dim, ck.ffn_hidden_size) == (
        48, 4352, 120, 80, 13824)
    assert ck.params == 6_997_637_824  # below --prune_target_params 7e9, prints as 7.00B
    assert ck.layout["mamba.in_proj"] == "BF16"


def test_missing_checkpoint_is_recorded_not_raised(run):
    import shutil

    shutil.rmtree(run / "prune" / "hf")
    r = load_path("prune", run / "prune")
    assert r.checkpoint is None and "checkpoint directory missing" in r.errors["checkpoint"]


def test_missing_log_is_a_clear_error(tmp_path):
    (tmp_path / "prune").mkdir()
    with pytest.raises(CheckError) as e:
        load_path("prune", tmp_path / "prune")
    assert "log file missing" in str(e.value)


# ------------------------------------------------------------ real logs (tests/fixtures/real/modelopt-prune)

REAL = __import__("pathlib").Path(__file__).parent / "fixtures" / "real" / "modelopt-prune"


def test_real_0_44_log_from_the_tutorials_readme():
    r = prune.parse_log((REAL / "modelopt-0.44.0_nemotron-nano-9b-v2_prune_log.txt").read_text())
    assert r.format == "modelopt-0.44" and r.best_subnet.config == BEST and r.total_search_space == 17472


def test_real_rich_log_with_model_stats_panels_and_the_hybrid_layer_pattern_key():
    r = prune.parse_log((REAL / "modelopt-0.46.0_nemotron3-nano-30b_prune_log.txt").read_text())
    assert r.format == "modelopt-0.45" and "hybrid pattern lines" in r.format_evidence
    assert (r.original_params, r.pruned_params) == (31.58e9, 22.28e9)
    assert r.original_pattern.startswith("MEMEM*") and r.pruned_pattern == r.original_pattern
    assert r.total_search_space == 10800 and r.width_pct == 30 and r.depth_pct == 15
    assert len(r.candidates) == 10 and r.candidates[3].params == 22.28e9 and r.candidates[3].score == 0.4993
    assert r.best_subnet.config["num_moe_experts"] == 104 and r.best_subnet.params == 22.28e9
    # the same log without its pattern lines, as 0.46.0 prints it, is labelled 0.46 by what matched
    text = "\n".join(x for x in (REAL / "modelopt-0.46.0_nemotron3-nano-30b_prune_log.txt").read_text().split("\n")
                     if "hybrid_layer_pattern" not in x)
    r = prune.parse_log(text)
    assert r.format == "modelopt-0.46" and "no hybrid pattern lines" in r.format_evidence


@pytest.mark.parametrize("name", ["modelopt-pr1376_999c99913_nemotron3-nano-30b_prune_log.txt",
                                  "modelopt-pr1377_f0eaa198d_commitmsg_nemotron3-nano-30b_prune_log.txt",
                                  "modelopt-pr1024_f22f4f552_commitmsg_gpt-oss_prune_log_0.44-format.txt",
                                  "modelopt-pr1024_f22f4f552_commitmsg_nemotron3-nano-30b_prune_log_0.44-format.txt"])
def test_other_real_logs_give_a_best_subnet(name):
    r = prune.parse_log((REAL / name).read_text())
    assert r.format in prune.FORMATS and r.best_subnet is not None and r.best_subnet.config


def test_a_whitespace_mangled_paste_is_never_mistaken_for_a_good_log():
    text = (REAL / "modelopt-pr2159_f99523279_commitmsg_nemotron3.5-lightning_prune_log_WHITESPACE_MANGLED.txt").read_text()
    try:
        r = prune.parse_log(text)
    except FormatNotRecognised:
        return
    assert r.best_subnet is None or r.total_search_space is None or not r.candidates
