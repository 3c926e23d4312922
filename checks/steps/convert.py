"""convert: Megatron-Bridge convert_checkpoints.py export -> HF checkpoints under convert/hf_iter_<N>/.

Judged from the checkpoints themselves; the log is not parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from checks.hfckpt import HFCheckpoint
from checks.stepdef import ConfigSource, PathUse, Step

DIR = re.compile(r"^hf_iter_(\d+)$")


@dataclass
class ConvertRecord:
    checkpoints: dict[str, HFCheckpoint] = field(default_factory=dict)  # "hf_iter_12800" -> summary
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def load(run, sdir) -> ConvertRecord:
    """Every convert/hf_iter_<N>/ checkpoint, summarised."""
    rec = ConvertRecord()
    dirs = [p for p in sorted(sdir.iterdir()) if DIR.match(p.name)]
    for d in dirs:
        ck = run.checkpoint_into(d, rec, f"checkpoints.{d.name}")
        if ck is not None:
            rec.checkpoints[d.name] = ck
    if not dirs:
        rec.errors["checkpoints"] = f"no hf_iter_<N> directory in {sdir}"
    return rec


STEP = Step(
    name="convert", order=30, doc="Megatron -> HF export of a distillation iteration (convert_checkpoints.py)",
    record=ConvertRecord, load=load,
    config=(ConfigSource("command", "the recorded command"),),
    paths=(PathUse("distill/output/checkpoints/iter_<N>", "reads"), PathUse("convert/hf_iter_<N>", "writes")),
)
