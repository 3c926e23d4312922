import json

import pytest

from checks.errors import FormatNotRecognised
from checks.run import load_path
from checks.steps import bench
from tutorial_run import bench_log


def test_vllm_lines():
    r = bench.parse_log(bench_log(7.8, 1147))
    assert r.output_tokens_per_s == 1147.0 and r.model_loading_gib == 7.8 and r.completed
    assert r.prompt_tokens == 32_768_000 and r.output_tokens == 1_024_000
    assert r.requests_per_s == pytest.approx(1147 / 1024, abs=0.01)


@pytest.mark.parametrize("fmt", ["Model loading took 7.8 GiB memory and 3.1 seconds",
                                 "Model loading took 7.8000 GiB and 3.100000 seconds"])
def test_loading_line_variants(fmt):
    assert bench.parse_log(f"INFO vllm {fmt}\n").model_loading_gib == 7.8


def test_v0_loading_line_in_gb_is_converted():
    assert bench.parse_log("INFO vllm Loading model weights took 8.3752 GB\n").model_loading_gib == pytest.approx(7.8, abs=0.001)


def test_output_json_gives_mean_lengths(tmp_path):
    d = tmp_path / "bench" / "7b-fp8"
    d.mkdir(parents=True)
    (d / "step.log").write_text(bench_log(7.8, 1147))
    (d / "result.json").write_text(json.dumps({"elapsed_time": 892.8, "num_requests": 1000, "total_num_tokens": 33_792_000,
                                               "requests_per_second": 1.12, "tokens_per_second": 37849.0}))
    r = load_path("bench", tmp_path / "bench").runs["7b-fp8"]
    assert (r.mean_input_len, r.mean_output_len, r.num_requests) == (32768, 1024, 1000)


def test_crashed_run_parses_with_nothing_completed():
    r = bench.parse_log("INFO vllm starting\nRuntimeError: CUDA out of memory\n")
    assert r.output_tokens_per_s is None and not r.completed


def test_not_a_vllm_log():
    with pytest.raises(FormatNotRecognised):
        bench.parse_log("make: *** [bench] Error 1\n")
