"""MODEL=<checkpoint>: the checkpoint a `model:` profile (one-gpu) quantizes and benchmarks, and the rows of the
tutorial's §6 table it is judged against.

The table's rows are the `full` profile's bench variants whose CHECKPOINT is a Hugging Face id (9b-bf16:
nvidia/NVIDIA-Nemotron-Nano-9B-v2, ...): one source for "which checkpoint is which row". A checkpoint that is a
row keeps the row's name (bench/9b-bf16, bench/9b-fp8: judged by expected/full.yaml's checks for that row); any
other is bench/model-bf16 and bench/model-fp8 (judged for completeness and the tutorial's settings only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from checks.errors import CheckError

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
EXAMPLE = "make bench MODEL=nvidia/NVIDIA-Nemotron-Nano-9B-v2"


def table_rows() -> dict[str, str]:
    """{Hugging Face id: row}, e.g. {"nvidia/NVIDIA-Nemotron-Nano-9B-v2": "9b-bf16"}, from the full profile."""
    from kitlib.profile import read

    variants = (read("full")["steps"]["bench"].get("variants") or {})
    return {str(v["CHECKPOINT"]): str(k) for k, v in variants.items() if "${" not in str(v.get("CHECKPOINT", "${"))}


def resolve(model: str | None) -> dict[str, str]:
    """The context a `model:` profile's recipes get: MODEL (a Hub id, or a directory made absolute), and BF16_ROW,
    FP8_ROW (the bench variants' names). CheckError, before anything is planned, for a MODEL the kit cannot use."""
    if not model:
        raise CheckError("this profile benchmarks a checkpoint you name, and MODEL is not set",
                         expected="MODEL=<a Hugging Face id (org/name) or a checkpoint directory (with config.json)>",
                         hint=f"e.g. {EXAMPLE}")
    rows = table_rows()
    local = Path(model).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise CheckError(f"MODEL={model} is not a Hugging Face checkpoint directory", where=str(local),
                             expected="a directory with config.json and *.safetensors",
                             found="a file" if local.is_file() else "no config.json in it",
                             hint="point MODEL at the checkpoint's directory, or give its Hugging Face id")
        if _is_fp8(local):
            raise CheckError(f"MODEL={model} is already an FP8 checkpoint", where=str(local),
                             expected="a BF16 checkpoint: make bench-fp8 quantizes it (the tutorial's §5), make bench-bf16 serves it as is",
                             hint="give the BF16 checkpoint it was quantized from")
        return {"MODEL": str(local.resolve()), "BF16_ROW": "model-bf16", "FP8_ROW": "model-fp8"}
    if not _HUB_ID.fullmatch(model):
        raise CheckError(f"MODEL={model} is neither a checkpoint directory nor a Hugging Face id",
                         expected="org/name (e.g. nvidia/NVIDIA-Nemotron-Nano-9B-v2) or an existing directory with config.json",
                         found="no such directory" if "/" in model else "no '/' (a Hugging Face id is org/name)",
                         hint=f"check the path or the id; e.g. {EXAMPLE}")
    row = rows.get(model)
    if row and row.endswith("-fp8"):
        bf16 = next((m for m, r in rows.items() if r == row[:-len("fp8")] + "bf16"), None)
        raise CheckError(f"MODEL={model} is the tutorial's {row} row, an FP8 checkpoint",
                         expected="a BF16 checkpoint: make bench-fp8 quantizes it (the tutorial's §5) and benches the result",
                         hint=f"make bench MODEL={bf16}" if bf16 else "give the BF16 checkpoint it was quantized from")
    if row:
        fp8 = row[:-len("bf16")] + "fp8"
        return {"MODEL": model, "BF16_ROW": row, "FP8_ROW": fp8 if fp8 in rows.values() else "model-fp8"}
    return {"MODEL": model, "BF16_ROW": "model-bf16", "FP8_ROW": "model-fp8"}


def _is_fp8(d: Path) -> bool:
    if (d / "hf_quant_config.json").is_file():
        return True
    try:
        cfg = json.loads((d / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(cfg, dict) and isinstance(cfg.get("quantization_config"), dict)
