"""Build a complete run directory holding the tutorial's own numbers, in the upstream output formats.

Test double only: the logs are written from the upstream format strings (ModelOpt 0.44.0 / 0.45 / 0.46
mcore_minitron.py, Megatron-Bridge training_log, vLLM throughput.py) and the pruning excerpt printed in
the tutorial; checkpoints are real safetensors headers over sparse files (no tensor data is stored).
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import yaml

FIXTURES = Path(__file__).parent / "fixtures"
EXCERPT = (FIXTURES / "prune_tutorial_excerpt.log").read_text()
ORIGINAL_PATTERN = "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-M-MM-M-M-M-M-M-"
PRUNED_PATTERN = "M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-MMMM-M-"
NANO_9B = dict(pattern=ORIGINAL_PATTERN, hidden=4480, ffn=15680, heads=128, head_dim=80)
PRUNED_7B = dict(pattern=PRUNED_PATTERN, hidden=4352, ffn=13824, heads=120, head_dim=80)
# The tiny tier's pruned student as the doubles write it: scripts/tiny_model.py's teacher (2,939,472 parameters) with
# its FFN cut from 768 to 448 (2,447,952: within the tiny prune goldens' 2.0M..2.5M).
TINY_DIMS = dict(n_groups=2, d_state=16, n_heads_attn=4, n_kv=2, attn_head_dim=64, vocab=605)
TINY_PRUNED = dict(pattern="M-M*-M-", hidden=256, ffn=448, heads=16, head_dim=32, **TINY_DIMS)
GPU = "NVIDIA H100 80GB HBM3"
# The tutorial's data blend (weight, path, ...), as distill.py echoes --data_paths "${DATA_BLEND}".
BLEND = (Path(__file__).parents[1] / "recipes/tutorial/data_blend.sh").read_text().split('DATA_BLEND="', 1)[1] \
    .split('"', 1)[0].replace("\\", "").split()


# ---------------------------------------------------------------- checkpoints
def nemotron_h_tensors(pattern, hidden, ffn, heads, head_dim, *, n_groups=8, d_state=128, conv=4,
                       n_heads_attn=40, n_kv=8, attn_head_dim=128, vocab=131072, fp8=()):
    """(name, dtype, shape) for a NemotronH HF checkpoint; module kinds named in `fp8` become F8_E4M3."""
    d_inner = heads * head_dim
    out = [("backbone.embeddings.weight", "BF16", [vocab, hidden])]
    for i, c in enumerate(pattern):
        p = f"backbone.layers.{i}"
        out.append((f"{p}.norm.weight", "BF16", [hidden]))
        if c == "M":
            mods = {"in_proj": [2 * d_inner + 2 * n_groups * d_state + heads, hidden], "out_proj": [hidden, d_inner]}
            out += [(f"{p}.mixer.conv1d.weight", "BF16", [d_inner + 2 * n_groups * d_state, 1, conv]),
                    (f"{p}.mixer.conv1d.bias", "BF16", [d_inner + 2 * n_groups * d_state]),
                    (f"{p}.mixer.A_log", "F32", [heads]), (f"{p}.mixer.D", "F32", [heads]),
                    (f"{p}.mixer.dt_bias", "F32", [heads]), (f"{p}.mixer.norm.weight", "BF16", [d_inner])]
            kind = "mamba"
        elif c == "-":
            mods = {"up_proj": [ffn, hidden], "down_proj": [hidden, ffn]}
            kind = "mlp"
        else:
            q, kv = n_heads_attn * attn_head_dim, n_kv * attn_head_dim
            mods = {"q_proj": [q, hidden], "k_proj": [kv, hidden], "v_proj": [kv, hidden], "o_proj": [hidden, q]}
            kind = "attention"
        for sub, shape in mods.items():
            if f"{kind}.{sub}" in fp8:
                out += [(f"{p}.mixer.{sub}.weight", "F8_E4M3", shape), (f"{p}.mixer.{sub}.weight_scale", "F32", []),
                        (f"{p}.mixer.{sub}.input_scale", "F32", [])]
            else:
                out.append((f"{p}.mixer.{sub}.weight", "BF16", shape))
    out += [("backbone.norm_f.weight", "BF16", [hidden]), ("lm_head.weight", "BF16", [vocab, hidden])]
    return out


_BYTES = {"BF16": 2, "F32": 4, "F8_E4M3": 1}


def write_safetensors(path: Path, tensors, *, truncate_by: int = 0, content: str = "weights", marked=()) -> None:
    """A real safetensors header; the data region is a sparse hole of the right size, except the windows the
    kit's lineage fingerprint reads of the `marked` tensors, which hold bytes derived from `content` (so two
    checkpoints with the same content compare equal there, and different ones differ)."""
    import hashlib

    from checks.hfckpt import windows

    header, off = {}, 0
    for name, dtype, shape in tensors:
        n = _BYTES[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    base = 8 + len(raw)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for name in marked:
            if name in header:
                a, b = header[name]["data_offsets"]
                for k, (x, y) in enumerate(windows(base + a, base + b)):
                    seed = hashlib.sha256(f"{content}/{name}/{k}".encode()).digest()
                    f.seek(x)
                    f.write((seed * ((y - x) // 32 + 1))[: y - x])
        f.truncate(base + off - truncate_by)


def write_checkpoint(d: Path, arch: dict, *, fp8=(), shards: int = 4, quant: dict | None = None,
                     content: str = "weights") -> None:
    """A NemotronH HF checkpoint. `content` stands for the weights: the tensors FP8 PTQ keeps in BF16 carry
    bytes derived from it (an FP8 export of a checkpoint gets its source's content; config.json records it
    as `_fixture_content` so the test doubles can pass it on)."""
    from checks.hfckpt import Tensor, sample_names

    d.mkdir(parents=True, exist_ok=True)
    dims = {k: arch[k] for k in TINY_DIMS if k in arch}  # the 9B/7B defaults unless the arch names its own
    tensors = nemotron_h_tensors(arch["pattern"], arch["hidden"], arch["ffn"], arch["heads"], arch["head_dim"], fp8=fp8, **dims)
    marked = sample_names([Tensor(n, t, tuple(sh)) for n, t, sh in tensors], arch["pattern"])
    per = -(-len(tensors) // shards)
    weight_map = {}
    for s in range(shards):
        part = tensors[s * per:(s + 1) * per]
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(d / name, part, content=content, marked=marked)
        weight_map.update({t[0]: name for t in part})
    (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    config = {
        "architectures": ["NemotronHForCausalLM"], "model_type": "nemotron_h",
        "hybrid_override_pattern": arch["pattern"], "num_hidden_layers": len(arch["pattern"]),
        "hidden_size": arch["hidden"], "intermediate_size": arch["ffn"], "mamba_num_heads": arch["heads"],
        "mamba_head_dim": arch["head_dim"], "n_groups": dims.get("n_groups", 8), "ssm_state_size": dims.get("d_state", 128),
        "conv_kernel": 4, "num_attention_heads": dims.get("n_heads_attn", 40), "num_key_value_heads": dims.get("n_kv", 8),
        "head_dim": dims.get("attn_head_dim", 128), "vocab_size": dims.get("vocab", 131072),
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "_fixture_content": content, "_fixture_arch": arch,
    }
    if quant:
        config["quantization_config"] = {"quant_method": "modelopt", **quant["quantization"]}
        (d / "hf_quant_config.json").write_text(json.dumps(quant, indent=4))
    (d / "config.json").write_text(json.dumps(config, indent=2))
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (d / f).write_text("{}")


# ---------------------------------------------------------------- prune logs
def _candidates():
    from checks.steps.prune import parse_log

    return parse_log(EXCERPT)


def prune_log(fmt: str = "modelopt-0.44", out: str = "/runs/r/prune/hf") -> str:
    r = _candidates()
    head = ["==================== Arguments ====================",
            f"{'hf_model_name_or_path':<35} nvidia/NVIDIA-Nemotron-Nano-9B-v2", f"{'prune_target_params':<35} 7000000000.0",
            f"{'hparams_to_skip':<35} ['num_attention_heads']", f"{'seq_length':<35} 8192",
            "===================================================", "",
            "Pruning model (showing PP rank0): MambaModel(...)", "Original model params: 8.89B",
            "Pruning constraints: {'params': 7000000000.0}",
            "Finding all candidates fitting the constraints...: 100%|██████████| 17472/17472 [02:11<00:00, 132.9it/s]"]
    cfgs = [(c.config, c.score) for c in r.candidates]
    best = r.best_subnet
    body: list[str] = []
    if fmt == "modelopt-0.44":
        body += ["", "Searching for the best pruned architecture under 7.00B params constraints...", "",
                 "Only considering atmost 40% for width and 20% for depth pruning hparams",
                 "Skipping hparams_to_skip=['num_attention_heads'] during search space generation..."]
        body += [f"\tSearch space for {k}: {v}" for k, v in r.search_space.items()]
        body += ["\tTotal search space in consideration: 17472", "", "Found 6053 candidates fitting the constraints!",
                 "", "====================", "Top 10 candidates:"]
        body += [f"\t{c} -> 7.00B params" for c, _ in cfgs] + ["====================", ""]
        for c, s in cfgs:
            body += [f"Dropping decoder layers {sorted([43, 44, 45, 46, 47, 48, 50, 52, 53, 54][:56 - c['num_layers']])} from model.",
                     f"\t{c} -> 7.00B params, {s:.4f} score", ""]
        body += ["", "====================", "Top 10 candidates with scores:"]
        body += [f"\t{c} -> 7.00B params, {s:.4f} score" for c, s in cfgs] + ["====================", "", "",
                 f"[BEST SUBNET] {best.config} -> 7.00B params, {best.score:.4f} score", "",
                 "Dropping decoder layers [43, 44, 45, 46, 47, 48, 50, 52] from model.",
                 f"Original hybrid_override_pattern: {ORIGINAL_PATTERN}", f"Pruned hybrid_override_pattern: {PRUNED_PATTERN}"]
    else:
        body += _rich_sections(r, one_indexed=fmt == "modelopt-0.46")
    tail = ["", "Pruned model (showing PP rank0): MambaModel(...)", "Pruned model params: 7.00B",
            f"Saving pruned model to {out} in HF checkpoint format",
            f"Saved pruned model to {out} in HF checkpoint format", "Done!", ""]
    return "\n".join(head + body + tail)


def _rich_sections(r, one_indexed: bool) -> list[str]:
    """The 0.45+ log: the same facts rendered as rich tables, as ModelOpt's _rprint does (width 160, no TTY)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    def render(x) -> list[str]:
        buf = io.StringIO()
        Console(file=buf, highlight=False, force_terminal=False, width=160).print(x)
        return ["", *buf.getvalue().splitlines()]

    out = ["", "Searching for the best pruned architecture under 7.00B params...",
           "Skipping hparams_to_skip=['num_attention_heads'] during search space generation..."]
    t = Table(title="Search Space \n(≤40% width / ≤20% depth pruning)", show_header=True, header_style="bold")
    t.add_column("Hyperparameter")
    t.add_column("Choices", overflow="fold")
    for k, v in r.search_space.items():
        t.add_row(k, escape(str(v)))
    t.add_section()
    t.add_row("Search space size", "17472")
    out += render(t) + ["Found 6053 candidates fitting the constraints!"]
    t = Table(title="Top 10 Candidates", show_header=True, header_style="bold")
    for col, kw in (("#", {"justify": "right"}), ("export_config", {"overflow": "fold"}), ("params", {"justify": "right"})):
        t.add_column(col, **kw)
    for i, c in enumerate(r.candidates, 1):
        t.add_row(str(i), escape(str(c.config)), "7.00B")
    out += render(t)
    drop = "Dropping decoder layers [43, 44, 45, 46, 47, 48, 50, 52]" + (" (1-indexed)" if one_indexed else "") + " from model."
    for c in r.candidates:
        out += [drop, f"\t{c.config} -> 7.00B params, {c.score:.4f} score", ""]
    t = Table(title="Top 10 Candidates with Scores", show_header=True, header_style="bold")
    for col in ("#", "export_config", "params", "score"):
        t.add_column(col)
    for i, c in enumerate(r.candidates, 1):
        t.add_row(str(i), escape(str(c.config)), "7.00B", f"{c.score:.4f}")
    out += render(t)
    g = Table.grid(padding=(0, 2))
    g.add_column(no_wrap=True)
    g.add_column()
    g.add_row("export_config", escape(str(r.best_subnet.config)))
    g.add_row("params", "7.00B")
    g.add_row("score", f"{r.best_subnet.score:.4f}")
    out += render(Panel(g, title="Best Subnet"))
    out += [drop]
    if not one_indexed:
        out += [f"Original hybrid_override_pattern: {ORIGINAL_PATTERN}", f"Pruned hybrid_override_pattern: {PRUNED_PATTERN}"]
    return out


# ---------------------------------------------------------------- distill log
def distill_log(train_iters: int = 16000, log_interval: int = 10, ms: float = 2700.0, loss_scale: float = 1.0,
                save_interval: int = 400, **given) -> str:
    """distill.py at ModelOpt 0.44.0 on Megatron-Bridge 0.3.0: its arguments block (argparse order, `{k:<35} {v}`),
    iteration lines as training_log prints them (losses only when positive: lm loss is 0 with skip_lm_loss and
    there are no intermediate layer pairs, so only `total loss` and `logits distillation loss` appear), the LR
    schedule distill.py configures (linear warmup, cosine to min_lr over train_iters), async checkpoint saves."""
    from checks.steps.distill import expected_lr

    args = dict(teacher_hf_path="nvidia/NVIDIA-Nemotron-Nano-9B-v2", student_hf_path="/runs/r/prune/hf",
                trust_remote_code=True, tp_size=8, pp_size=1, data_paths=list(BLEND),
                data_path_to_cache="/data/cache", use_mock_data=False, seq_length=8192, mbs=4, gbs=768,
                train_iters=train_iters, lr=0.0001, min_lr=1e-05, lr_warmup_iters=100, eval_interval=save_interval,
                eval_iters=32, log_interval=log_interval, output_dir="/runs/r/distill/output")
    args.update(given)  # what the command passed (the test doubles echo their argv, as distill.py does)
    ckpts = f"{args['output_dir']}/checkpoints"
    out = ["", "==================== Arguments ===================="]
    out += [f"{k:<35} {v}" for k, v in args.items()]
    out += ["===================================================", "", "", "Starting distillation..."]
    for it in range(log_interval, train_iters + 1, log_interval):
        lr = expected_lr(it, args["lr"], args["min_lr"], args["lr_warmup_iters"], train_iters)
        kd = (0.3 + 0.9 * (1 + it / 1000) ** -0.5) * loss_scale  # falls, as a distillation does
        t = ms * (3.0 if it == log_interval else 1.0) + (it % 7)
        out.append(
            f" [2026-05-20 10:00:00] iteration {it:8d}/{train_iters:8d} | consumed samples: {it * args['gbs']:12d} |"
            f" elapsed time per iteration (ms): {t:.1f} | learning rate: {lr:.6E} | global batch size: {args['gbs']:5d} |"
            f" total loss: {kd:.6E} | logits distillation loss: {kd:.6E} | loss scale: 1.0 | grad norm: 0.412 |"
            f" number of skipped iterations: {0:3d} | number of nan iterations: {0:3d} |")
        if it == log_interval:
            out.append("[Rank 0] (after 10 iterations) memory (GB) | mem-allocated-gigabytes: 31.17 |"
                       " mem-max-allocated-gigabytes: 61.43 | mem-reserved-gigabytes: 66.5")
        if it % save_interval == 0:
            out.append(f"saving checkpoint at iteration {it:7d} to {ckpts} in torch_dist format")
            out.append(f"  successfully saved checkpoint from iteration {it:7d} to {ckpts} [ t 1/8, p 1/1 ]")
    out += ["", f"Distillation done! Saved checkpoint to {ckpts} in megatron distributed checkpoint format.", ""]
    return "\n".join(out)


# ---------------------------------------------------------------- eval
EVAL_ROWS = {
    "pruned": [67.8, 11.9, 17.7, 1.4, 0.4, 6.0, 41.8, 0.1],
    "iter_400": [70.7, 68.4, 52.7, 57.0, 60.7, 93.7, 63.2, 12.2],
    "iter_3200": [71.3, 71.7, 54.8, 62.0, 68.1, 95.2, 63.8, 21.2],
    "iter_6400": [71.1, 71.6, 53.7, 60.9, 71.9, 95.6, 68.0, 19.9],
    "iter_9600": [72.1, 72.1, 54.9, 61.6, 71.9, 95.4, 64.7, 22.8],
    "iter_12800": [72.2, 73.0, 56.9, 62.6, 72.6, 95.8, 66.2, 21.3],
    "nano-9b-v2": [74.7, 74.9, 56.1, 64.4, 73.7, 95.9, 65.8, 23.1],
    "nano-12b-v2": [78.5, 77.9, 58.2, 66.6, 74.4, 96.9, 67.9, 29.0],
}
# (results.yml task, metric, score) for the seven NeMo Evaluator columns, in table order after MMLU.
EVAL_TASKS = [("ns_mmlu_pro", "mmlu-pro", "pass@1", "symbolic_correct"),
              ("ns_gpqa", "gpqa", "pass@1[avg-of-8]", "symbolic_correct"),
              ("ns_livecodebench", "livecodebench", "pass@1[avg-of-8]", "accuracy"),
              ("ns_aime2025", "aime25", "pass@1[avg-of-64]", "symbolic_correct"),
              ("AA_math_test_500", "AA_math_test_500", "score", "micro_avg_of_5"),
              ("ns_ifeval", "ifeval", "pass@1", "average_score"),
              ("ns_scicode", "scicode", "pass@1[avg-of-8]", "subtask_accuracy")]


def write_eval(d: Path, scores: list[float], math500: bool = True) -> None:
    """The launcher's results tree: <invocation>/<task>/artifacts/{results.yml, run_config.yml}. NeMo-Skills (ns_*)
    scores are percentages, simple_evals' (AA_math_test_500) fractions; run_config.yml names the harness."""
    d.mkdir(parents=True, exist_ok=True)
    for (job, task, metric, score), v in zip(EVAL_TASKS, scores[1:]):
        if job == "AA_math_test_500" and not math500:
            continue  # commented out in the tutorial's nemo_evaluator.yaml: runs only as the kit's opt-in
        framework = "simple_evals" if job == "AA_math_test_500" else "nemo_skills"
        value = round(v / 100, 6) if framework == "simple_evals" else v
        art = d / "20260521_101010-abcdef" / job / "artifacts"
        art.mkdir(parents=True, exist_ok=True)
        doc = {"command": f"{framework} ...", "config": {"type": job},
               "results": {"tasks": {task: {"metrics": {metric: {"scores": {score: {"value": value, "stats": {"count": 100}}}}}}}}}
        (art / "results.yml").write_text(yaml.safe_dump(doc))
        (art / "run_config.yml").write_text(yaml.safe_dump({"framework_name": framework, "pkg_name": framework,
                                                            "config": {"type": job}}))
    lm = d / "lm_eval"
    lm.mkdir(exist_ok=True)
    (lm / "results_2026-05-21T10-10-10.json").write_text(json.dumps(
        {"results": {"mmlu": {"acc,none": scores[0] / 100, "acc_stderr,none": 0.0037, "alias": "mmlu"}},
         "n-shot": {"mmlu": 5}}))


# ---------------------------------------------------------------- bench
# The tutorial's table: (model loading GiB, output tokens/s). Its 7B-FP8 row was measured on the aggressive layout;
# a faithful (conservative) run loads ~10.8 GiB (../shared/real-runs/7b-fp8: 10.79 GiB checkpoint on an H100).
BENCH = {"12b-bf16": (22.9, 585), "9b-bf16": (16.6, 794), "9b-fp8": (9.6, 1012), "7b-bf16": (13.1, 963), "7b-fp8": (7.8, 1147)}
CONSERVATIVE_7B_FP8_GIB = 10.79


def bench_log(mem_gib: float, out_tps: float, n: int = 1000, isl: int = 32768, osl: int = 1024,
              model: str = "nvidia/NVIDIA-Nemotron-Nano-9B-v2", kv: str = "fp8", mamba: str = "float32",
              quantization: str = "None") -> str:
    """`vllm bench throughput` as vLLM 0.21.0 prints it (line shapes from tests/fixtures/real/vllm): the engine's
    non-default args and config line echo the settings, the random dataset its lengths, the run its totals."""
    el = n * osl / out_tps
    args = {"trust_remote_code": True, "load_format": "safetensors", "kv_cache_dtype": kv, "mamba_ssm_cache_dtype": mamba,
            "model": model, "tokenizer": model}
    return "\n".join([
        "INFO 05-21 10:00:00 [__init__.py:216] Automatically detected platform cuda.",
        "When dataset path is not set, it will default to random dataset",
        f"(EngineCore pid=4242) INFO 05-21 10:00:31 [gpu_model_runner.py:4959] Model loading took {mem_gib:.2f} GiB memory and 21.503212 seconds",
        f"INFO 05-21 09:59:58 [datasets.py:612] Sampling input_len from [{isl - 1}, {isl - 1}] and output_len from [{osl}, {osl}]",
        f"INFO 05-21 09:59:59 [utils.py:240] non-default args: {args!r}",
        f"(EngineCore pid=4242) INFO 05-21 10:00:05 [core.py:109] Initializing a V1 LLM engine (v0.21.0) with config: "
        f"model='{model}', speculative_config=None, tokenizer='{model}', skip_tokenizer_init=False, tokenizer_mode=auto, "
        f"trust_remote_code=True, dtype=torch.bfloat16, max_seq_len={isl + osl}, load_format=safetensors, "
        f"tensor_parallel_size=1, pipeline_parallel_size=1, quantization={quantization}, enforce_eager=False, "
        f"kv_cache_dtype={kv}, device_config=cuda, seed=0",
        f"Processed prompts: 100%|██████████| {n}/{n} [17:42<00:00,  1.06s/it]",
        f"Throughput: {n / el:.2f} requests/s, {n * (isl + osl) / el:.2f} total tokens/s, {out_tps:.2f} output tokens/s",
        f"Total num prompt tokens:  {n * (isl - 1)}",
        f"Total num output tokens:  {n * osl}", ""])


def bench_model(variant: str, run: Path) -> dict:
    """What each bench variant of the full profile serves (recipes/profiles/full.yaml)."""
    model = {"9b-bf16": "nvidia/NVIDIA-Nemotron-Nano-9B-v2", "9b-fp8": "nvidia/NVIDIA-Nemotron-Nano-9B-v2-FP8",
             "12b-bf16": "nvidia/NVIDIA-Nemotron-Nano-12B-v2", "7b-bf16": f"{run}/convert/hf_iter_12800",
             "7b-fp8": f"{run}/quantize/conservative/hf_fp8",
             "7b-fp8-aggressive": f"{run}/quantize/aggressive/hf_fp8"}[variant]
    return {"model": model, "quantization": "modelopt" if "fp8" in variant else "None"}


# ---------------------------------------------------------------- the whole run
FP8_KINDS = ("mlp.up_proj", "mlp.down_proj", "mamba.in_proj", "mamba.out_proj")  # MAMBA_MOE_FP8_AGGRESSIVE_CFG
CONSERVATIVE_KINDS = ("mlp.up_proj", "mlp.down_proj")  # MAMBA_MOE_FP8_CONSERVATIVE_CFG: Mamba in/out_proj stay BF16


def build_run(root: Path, *, prune_format: str = "modelopt-0.44", gpu: str = GPU, name: str = "tutorial",
              bench: dict | None = None, eval_delta: float | dict = 0.0, loss_scale: float = 1.0, fp8=None,
              prune_log_text: str | None = None, math500: bool = True, aggressive: bool = False) -> Path:
    """Write a run directory that reproduces the tutorial faithfully (or a variation of it); returns its path.
    Faithful means the tutorial's text: FP8 with the conservative config, so the 7B-FP8 checkpoint keeps the Mamba
    projections in BF16 and loads ~10.8 GiB (the known discrepancy with its table). `aggressive` adds the
    BENCH_EXTRA=1 variant, whose layout and 7.8 GiB match the table."""
    run = root / name
    (run / "prune").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({
        "schema": 1, "run_id": name, "profile": "full", "gpu": {"model": gpu, "count": 8},
        "versions": {"modelopt": "0.44.0", "vllm": "0.21.0"}, "image": {"name": "nemotron-repro:modelopt-0.44.0"},
        "steps": {"prune": {"world_size": 8}, "distill": {"world_size": 768}, "bench": {"world_size": 1},
                  "eval/iter_12800": {"world_size": 8, "deviations": [{"id": "addition-eval-mmlu", "kind": "addition"}] + (
                      [{"id": "addition-eval-math500", "kind": "addition"}] if math500 else [])}}}, indent=2))
    (run / "prune" / "step.log").write_text(prune_log_text or prune_log(prune_format, out=f"{run}/prune/hf"))
    write_checkpoint(run / "prune" / "hf", PRUNED_7B, content="pruned")
    (run / "distill").mkdir()
    (run / "distill" / "step.log").write_text(distill_log(loss_scale=loss_scale, student_hf_path=f"{run}/prune/hf",
                                                          output_dir=f"{run}/distill/output"))
    write_checkpoint(run / "convert" / "hf_iter_12800", PRUNED_7B, content="distilled-12800")
    (run / "convert" / "step.log").write_text("Converting... done\n")
    for label, scores in EVAL_ROWS.items():
        delta = eval_delta.get(label, 0.0) if isinstance(eval_delta, dict) else eval_delta
        write_eval(run / "eval" / label, [round(x + delta, 2) for x in scores], math500)
        (run / "eval" / label / "step.log").write_text("nemo-evaluator-launcher run --config nemo_evaluator.yaml\nall jobs finished\n")
    quant = {"producer": {"name": "modelopt", "version": "0.44.0"},
             "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": None,
                              "exclude_modules": ["lm_head", "*mixer.conv1d*", "*q_proj*", "*k_proj*", "*v_proj*", "*o_proj*"]}}
    variants = {"conservative": CONSERVATIVE_KINDS if fp8 is None else fp8}
    if aggressive:
        variants["aggressive"] = FP8_KINDS
    for variant, kinds in variants.items():
        write_checkpoint(run / "quantize" / variant / "hf_fp8", PRUNED_7B, fp8=kinds, quant=quant, content="distilled-12800")
        (run / "quantize" / variant / "step.log").write_text(
            f"Quantized model exported to: {run}/quantize/{variant}/hf_fp8. Total time used 83.2s\n")
    table = {**BENCH, "7b-fp8": (CONSERVATIVE_7B_FP8_GIB, BENCH["7b-fp8"][1])}
    if aggressive:
        table["7b-fp8-aggressive"] = BENCH["7b-fp8"]
    for v, (mem, tps) in {**table, **(bench or {})}.items():
        (run / "bench" / v).mkdir(parents=True)
        (run / "bench" / v / "step.log").write_text(bench_log(mem, tps, **bench_model(v, run)))
    commands = recorded_commands(run)
    for meta, (started, ended) in step_times(run).items():
        unit = str(meta.relative_to(run))
        (meta / "step.json").write_text(json.dumps(
            {"unit": unit, "command": commands.get(unit, ""), "exit_code": 0, "started": started, "ended": ended}))
    return run


# How long each unit ran, roughly as the tutorial's steps take (distillation: 16,000 iterations of ~2.7 s).
UNIT_MINUTES = {"prune": 60, "distill": 720, "convert": 10, "quantize": 3, "eval": 180, "bench": 20}


def step_times(run: Path) -> dict[Path, tuple[str, str]]:
    """(started, ended) per unit directory as the runner records them (UTC, `%Y-%m-%dT%H:%M:%SZ`): one unit after
    another in run order, so each step starts after the step whose output it reads has ended."""
    from datetime import datetime, timedelta, timezone

    t = datetime(2026, 5, 20, 8, 0, tzinfo=timezone.utc)
    out = {}
    for meta in _meta_dirs(run):
        end = t + timedelta(minutes=UNIT_MINUTES[meta.relative_to(run).parts[0]])
        out[meta] = (t.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ"))
        t = end + timedelta(minutes=2)
    return out


def recorded_commands(run: Path) -> dict[str, str]:
    """The commands the runner records in step.json, as the full profile renders them for this run."""
    mo = "/opt/Model-Optimizer/examples"
    out = {
        "prune": f"torchrun --nproc_per_node 8 {mo}/megatron_bridge/prune_minitron.py \\\n--pp_size 8 \\\n"
                 "--hf_model_name_or_path nvidia/NVIDIA-Nemotron-Nano-9B-v2 \\\n--trust_remote_code \\\n"
                 "--prune_target_params 7e9 \\\n--hparams_to_skip num_attention_heads \\\n--seq_length 8192 \\\n"
                 f"--output_hf_path {run}/prune/hf",
        "distill": f"torchrun --nproc_per_node 8 {mo}/megatron_bridge/distill.py \\\n"
                   "--teacher_hf_path nvidia/NVIDIA-Nemotron-Nano-9B-v2 \\\n"
                   f"--student_hf_path {run}/prune/hf \\\n--trust_remote_code \\\n--tp_size 8 \\\n--pp_size 1 \\\n"
                   f"--data_paths {' '.join(BLEND)} \\\n--data_path_to_cache /data/cache \\\n"
                   "--seq_length 8192 \\\n--mbs 4 \\\n--gbs 768 \\\n--train_iters 16000 \\\n--lr 1e-4 \\\n"
                   "--min_lr 1e-5 \\\n--lr_warmup_iters 100 \\\n--eval_interval 400 \\\n--eval_iters 32 \\\n"
                   f"--log_interval 10 \\\n--output_dir {run}/distill/output",
        "convert": f"python /opt/Megatron-Bridge/examples/conversion/convert_checkpoints.py export \\\n"
                   f"--hf-model {run}/prune/hf \\\n--megatron-path {run}/distill/output/checkpoints/iter_0012800 \\\n"
                   f"--hf-path {run}/convert/hf_iter_12800",
    }
    for variant in ("conservative", "aggressive"):
        out[f"quantize/{variant}"] = (f"python {mo}/llm_ptq/hf_ptq.py \\\n--pyt_ckpt_path {run}/convert/hf_iter_12800 \\\n"
                                      f"--export_path {run}/quantize/{variant}/hf_fp8 \\\n--qformat fp8 \\\n--trust_remote_code")
    for label in EVAL_ROWS:
        out[f"eval/{label}"] = ("nemo-evaluator-launcher run --config nemo_evaluator.yaml "
                                f"-o deployment.checkpoint_path={run}/convert/hf_iter_12800")
    for v in [*BENCH, "7b-fp8-aggressive"]:
        out[f"bench/{v}"] = (f"vllm bench throughput \\\n--model {bench_model(v, run)['model']} \\\n"
                             "--random-input-len 32768 \\\n--random-output-len 1024 \\\n--trust-remote-code \\\n"
                             "--mamba_ssm_cache_dtype float32 \\\n--kv-cache-dtype fp8 \\\n--load-format safetensors")
    return out


def _meta_dirs(run: Path):
    for step in ("prune", "distill", "convert"):
        yield run / step
    for step in ("quantize", "eval", "bench"):
        yield from sorted(p for p in (run / step).iterdir() if p.is_dir())
