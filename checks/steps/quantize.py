"""quantize: the FP8 checkpoint hf_ptq.py exported (quantization config, per-module dtypes, bytes)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from checks import rundir
from checks.errors import CheckError
from checks.hfckpt import HFCheckpoint, load_hf_checkpoint


# hf_ptq.py's last line: the whole line, so a log cut inside it does not count as finished.
_DONE = re.compile(r"Quantized model exported to: \S+\. Total time used [\d.]+s\s*$", re.MULTILINE)


@dataclass
class QuantizeRecord:
    quant_algo: str | None = None
    kv_cache_quant_algo: str | None = None
    exclude_modules: list[str] = field(default_factory=list)
    producer: str | None = None
    layout: dict[str, str] = field(default_factory=dict)
    checkpoint_bytes: int | None = None
    fp8_fraction: float | None = None  # share of parameters stored as FP8
    has_tokenizer: bool = False
    completed: bool = False
    checkpoint: HFCheckpoint | None = None
    variants: dict[str, "QuantizeRecord"] = field(default_factory=dict)  # tiers that quantize several models
    errors: dict[str, str] = field(default_factory=dict)


def from_checkpoint(ck: HFCheckpoint) -> QuantizeRecord:
    """Pure: the quantization facts of an already-summarised checkpoint."""
    q = ck.quantization or {}
    # hf_quant_config.json nests under "quantization"; config.json's quantization_config is flat.
    inner = q.get("quantization", q) if isinstance(q.get("quantization", q), dict) else {}
    producer = q.get("producer") if isinstance(q.get("producer"), dict) else None
    excl = inner.get("exclude_modules") or inner.get("ignore") or []
    fp8 = sum(n for d, n in ck.dtypes.items() if d.startswith("F8_"))
    total = sum(ck.dtypes.values())
    return QuantizeRecord(
        quant_algo=inner.get("quant_algo") if isinstance(inner.get("quant_algo"), str) else None,
        kv_cache_quant_algo=inner.get("kv_cache_quant_algo") if isinstance(inner.get("kv_cache_quant_algo"), str) else None,
        exclude_modules=[str(x) for x in excl] if isinstance(excl, list) else [],
        producer=f"{producer.get('name')} {producer.get('version')}" if producer else None,
        layout=dict(ck.layout),
        checkpoint_bytes=ck.bytes,
        fp8_fraction=fp8 / total if total else None,
        has_tokenizer=ck.has_tokenizer,
        checkpoint=ck,
    )


def load(path: Path) -> QuantizeRecord:
    """PATH: the quantize step directory (reads hf_fp8/ and step.log), a directory of variants
    (<variant>/hf_fp8/), or the checkpoint directory itself."""
    path = Path(path)
    if not (path / rundir.QUANT_CKPT).exists() and not (path / rundir.LOG).exists() and path.is_dir() \
            and rundir.variant_dirs(path):
        return QuantizeRecord(variants={d.name: _load_one(d) for d in rundir.variant_dirs(path)})
    return _load_one(path)


def _load_one(path: Path) -> QuantizeRecord:
    ck_dir = path / rundir.QUANT_CKPT if (path / rundir.QUANT_CKPT).is_dir() or (path / rundir.LOG).exists() else path
    try:
        rec = from_checkpoint(load_hf_checkpoint(ck_dir))
    except CheckError as e:
        rec = QuantizeRecord(errors={"checkpoint": e.render()})
    log = path / rundir.LOG
    if log.exists():
        rec.completed = _DONE.search(rundir.read_text(log)) is not None
    return rec
