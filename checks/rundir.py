"""The run directory layout, in one place. Runners write it, parsers and `checks verify` read it.

    RUN_DIR/
      manifest.json              provenance: image, versions, GPU, commands, errata, per-step timings
      <step>/step.log            combined stdout+stderr of the step, exactly as printed
      <step>/step.json           runner's record: command, exit_code, started, ended (required)
      <step>/gpu_mem.csv         nvidia-smi samples taken while the step ran
      prune/hf/                  pruned HF checkpoint (config.json + *.safetensors)
      distill/output/checkpoints/iter_NNNNNNN   Megatron checkpoints
      convert/hf_iter_<N>/       HF export of distillation iteration N
      quantize/hf_fp8/           FP8 HF checkpoint (tiers that quantize several models: quantize/<variant>/hf_fp8/)
      eval/<label>/              one evaluated model: nemo-evaluator-launcher results.yml tree,
                                 lm-eval-harness results_*.json, step.log and step.json
      bench/<variant>/           one `vllm bench throughput` run (variant e.g. 7b-fp8): step.log,
                                 step.json, optional result.json (--output-json)
"""

from __future__ import annotations

import json
from pathlib import Path

from checks.errors import CheckError

STEPS = ("prune", "distill", "convert", "eval", "quantize", "bench")
# Steps run once per model/variant: their step.log and step.json sit in <step>/<variant>/.
VARIANT_STEPS = ("eval", "bench")
MANIFEST = "manifest.json"
LOG = "step.log"
META = "step.json"
GPU_MEM = "gpu_mem.csv"
PRUNE_CKPT = "hf"
QUANT_CKPT = "hf_fp8"
DISTILL_OUTPUT = "output"
BENCH_JSON = "result.json"


def step_dir(run_dir: Path, step: str) -> Path:
    return Path(run_dir) / step


def read_text(path: Path) -> str:
    """Read a log as text; undecodable bytes become U+FFFD so a corrupt byte never crashes a parser."""
    try:
        return Path(path).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise CheckError(
            "log file missing",
            where=str(path),
            expected="the step's combined output, written by the runner",
            found="no such file",
            hint="run the step (e.g. `make <step>`) or point at the right run directory",
        ) from None
    except IsADirectoryError:
        raise CheckError("expected a log file, got a directory", where=str(path)) from None


def read_json(path: Path) -> object:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckError(
            "file is not valid JSON",
            where=f"{path}:{e.lineno}:{e.colno}",
            found=e.msg,
            hint="the file is truncated or corrupt; rerun the step that wrote it",
        ) from None


def step_log(path: Path) -> Path:
    """PATH given to `checks parse` is either the log itself or the step directory holding step.log."""
    path = Path(path)
    return path / LOG if path.is_dir() else path


def variant_dirs(sdir: Path) -> list[Path]:
    """A step run once per variant keeps each run in <step>/<variant>/ (its own step.log or step.json)."""
    return [d for d in sorted(Path(sdir).iterdir()) if d.is_dir() and ((d / LOG).exists() or (d / META).exists())]


def meta_files(step: str, sdir: Path) -> list[Path]:
    """Where the runner's step.json files for a step must be."""
    sdir = Path(sdir)
    if step in VARIANT_STEPS:
        return [d / META for d in sorted(sdir.iterdir()) if d.is_dir()]
    if not (sdir / META).exists() and variant_dirs(sdir):
        return [d / META for d in variant_dirs(sdir)]
    return [sdir / META]
