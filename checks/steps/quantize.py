"""quantize: the FP8 checkpoint hf_ptq.py exported (quantization config, per-module dtypes, bytes) and the
last line of its log ("Quantized model exported to: PATH. Total time used Ns")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from checks import rulekit, rundir
from checks.commands import command_flags
from checks.findings import FAIL, PASS, Finding
from checks.hfckpt import HFCheckpoint
from checks.logread import Line, text_lines, trouble
from checks.stepdef import ConfigSource, PathUse, Rule, Step

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


# ---------------------------------------------------------------- the step, as the registry knows it

_FROM_CHECKPOINT = ("quant_algo", "layout", "checkpoint_bytes", "fp8_fraction", "has_tokenizer", "exclude_modules",
                    "producer", "checkpoint")
_FROM_LOG = ("completed", "exported_to", "exports", "trouble", "trouble_after_completion")


def load(run, sdir) -> QuantizeRecord:
    """quantize/hf_fp8/ and its log, or one such pair per quantize/<variant>/ (tiers that quantize several models)."""
    if not (sdir / rundir.QUANT_CKPT).exists() and not (sdir / rundir.LOG).exists() and rundir.variant_dirs(sdir):
        rec = QuantizeRecord()
        for d in rundir.variant_dirs(sdir):
            rec.variants[d.name] = _load_one(run, d)
            rec.where.update({f"variants.{d.name}.{k}": v for k, v in rec.variants[d.name].where.items()})
        return rec
    return _load_one(run, sdir)


def _load_one(run, d) -> QuantizeRecord:
    tmp = QuantizeRecord()
    ck = run.checkpoint_into(d / rundir.QUANT_CKPT, tmp, "checkpoint")
    rec = from_checkpoint(ck) if ck is not None else tmp
    if ck is not None:
        rec.where.update({k: run.rel(d / rundir.QUANT_CKPT) for k in _FROM_CHECKPOINT})
    if (d / rundir.LOG).exists():
        log = parse(run.lines(d / rundir.LOG), run.rel(d / rundir.LOG))
        for k in _FROM_LOG:
            setattr(rec, k, getattr(log, k))
        rec.where.update(log.where)
    return rec


def _units(rec: QuantizeRecord) -> list[tuple[str, QuantizeRecord]]:
    """(variant, its record): ('', the record) for a step run once."""
    return list(rec.variants.items()) if rec.variants else [("", rec)]


def one_run(run, data) -> list[Finding]:
    out = []
    for variant, q in _units(data.record):
        p = [f"{q.exports} exports in one log"] if q.exports > 1 else []
        p += [f"failed after the export line: {q.trouble_after_completion}"] if q.trouble_after_completion else []
        crash = next((t for t in q.trouble if "Traceback" in t), None) if q.completed else None
        p += [f"a traceback before the export line ({crash}): a crash and a rerun in one log"] if crash else []
        out.append(rulekit.one_run("quantize", f"{variant + '_' if variant else ''}one_run", p, q.where.get("exports", "")))
    return out


def qformat_matches_export(run, data) -> list[Finding]:
    """--qformat as recorded against the quantization the exported checkpoint declares."""
    out = []
    for variant, q in _units(data.record):
        command = rulekit.recorded_command(data, f"quantize/{variant}" if variant else "quantize")
        if command is None or q.quant_algo is None:
            continue  # no command (the exit-code check says so) or no checkpoint (its own checks say so)
        qformat = command_flags(command).get("--qformat")
        f = Finding("quantize", f"{variant + '_' if variant else ''}qformat_matches_export", PASS, tolerance="exact",
                    expected=qformat, measured=q.quant_algo, where=q.where.get("quant_algo", ""),
                    source="runner (step.json command --qformat) vs the export's quantization config")
        if isinstance(qformat, str) and q.quant_algo.lower() not in qformat.lower():
            f.status = FAIL
            f.note = f"the command asked for --qformat {qformat}, the checkpoint is {q.quant_algo}: not this command's export"
        out.append(f)
    return out


STEP = Step(
    name="quantize", order=50, doc="FP8 post-training quantization (hf_ptq.py): the exported checkpoint and its log",
    record=QuantizeRecord, load=load, parse=parse, variants="variants", completion=("completed",),
    rules=(Rule("one_run", one_run, rulekit.ONE_RUN, "one export per log, no crash and rerun, nothing failed after it",
                per_variant=True, completeness=True),
           Rule("qformat_matches_export", qformat_matches_export, "runner (step.json command --qformat) vs the export",
                "the export's quantization is the one --qformat asked for", per_variant=True)),
    config=(ConfigSource("command", "the recorded command"), ConfigSource("argparse", "hf_ptq.py at MODELOPT_REF")),
    paths=(PathUse("convert/hf_iter_<N>", "reads"), PathUse("quantize/<variant>/hf_fp8", "writes")),
)
