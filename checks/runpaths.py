"""Whether a path a command or a log names is a given output of the run: inside the run directory by real path, or,
for a run copied or moved after it ran, by its place under the run's own directory name (where that old place still
exists, it must hold what this run holds). Checkpoints are compared through the Run (read once, kept)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from checks.errors import CheckError
from checks.hfckpt import HFCheckpoint

if TYPE_CHECKING:
    from checks.run import Run


def names(run: Run, path: object, target: str) -> bool:
    """Does `path` (as a command or a log names it) denote RUN_DIR/target?"""
    if not isinstance(path, str) or not path:
        return False
    want = run.path / target
    real_rel = os.path.relpath(os.path.realpath(want), run.path.resolve())
    if os.path.realpath(path).startswith(str(run.path.resolve()) + os.sep):
        return os.path.realpath(path) == os.path.realpath(want)
    for marker in {f"/{run.id}/", f"/{run.path.name}/"}:
        if marker in path:
            rel = path.split(marker, 1)[1].rstrip("/")
            if rel in (target.rstrip("/"), real_rel):
                return _same_output(run, path, want)
    return False


def relative(run: Run, p: str) -> str:
    """A path as the run's own relative path when it lies inside the run directory, else as given."""
    return run.rel(p) if p.startswith(str(run.path)) else p


def _same_output(run: Run, old_place: str, want) -> bool:
    """A path outside this run naming it by its old place: where that place still exists it must hold what this run
    holds (the run was copied), not another run's output that happens to sit under a directory of the same name."""
    if not os.path.exists(old_place) or os.path.realpath(old_place) == os.path.realpath(want):
        return True  # moved (the old place is gone), or the same files
    if os.path.isdir(old_place) != os.path.isdir(want):
        return False
    if not os.path.isdir(want):
        return True
    a, b = _summary(run, os.path.realpath(old_place)), _summary(run, os.path.realpath(want))
    return a is not None and a == b


def _summary(run: Run, path: str):
    """What makes two checkpoint directories the same output: their tensors' fingerprints, dtypes, architecture
    and bytes; for a directory that is no checkpoint, its files by name and size."""
    try:
        state = tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(path)))
    except OSError:
        return None
    try:
        ck = run.checkpoint(path)
    except CheckError:
        return state
    return (tuple(sorted(ck.fingerprints.items())), tuple(sorted(ck.dtypes.items())), architecture(ck), ck.bytes)


def architecture(ck: HFCheckpoint) -> tuple:
    """What distillation and FP8 PTQ keep of a checkpoint's shape."""
    return (ck.hybrid_override_pattern, ck.num_layers, ck.hidden_size, ck.mamba_num_heads, ck.mamba_head_dim,
            ck.ffn_hidden_size)
