from checks.run import load_path
from checks.hfckpt import Tensor, layer_layout
from tutorial_run import PRUNED_7B, nemotron_h_tensors, write_checkpoint

ARGS = dict(pattern=PRUNED_7B["pattern"], hidden=PRUNED_7B["hidden"], ffn=PRUNED_7B["ffn"], heads=PRUNED_7B["heads"],
            head_dim=PRUNED_7B["head_dim"])


def test_fp8_layout_from_safetensors_dtypes(tmp_path):
    from tutorial_run import build_run

    run = build_run(tmp_path, aggressive=True)
    both = load_path("quantize", run / "quantize").variants
    r = both["aggressive"]
    assert r.quant_algo == "FP8" and r.completed and r.producer == "modelopt 0.44.0"
    assert r.layout["mlp.up_proj"] == r.layout["mamba.in_proj"] == "F8_E4M3"
    assert r.layout["attention.q_proj"] == r.layout["mamba.conv1d"] == r.layout["lm_head"] == "BF16"
    # FP8 weights halve their bytes: 7.78 GiB against 13.03 for BF16 (the tutorial's vLLM 7.8 / 13.1 GiB).
    assert abs(r.checkpoint_bytes / 2**30 - 7.78) < 0.02
    c = both["conservative"]  # the tutorial's text: the Mamba projections stay BF16, 10.79 GiB
    assert c.layout["mlp.up_proj"] == "F8_E4M3" and c.layout["mamba.in_proj"] == c.layout["mamba.out_proj"] == "BF16"
    assert abs(c.checkpoint_bytes / 2**30 - 10.79) < 0.02


def test_conservative_config_layout_is_told_apart(tmp_path):
    # ModelOpt 0.44.0 MAMBA_MOE_FP8_CONSERVATIVE_CFG disables *mixer.in_proj* and *mixer.out_proj*.
    write_checkpoint(tmp_path / "quantize" / "hf_fp8", PRUNED_7B, fp8=("mlp.up_proj", "mlp.down_proj"),
                     quant={"quantization": {"quant_algo": "FP8"}})
    r = load_path("quantize", tmp_path / "quantize")
    assert r.layout["mamba.in_proj"] == "BF16" and abs(r.checkpoint_bytes / 2**30 - 10.79) < 0.02


def test_one_stray_layer_shows_as_mixed():
    tensors = [Tensor(n, d, tuple(sh)) for n, d, sh in nemotron_h_tensors(**ARGS, fp8=("mlp.up_proj",))]
    i = next(k for k, t in enumerate(tensors) if t.name.endswith("up_proj.weight"))
    tensors[i] = Tensor(tensors[i].name, "BF16", tensors[i].shape)
    assert layer_layout(tensors, PRUNED_7B["pattern"])["mlp.up_proj"] == "mixed:BF16,F8_E4M3"


def test_missing_checkpoint_is_recorded(tmp_path):
    (tmp_path / "quantize").mkdir()
    (tmp_path / "quantize" / "step.log").write_text("Traceback ...\n")
    r = load_path("quantize", tmp_path / "quantize")
    assert "checkpoint directory missing" in r.errors["checkpoint"] and not r.completed
