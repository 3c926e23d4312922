"""convert: Megatron-Bridge convert_checkpoints.py export -> HF checkpoints under convert/hf_iter_<N>/.

Judged from the checkpoints themselves (read by checks.run); the log is not parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from checks.hfckpt import HFCheckpoint

DIR = re.compile(r"^hf_iter_(\d+)$")


@dataclass
class ConvertRecord:
    checkpoints: dict[str, HFCheckpoint] = field(default_factory=dict)  # "hf_iter_12800" -> summary
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
