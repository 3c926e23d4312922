"""convert: Megatron-Bridge convert_checkpoints.py export -> HF checkpoints under convert/hf_iter_<N>/."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from checks.errors import CheckError
from checks.hfckpt import HFCheckpoint, load_hf_checkpoint

_DIR = re.compile(r"^hf_iter_(\d+)$")


@dataclass
class ConvertRecord:
    checkpoints: dict[str, HFCheckpoint] = field(default_factory=dict)  # "hf_iter_12800" -> summary
    errors: dict[str, str] = field(default_factory=dict)


def load(path: Path) -> ConvertRecord:
    """PATH: the convert step directory (all hf_iter_* in it) or one hf_iter_<N> directory."""
    path = Path(path)
    if not path.is_dir():
        raise CheckError("convert expects a directory", where=str(path),
                         expected="RUN_DIR/convert or one RUN_DIR/convert/hf_iter_<N>",
                         hint="pass the step directory, not the log")
    dirs = [path] if _DIR.match(path.name) else sorted(p for p in path.iterdir() if _DIR.match(p.name))
    rec = ConvertRecord()
    for d in dirs:
        try:
            rec.checkpoints[d.name] = load_hf_checkpoint(d)
        except CheckError as e:
            rec.errors[f"checkpoints.{d.name}"] = e.render()
    if not dirs:
        rec.errors["checkpoints"] = f"no hf_iter_<N> directory in {path}"
    return rec
