#!/usr/bin/env python3
"""Test doubles of the GPU tools the recipes call. They live in tests/ only, are put on PATH only by
tests, and behave like the upstream tools where the kit depends on it: the same log lines, the same
files, the same failures for the invocations the errata exist for."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tutorial_run as T  # noqa: E402

LOG = os.environ.get("DOUBLE_CALLS")


def called(name: str) -> None:
    if LOG:
        with open(LOG, "a") as f:
            f.write(name + "\n")


def maybe_fail(name: str) -> None:
    if os.environ.get("DOUBLE_FAIL_AT") == name:
        print(f"RuntimeError: injected failure in {name}", flush=True)
        sys.exit(1)


def arg(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def echo_env() -> None:
    # Real tools print their environment in places (e.g. Slurm, error dumps): the kit must redact.
    for k in ("HF_TOKEN", "API_KEY"):
        if os.environ.get(k):
            print(f"{k}={os.environ[k]}")


def torchrun(argv: list[str]) -> int:
    script = next(a for a in argv if a.endswith(".py"))
    if not Path(script.replace("/opt/Model-Optimizer", os.environ.get("MODELOPT_DIR", "/opt/Model-Optimizer"))).exists():
        print(f"python: can't open file '{script}': [Errno 2] No such file or directory", flush=True)
        return 2
    name = Path(script).stem
    called(name)
    echo_env()
    if name == "prune_minitron":
        maybe_fail("prune")
        out = Path(arg(argv, "--output_hf_path"))
        print(echo_prune_args(T.prune_log(os.environ.get("DOUBLE_PRUNE_FORMAT", "modelopt-0.44"), out=str(out)), argv),
              flush=True)
        tiny = float(arg(argv, "--prune_target_params")) < 1e8 if "--prune_target_params" in argv else False
        T.write_checkpoint(out, T.TINY_PRUNED if tiny else T.PRUNED_7B, content="pruned")
        return 0
    if name == "distill":
        i = argv.index("--data_paths")
        paths = []
        for a in argv[i + 1:]:
            if a.startswith("--"):
                break
            paths.append(a)
        if len(paths) % 2 == 1 or len(paths) < 2:
            print(f"ValueError: data_paths {paths!r}: expected weight/prefix pairs", flush=True)
            return 1
        out = Path(arg(argv, "--output_dir")) / "checkpoints"
        out.mkdir(parents=True, exist_ok=True)
        total = int(arg(argv, "--train_iters"))
        # distill.py echoes its arguments: the double prints what it was given
        given: dict = {k: arg(argv, f"--{k}") for k in ("student_hf_path", "teacher_hf_path", "output_dir",
                                                         "data_path_to_cache") if f"--{k}" in argv}
        for k in ("tp_size", "pp_size", "seq_length", "mbs", "gbs", "eval_iters", "lr_warmup_iters"):
            if f"--{k}" in argv:
                given[k] = int(arg(argv, f"--{k}"))
        for k in ("lr", "min_lr"):
            if f"--{k}" in argv:
                given[k] = float(arg(argv, f"--{k}"))
        given["data_paths"] = paths
        interval = int(arg(argv, "--eval_interval")) if "--eval_interval" in argv else 400
        log_interval = int(arg(argv, "--log_interval")) if "--log_interval" in argv else 10
        # DOUBLE_DISTILL_MS: the printed elapsed time per iteration (default: the tutorial's 2.7 s)
        log = T.distill_log(train_iters=total, ms=float(os.environ.get("DOUBLE_DISTILL_MS", "2700")),
                            save_interval=interval, log_interval=log_interval, **given).split("\n")
        nan_at = int(os.environ.get("DOUBLE_NAN_AT", "0"))  # this iteration's line reports a NaN
        pace = float(os.environ.get("DOUBLE_LINE_SLEEP", "0"))  # seconds after each iteration line
        slow = float(os.environ.get("DOUBLE_SLEEP", "0"))
        stop_at = int(os.environ.get("DOUBLE_DISTILL_STOP_AT", "0"))  # exits 0 early, as a wall-time limit can
        for line in log:
            if stop_at and f"iteration {stop_at + 10:8d}/" in line:
                return 0
            if nan_at and f"iteration {nan_at:8d}/" in line:
                line = nan_line(line)
            print(line, flush=True)
            if pace and " iteration " in line and "consumed samples" in line:
                time.sleep(pace)
            if "successfully saved checkpoint from iteration" in line:
                it = int(line.split("iteration")[1].split()[0])
                (out / f"iter_{it:07d}").mkdir(exist_ok=True)
                (out / f"iter_{it:07d}" / "common.pt").write_text("x")
                (out / "latest_checkpointed_iteration.txt").write_text(str(it))
                kept = sorted(out.glob("iter_*"))
                for old in kept[:-5]:  # Megatron-Bridge most_recent_k=5
                    shutil.rmtree(old)
                time.sleep(slow)
                if os.environ.get("DOUBLE_FAIL_AT") == "distill" and it >= 800:
                    maybe_fail("distill")
        return 0
    print(f"unexpected torchrun script {script}")
    return 2


def echo_prune_args(log: str, argv: list[str]) -> str:
    """prune_minitron.py echoes its arguments: the double's arguments block says what this command passed
    (typed as its argparse does: --prune_target_params float, --hparams_to_skip a list)."""
    lines = log.split("\n")
    start = next(i for i, line in enumerate(lines) if "= Arguments =" in line)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("====="))
    given: dict[str, object] = {}
    for i, a in enumerate(argv):
        if a.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            k, v = a[2:], argv[i + 1]
            given[k] = float(v) if k.startswith("prune_target") else [v] if k == "hparams_to_skip" else v
    block = [f"{k:<35} {v}" for k, v in given.items()]
    return "\n".join(lines[:start + 1] + block + lines[end:])


def nan_line(line: str) -> str:
    """An iteration line as Megatron-Bridge prints it when the loss is NaN: the NaN counted, every loss left out
    (training_log prints a loss only when it is > 0, and NaN > 0 is False)."""
    import re

    line = re.sub(r" [a-z][a-z ]*? loss: [-+0-9.eEnaif]+ \|", "", line)
    return re.sub(r"number of nan iterations: +0 \|", "number of nan iterations:   1 |", line)


def fixture_arch(model: str, default: dict) -> dict:
    """The architecture a doubles-written checkpoint records (config.json `_fixture_arch`), else `default`."""
    import json

    try:
        return json.loads(Path(model, "config.json").read_text()).get("_fixture_arch") or default
    except (OSError, ValueError):
        return default


def python(argv: list[str]) -> int:
    if argv and argv[0].endswith("convert_checkpoints.py"):
        called("convert")
        maybe_fail("convert")
        src = Path(arg(argv, "--megatron-path"))
        if not src.is_dir():
            print(f"FileNotFoundError: {src}", flush=True)
            return 1
        T.write_checkpoint(Path(arg(argv, "--hf-path")), fixture_arch(arg(argv, "--hf-model"), T.PRUNED_7B),
                           content=f"distilled-{src.name}")
        print("Successfully exported model to HF format")
        return 0
    if argv and argv[0].endswith("hf_ptq.py"):
        called("quantize")
        maybe_fail("quantize")
        ptq = Path(argv[0].replace("/opt/Model-Optimizer", os.environ.get("MODELOPT_DIR", "/opt/Model-Optimizer")))
        if not ptq.exists():
            print(f"python: can't open file '{argv[0]}': [Errno 2] No such file or directory", flush=True)
            return 2
        qformat = arg(argv, "--qformat")
        if qformat == "fp8":  # what QUANT_CFG_CHOICES["fp8"] says after the kit's patch
            text = ptq.read_text()
            config = next((c for c in ("conservative", "aggressive") if f'"fp8": mtq.MAMBA_MOE_FP8_{c.upper()}_CFG,' in text), None)
            if config is None:
                print("double: hf_ptq.py was not patched", flush=True)
                return 3
        elif qformat in ("mamba_moe_fp8_conservative", "mamba_moe_fp8_aggressive"):
            config = qformat.rsplit("_", 1)[1]
        else:
            print(f"double: unexpected --qformat {qformat}", flush=True)
            return 3
        out = Path(arg(argv, "--export_path"))
        src = arg(argv, "--pyt_ckpt_path")
        arch = T.NANO_9B if src == "nvidia/NVIDIA-Nemotron-Nano-9B-v2" else fixture_arch(src, T.PRUNED_7B)
        quant = {"producer": {"name": "modelopt", "version": "0.44.0"},
                 "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": None, "exclude_modules": ["lm_head"]}}
        import json

        cfg = Path(src, "config.json")
        content = json.loads(cfg.read_text()).get("_fixture_content", "weights") if cfg.exists() else src
        kinds = T.FP8_KINDS if config == "aggressive" else T.CONSERVATIVE_KINDS  # as ModelOpt's two configs do
        T.write_checkpoint(out, arch, fp8=kinds, quant=quant, content=content)
        print(f"Quantized model exported to: {out}. Total time used 81.4s", flush=True)
        return 0
    if argv[:2] == ["-m", "modelopt.torch.utils.plugins.megatron_preprocess_data"]:
        called("data")
        echo_env()
        maybe_fail("data")
        out = Path(arg(argv, "--output_dir"))
        out.mkdir(parents=True, exist_ok=True)
        (out / "tokenized.bin").write_text("")
        print("Tokenized 1,234,567 tokens")
        return 0
    if argv[:4] == ["-m", "pip", "show", "nemo-evaluator-launcher"]:
        print("Name: nemo-evaluator-launcher\nVersion: 0.1.90")
        return 0
    os.execvp("python3", ["python3", *argv])


def vllm(argv: list[str]) -> int:
    model = arg(argv, "--model")
    variant = {"nvidia/NVIDIA-Nemotron-Nano-9B-v2": "9b-bf16", "nvidia/NVIDIA-Nemotron-Nano-9B-v2-FP8": "9b-fp8",
               "nvidia/NVIDIA-Nemotron-Nano-12B-v2": "12b-bf16"}.get(model)
    if variant is None:
        size = "9b" if "/9b/" in model or fixture_arch(model, None) == T.NANO_9B else "7b"  # a 9B quantized by the kit
        variant = f"{size}-fp8" if "fp8" in model else f"{size}-bf16"
        if not Path(model, "config.json").exists():
            print(f"OSError: {model} is not a checkpoint", flush=True)
            return 1
    name = f"{variant}-aggressive" if "/aggressive/" in model else variant  # the BENCH_EXTRA=1 variant
    called(f"bench/{name}")
    maybe_fail(f"bench/{name}")
    mem, tps = T.BENCH[variant]
    if Path(model, "config.json").exists():  # vLLM loads the checkpoint's bytes: model loading memory ~ its size
        mem = round(sum(p.stat().st_size for p in Path(model).glob("*.safetensors")) / 2**30, 2)
    print(T.bench_log(mem, tps, model=model, kv=arg(argv, "--kv-cache-dtype"), mamba=arg(argv, "--mamba_ssm_cache_dtype"),
                      isl=int(arg(argv, "--random-input-len")), osl=int(arg(argv, "--random-output-len")),
                      quantization="modelopt" if "fp8" in variant else "None",
                      n=int(arg(argv, "--num-prompts")) if "--num-prompts" in argv else 1000), flush=True)
    return 0


DRY_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "nemo-evaluator" / "launcher-0.1.90_dry-run.txt"


def launcher_dry_run(argv: list[str]) -> int:
    """`run --config C -o ... --dry-run` as 0.1.90 answers it where the kit depends on it: every env var value of
    the config (after the -o overrides) needs a host:/lit: prefix, and every host: variable must be set; the lines
    printed are the real ones (DRY_RUN, with the variable's name put in)."""
    import yaml

    real = DRY_RUN.read_text().split("\n")
    doc = yaml.safe_load(Path(arg(argv, "--config")).read_text())
    for i, a in enumerate(argv):
        if a == "-o" and "env_vars." in argv[i + 1]:
            path, value = argv[i + 1].split("=", 1)
            node = doc
            keys = path.split(".")
            for k in keys[:-1]:
                node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
            node[keys[-1]] = value
    ev = doc.get("evaluation", {})
    blocks = [ev.get("env_vars") or {}, (doc.get("deployment") or {}).get("env_vars") or {}]
    blocks += [t.get("env_vars") or {} for t in ev.get("tasks", []) if isinstance(t, dict)]
    for block in blocks:
        for name, value in block.items():
            if not str(value).startswith(("host:", "lit:")):
                print(real[0].replace("HF_TOKEN", str(value)), flush=True)
                print(real[1].replace("HF_TOKEN", str(value)), file=sys.stderr, flush=True)
                return 1
            if str(value).startswith("host:") and value[5:] not in os.environ:
                print(real[2].replace("JUDGE_API_KEY", value[5:]), flush=True)
                return 1
    print(real[4], flush=True)
    return 0


def launcher(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(DRY_RUN.read_text().split("\n")[3], flush=True)
        return 0
    if "--dry-run" in argv:
        return launcher_dry_run(argv)
    called("eval")
    maybe_fail("eval")
    out = Path(os.environ["SLURM_JOB_DIR"])
    scores = T.EVAL_ROWS["iter_12800"]
    config = arg(argv, "--config")
    if config.endswith("math500.yaml"):  # the kit's opt-in: the one task the tutorial's yaml comments out
        import yaml

        tasks = yaml.safe_load(Path(config).read_text())["evaluation"]["tasks"]
        assert [t["name"] for t in tasks] == ["AA_math_test_500"], tasks
        if not os.environ.get("JUDGE_API_KEY"):
            print("ValueError: AA_math_test_500 needs JUDGE_API_KEY", flush=True)
            return 1
        tmp = out / ".math500"
        T.write_eval(tmp, scores, math500=True)
        src = next(tmp.rglob("AA_math_test_500"))
        dst = out / "20260521_111111-math500" / "AA_math_test_500"
        dst.parent.mkdir(parents=True)
        src.rename(dst)
        import shutil

        shutil.rmtree(tmp)
        print("Invocation 9b2e: all 1 jobs finished")
        return 0
    T.write_eval(out, scores, math500=False)
    (out / "lm_eval").rename(out / "lm_eval_from_double")  # lm_eval writes this part
    print("Invocation 8a1f: all 6 jobs finished")
    return 0


def lm_eval(argv: list[str]) -> int:
    out = Path(arg(argv, "--output_path"))
    src = out.parent / "lm_eval_from_double"
    src.rename(out)
    print("|mmlu|5|acc|0.722|")
    return 0


def hf(argv: list[str]) -> int:
    Path(arg(argv, "--local-dir"), "data").mkdir(parents=True, exist_ok=True)
    return 0


def nvidia_smi(argv: list[str]) -> int:
    n = int(os.environ.get("DOUBLE_GPUS", "8"))
    if any(a.startswith("--query-gpu=name,driver_version") for a in argv):
        for _ in range(n):
            print("NVIDIA H100 80GB HBM3, 580.159.04, 81559")
    elif any(a.startswith("--query-gpu=name") for a in argv):
        for _ in range(n):
            print("NVIDIA H100 80GB HBM3")
    elif "-l" in argv:
        if os.environ.get("DOUBLE_SMI_PIDS"):
            with open(os.environ["DOUBLE_SMI_PIDS"], "a") as f:
                f.write(f"{os.getpid()}\n")
        print("2026/05/20 10:00:00.000, 0, NVIDIA H100 80GB HBM3, 61234, 81559", flush=True)
        time.sleep(3600)
    return 0


TOOLS = {"torchrun": torchrun, "python": python, "vllm": vllm, "nemo-evaluator-launcher": launcher,
         "lm_eval": lm_eval, "hf": hf, "nvidia-smi": nvidia_smi}


# --- The tiny tier's local eval task and the environment the tools see (tests/test_tiny.py) ----------------

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def record_env(tool: str, argv: list[str]) -> None:
    """DOUBLE_ENV_LOG set: one JSON line per call (tool, argv, working directory, the HF offline variables)."""
    path = os.environ.get("DOUBLE_ENV_LOG")
    if path:
        import json

        with open(path, "a") as f:
            f.write(json.dumps({"tool": tool, "argv": argv, "cwd": os.getcwd(),
                                "env": {k: os.environ.get(k) for k in OFFLINE_VARS}}) + "\n")


def lm_eval_include_path(argv: list[str]) -> int:
    """lm_eval on tasks found through --include_path, as lm-eval 0.4.9.2 runs the tiny tier's group tiny_kit:
    the group's tasks from the YAML files there, each task's `dataset_path: json` data_files opened relative to
    the working directory (as `datasets` does), results_<time>.json under --output_path/<model>/ with an
    "acc,none" per task. A missing task or data file fails as the harness does."""
    import json

    import yaml

    root = Path(arg(argv, "--include_path"))
    configs = {}
    for p in sorted(root.rglob("*.yaml")):
        doc = yaml.safe_load(p.read_text()) or {}
        configs[doc["group"] if "group" in doc else doc.get("task")] = doc  # a group's `task:` is its list of tasks
    results, samples = {}, {}
    for name in arg(argv, "--tasks").split(","):
        if name not in configs:
            print(f"ValueError: Tasks not found: {name}.", flush=True)
            return 1
        doc = configs[name]
        tasks = doc["task"] if "group" in doc else [name]
        if "group" in doc:
            results[name] = {" ": " ", "alias": name}
        for t in tasks:
            files = configs[t]["dataset_kwargs"]["data_files"]
            split = configs[t]["test_split"]
            data = Path(files[split] if isinstance(files, dict) else files)
            if not data.is_file():
                print(f"FileNotFoundError: Unable to find '{Path.cwd() / data}'", flush=True)
                return 1
            n = sum(1 for line in data.read_text().splitlines() if line.strip())
            results[t] = {"alias": f" - {t}", "perplexity,none": 1.85, "acc,none": 0.0, "acc_stderr,none": 0.0}
            samples[t] = {"original": n, "effective": n}
    model = dict(kv.split("=", 1) for kv in arg(argv, "--model_args").split(","))["pretrained"]
    out = Path(arg(argv, "--output_path")) / model.replace("/", "__")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results_2026-11-24T14-20-15.268579.json").write_text(json.dumps({"results": results, "n-samples": samples}, indent=2))
    print(f"|{' - '.join(results)}|acc|0.0000|", flush=True)
    return 0


_lm_eval_with_launcher_output = TOOLS["lm_eval"]
TOOLS["lm_eval"] = lambda argv: (lm_eval_include_path if "--include_path" in argv else _lm_eval_with_launcher_output)(argv)


def _recorded(tool: str, fn):
    def run(argv: list[str]) -> int:
        record_env(tool, argv)
        return fn(argv)
    return run


TOOLS = {name: _recorded(name, fn) for name, fn in TOOLS.items()}

if __name__ == "__main__":
    sys.exit(TOOLS[Path(sys.argv[0]).name](sys.argv[1:]))
