"""quantize: the FP8 checkpoint hf_ptq.py exported (quantization config, per-module dtypes, bytes) and the
last line of its log ("Quantized model exported to: PATH. Total time used Ns")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.hfckpt import HFCheckpoint
from checks.logread import Line, text_lines, trouble

# hf_ptq.py's last line: the whole line, so a log cut inside it does not count as finished.
_DONE = re.compile(r"^Quantized model exported to: (\S+)\. Total time used [\d.]+s\s*$")


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
    exported_to: str | None = None  # the path hf_ptq.py says it exported to
    exports: int = 0  # "Quantized model exported to" lines: one run per log
    trouble: list[str] = field(default_factory=list)
    trouble_after_completion: str | None = None
    checkpoint: HFCheckpoint | None = None
    variants: dict[str, "QuantizeRecord"] = field(default_factory=dict)  # tiers that quantize several models
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def parse_log(text: str, source: str = "step.log") -> QuantizeRecord:
    return parse(text_lines(text), source)


def parse(lines: Iterable[Line], source: str = "step.log") -> QuantizeRecord:
    """Pure: what hf_ptq.py's log says (completion and export path); the checkpoint says the rest."""
    rec = QuantizeRecord()
    for ln in lines:
        at = f"{ln.src or source}:{ln.no}"
        if "Quantized model exported to:" in ln.text and (m := _DONE.match(ln.text.strip())):
            rec.completed, rec.exported_to = True, m.group(1)
            rec.exports += 1
            rec.where["completed"] = rec.where["exported_to"] = rec.where["exports"] = at
        elif trouble(ln.text):
            if len(rec.trouble) < 10:
                rec.trouble.append(f"{at}: {ln.text.strip()[:200]}")
            if rec.completed and rec.trouble_after_completion is None:
                rec.trouble_after_completion = f"{at}: {ln.text.strip()[:200]}"
    return rec


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
