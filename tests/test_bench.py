import json

import pytest

from checks.errors import CheckError, FormatNotRecognised
from checks.run import load_path
from checks.steps import bench
from tutorial_run import bench_log


def test_vllm_lines():
    r = bench.parse_log(bench_log(7.8, 1147))
    assert r.output_tokens_per_s == 1147.0 and r.model_loading_gib == 7.8 and r.completed
    assert r.prompt_tokens == 32_767_000 and r.output_tokens == 1_024_000
    assert r.requests_per_s == pytest.approx(1147 / 1024, abs=0.01)


@pytest.mark.parametrize("fmt", ["Model loading took 7.8 GiB memory and 3.1 seconds",
                                 "Model loading took 7.8000 GiB and 3.100000 seconds"])
def test_loading_line_variants(fmt):
    assert bench.parse_log(f"INFO vllm {fmt}\n").model_loading_gib == 7.8


def test_old_loading_lines_labelled_gb_are_already_gib():
    # vLLM <= 0.7.3 and 0.8.2 divide by 2**30 and print "GB": the value is GiB; converting it makes it 6.9 % low
    assert bench.parse_log("INFO vllm Loading model weights took 8.3752 GB\n").model_loading_gib == 8.3752
    assert bench.parse_log("INFO vllm Model loading took 15.1749 GB and 59.268527 seconds\n").model_loading_gib == 15.1749


def test_output_json_gives_mean_lengths(tmp_path):
    d = tmp_path / "bench" / "7b-fp8"
    d.mkdir(parents=True)
    (d / "step.log").write_text(bench_log(7.8, 1147))
    (d / "result.json").write_text(json.dumps({"elapsed_time": 892.8, "num_requests": 1000, "total_num_tokens": 33_792_000,
                                               "requests_per_second": 1.12, "tokens_per_second": 37849.0}))
    r = load_path("bench", tmp_path / "bench").runs["7b-fp8"]
    assert (r.mean_input_len, r.mean_output_len, r.num_requests) == (32767, 1024, 1000)


def test_crashed_run_parses_with_nothing_completed():
    r = bench.parse_log("INFO vllm starting\nRuntimeError: CUDA out of memory\n")
    assert r.output_tokens_per_s is None and not r.completed


def test_not_a_vllm_log():
    with pytest.raises(FormatNotRecognised):
        bench.parse_log("make: *** [bench] Error 1\n")


# ------------------------------------------------------------ real output (tests/fixtures/real/vllm)

REAL = __import__("pathlib").Path(__file__).parent / "fixtures" / "real" / "vllm"


@pytest.mark.parametrize("name,gib,lines", [
    ("weight_lines/v0.5.2_LLM-python_model_runner_Loading-model-weights-took-GB.log", 15.9077, 1),
    ("weight_lines/v0.8.2_V1_gpu_model_runner_Model-loading-took-GB-and.log", 15.1749, 1),
    ("weight_lines/v0.11.0_gpu_model_runner_GiB-and_single-line.log", 8.5834, 1),
    ("weight_lines/v0.10.x-xpu_EngineCore_0_GiB-and.log", 12.5533, 1),
    ("weight_lines/v0.17.0_docker-compose-prefix_EngineCore_DP0_GiB-memory-and_round2.log", None, 1),
    ("vllm-0.21.0_offline-LLM_lm-eval_EngineCore-prefix.log", 7.75, 1),
    ("vllm-0.19.1_offline-LLM_NemotronH-NVFP4-modelopt_kv-fp8_mamba-fp32.log", 18.03, 1),
    ("benchmark_throughput.py_v0.4.1_rocm-and-3090_multi-run.log", 14.9595, 4),
])
def test_real_weight_lines_of_every_vllm_version(name, gib, lines):
    # only the loading lines matter here (the 0.4.1 log's old throughput lines are tested below)
    text = "\n".join(x for x in (REAL / name).read_text().split("\n") if "Throughput:" not in x)
    r = bench.parse_log(text)
    assert len(r.loadings_gib) == lines
    if gib is not None:
        assert r.model_loading_gib == gib


def test_real_bench_throughput_log_with_srun_labels_and_tensor_parallel_ranks():
    r = bench.parse_log((REAL / "vllm-bench-throughput_v0.10.1.2dev_ray-tp4-pp2_srun-prefixed.log").read_text())
    assert (r.output_tokens_per_s, r.output_tokens, r.prompt_tokens) == (11344.86, 1024000, 510688)
    assert r.completed and len(r.loadings_gib) == 3 and set(r.loadings_gib) == {7.3272}
    assert r.vllm_version.startswith("0.10.1.2") and r.settings["model"] == "Qwen/Qwen3-30B-A3B-Instruct-2507"
    assert r.settings["input_len_range"] == [512, 512] and r.settings["output_len_range"] == [1024, 1024]
    assert r.settings["kv_cache_dtype"] == "auto" and r.settings["tensor_parallel_size"] == 4
    assert r.settings["num_prompts"] == 1000 and r.mean_output_len == 1024


def test_real_nemotron_h_settings_echo_fp8_kv_and_float32_mamba_cache():
    r = bench.parse_log((REAL / "vllm-0.19.1_offline-LLM_NemotronH-NVFP4-modelopt_kv-fp8_mamba-fp32.log").read_text())
    assert r.settings["kv_cache_dtype"] == "fp8" and r.settings["mamba_ssm_cache_dtype"] == "float32"
    assert r.vllm_version == "0.19.1"


def test_the_old_throughput_line_is_a_format_error_that_says_what_it_found():
    text = (REAL / "results_only" / "benchmark_throughput.py_PR8914_before-after_formats.txt").read_text()
    old = "\n".join(x for x in text.split("\n") if "total tokens/s" not in x)
    with pytest.raises(FormatNotRecognised) as e:
        bench.parse_log(old)
    msg = e.value.render()
    assert "old throughput line" in msg and "tokens/s" in msg and "total tokens/s, O output tokens/s" in msg


def test_several_results_without_declared_repeats_are_an_error_naming_the_count():
    text = (REAL / "benchmark_throughput.py_v0.5.4_colab_5-engine-restarts.log").read_text()
    log = bench_log(7.8, 1147) + "\n" + bench_log(7.8, 1100)
    with pytest.raises(CheckError, match="2 results in one bench log, 1 declared"):
        bench.parse_log(log)
    r = bench.parse_log(log + "\n" + bench_log(7.8, 1200), repeats=3)
    assert r.output_tokens_per_s == 1147 and 0 < r.output_tokens_per_s_cv < 0.05 and len(r.results) == 3
    assert "Throughput" in text  # the real restart log parses up to the same refusal
    with pytest.raises(Exception):
        bench.parse_log(text)
