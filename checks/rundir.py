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

# The steps, their order and which run once per variant are the registry's (checks.registry): one name each.
MANIFEST = "manifest.json"
LOG = "step.log"
META = "step.json"
GPU_MEM = "gpu_mem.csv"
PRUNE_CKPT = "hf"
QUANT_CKPT = "hf_fp8"
DISTILL_OUTPUT = "output"
BENCH_JSON = "result.json"
STAMP = ".done"  # written atomically by the runner when a step exited 0
COMMAND = "command.sh"
ENV = "env.json"
JOB = "job.sbatch"
ATTEMPTS = "attempts"  # attempts/N/: a failed attempt's step.log, step.json, gpu_mem.csv
CKPT_DIR = "checkpoints"  # under distill/output/
KEPT_DIR = "kept"  # distill/output/kept/iter_NNNNNNN: the runner's hard-link copies


def step_dir(run_dir: Path, step: str) -> Path:
    return Path(run_dir) / step


def read_json(path: Path, what: str = "JSON file") -> object:
    """Read a JSON file of the run; CheckError naming the file (never a traceback) when it is missing or broken."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise CheckError(f"{what} missing", where=str(path), found="no such file",
                         hint="the runner writes it; run the step with `make`, or point at the right run directory") from None
    except (IsADirectoryError, PermissionError, NotADirectoryError) as e:
        raise CheckError(f"{what} cannot be read", where=str(path), found=type(e).__name__,
                         expected="a JSON file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CheckError(
            f"{what} is not valid JSON",
            where=f"{path}:{e.lineno}:{e.colno}",
            found=e.msg,
            hint="the file is truncated or corrupt; rerun the step that wrote it",
        ) from None
    except RecursionError:
        raise CheckError(f"{what} is nested too deeply to be real", where=str(path)) from None


def variant_dirs(sdir: Path) -> list[Path]:
    """A step run once per variant keeps each run in <step>/<variant>/ (its own step.log or step.json)."""
    return [d for d in sorted(Path(sdir).iterdir())
            if d.is_dir() and d.name != ATTEMPTS and ((d / LOG).exists() or (d / META).exists())]


def meta_files(sdir: Path, per_variant: bool) -> list[Path]:
    """Where the runner's step.json files for a step must be (`per_variant`: one per <step>/<variant>/)."""
    sdir = Path(sdir)
    if per_variant:
        return [d / META for d in sorted(sdir.iterdir()) if d.is_dir() and d.name != ATTEMPTS]
    if not (sdir / META).exists() and variant_dirs(sdir):
        return [d / META for d in variant_dirs(sdir)]
    return [sdir / META]


def write_atomic(path: Path, text: str) -> None:
    """Write so that a reader never sees half a file (reports, manifests, stamps, goldens)."""
    import os
    import tempfile

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as e:
        raise CheckError(f"cannot write {path}", where=str(path.parent), found=e.strerror or type(e).__name__,
                         hint="pass a file path in a directory you can write") from None
    try:
        os.fchmod(fd, _mode(path))  # mkstemp makes 0600; the file gets the mode any other write would give it
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise CheckError(f"cannot write {path}", where=str(path), found=e.strerror or type(e).__name__,
                         expected="a file path (not a directory) that can be written",
                         hint="pass another file path") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode(path: Path) -> int:
    """The mode of the file being replaced, else 0666 less the umask (as open() would create it)."""
    import os

    try:
        return Path(path).stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask
