"""`checks bless RUN_DIR --into expected/<profile>.yaml`: a run's values become the new goldens.

Each golden keeps its tolerance (bless never loosens one) and gets the run as its new source. The
change is shown as a YAML diff before anything is written."""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path

import yaml

from checks import engine, rundir
from checks.engine import context_from_manifest, gpu_key
from checks.errors import CheckError
from checks.goldens import Goldens, dump


def provenance(run: Path, manifest: dict) -> str:
    image = manifest.get("image") or {}
    versions = manifest.get("versions") or {}
    parts = [f"run {manifest.get('run_id', run.name)}"]
    if image.get("digest") or image.get("name"):
        parts.append(f"image {image.get('digest') or image.get('name')}")
    for key, label in (("modelopt", "ModelOpt"), ("vllm", "vLLM"), ("megatron_bridge", "Megatron-Bridge")):
        if versions.get(key):
            parts.append(f"{label} {versions[key]}")
    return "blessed from " + ", ".join(parts) + f" on {date.today().isoformat()}"


def short_gpu(model: str) -> str:
    """'NVIDIA H200' -> 'H200'; the key a new by_gpu golden is filed under."""
    m = re.search(r"\b([A-Z]{1,3}\d{2,4}[A-Za-z]*)\b", model)
    return m.group(1) if m else model


def bless(run: Path, goldens: Goldens, steps: list[str] | None = None) -> tuple[str, str, list[str]]:
    """Return (old text, new text, notes). CheckError when a value the goldens name is missing."""
    from checks.steps import module

    path = Path(goldens.file)
    old = path.read_text()
    doc = yaml.safe_load(old)
    manifest = rundir.read_json(run / rundir.MANIFEST)
    if not isinstance(manifest, dict):
        raise CheckError("manifest.json is not an object", where=str(run / rundir.MANIFEST))
    ctx = context_from_manifest(manifest)
    source = provenance(run, manifest)
    notes, missing = [], []
    for step in steps or list(goldens.steps):
        sdir = rundir.step_dir(run, step)
        try:
            record = module(step).load(sdir)
        except CheckError as e:
            raise CheckError(f"cannot bless {step}: its output does not parse", found=e.render(),
                             hint="bless only complete runs (checks verify first), or leave the step out with --step") from None
        for g, entry in zip(goldens.steps[step], doc[step]):
            v = engine.judge_value(g, record, ctx, getattr(record, "format", None))
            if v.status == engine.SKIP and not (g.by_gpu is not None and ctx.gpu_model):
                notes.append(f"{step}.{g.id}: kept ({v.message})")
                continue
            try:
                measured = engine.measure(g, record)
            except (engine._Missing, TypeError):
                if g.optional:
                    notes.append(f"{step}.{g.id}: kept (not in this run)")
                    continue
                missing.append(f"{step}.{g.id} ({g.path or g.ratio})")
                continue
            if g.tol.kind in ("at_most", "at_least"):
                notes.append(f"{step}.{g.id}: kept (a limit, not a value)")
                continue
            value = round(measured, 6) if isinstance(measured, float) else measured
            if g.by_gpu is not None:
                key = gpu_key(ctx.gpu_model, list(g.by_gpu)) or short_gpu(ctx.gpu_model)
                entry["by_gpu"] = {**entry["by_gpu"], key: value}
            else:
                entry["expect"] = value
            entry["source"] = source
    if missing:
        raise CheckError("the run lacks values the goldens name; nothing was written",
                         found=", ".join(missing[:20]) + (" …" if len(missing) > 20 else ""),
                         hint="rerun the steps that failed (checks verify shows them), or bless fewer steps with --step")
    header = "".join(l + "\n" for l in old.splitlines() if l.startswith("#"))
    new = header + dump(doc)
    return old, new, notes


def unified(old: str, new: str, name: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
