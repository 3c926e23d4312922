"""`checks bless RUN_DIR --into expected/<profile>.yaml`: a run's values become the new goldens.

Each golden keeps its tolerance (bless never loosens one) and gets the run as its new source. The
change is shown as a YAML diff before anything is written."""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path

from checks import judge, yamlio
from checks.errors import CheckError
from checks.findings import SKIP
from checks.goldens import Goldens, dump
from checks.run import Run


def provenance(run: Run) -> str:
    manifest = run.manifest or {}
    image = manifest.get("image") if isinstance(manifest.get("image"), dict) else {}
    versions = manifest.get("versions") if isinstance(manifest.get("versions"), dict) else {}
    parts = [f"run {run.id}"]
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


# Checks that say whether a run is whole and is the tutorial's run (not how close its numbers are): a run that
# fails one of them is not blessed, whatever its values.
COMPLETENESS = re.compile(r"(^|_)(exit_code|completed|one_run|last_iteration|checkpoints_saved|one_search|"
                          r"settings_echoed_match_command)$|^(provenance_|lineage_)")


def refuse_incomplete(run: Run, goldens: Goldens, steps: list[str] | None) -> None:
    """CheckError when the run could not be judged, or is not complete and clean (verify's ERRORs and the
    completeness checks above)."""
    from checks.findings import ERROR, FAILING

    bad = [f for f in judge.judge(run, goldens, steps)
           if f.status == ERROR or (f.status in FAILING and COMPLETENESS.search(f.id))]
    if bad:
        raise CheckError("cannot bless a run that is not complete and clean; nothing was written",
                         found="; ".join(f"{f.step}.{f.id}: {f.status} {f.note.splitlines()[0] if f.note else ''}".strip()
                                         for f in bad[:8]) + (" …" if len(bad) > 8 else ""),
                         hint="checks verify shows why; bless only a run that finished cleanly (or fewer steps with --step)")


def bless(run: Run, goldens: Goldens, steps: list[str] | None = None) -> tuple[str, str, list[str]]:
    """Return (old text, new text, notes). CheckError when the run is incomplete or a value the goldens name
    is missing."""
    refuse_incomplete(run, goldens, steps)
    path = Path(goldens.file)
    old = path.read_text()
    doc = yamlio.loads(old, str(path))
    if run.manifest_error is not None:
        raise CheckError("cannot bless a run without a readable manifest", found=run.manifest_error.render())
    ctx = run.context
    source = provenance(run)
    notes, missing = [], []
    for step in steps or list(goldens.steps):
        data = run.step(step)
        if not data.present or data.error is not None:
            why = data.error.render() if data.error else f"no {step}/ directory"
            raise CheckError(f"cannot bless {step}: its output does not parse", found=why,
                             hint="bless only complete runs (checks verify first), or leave the step out with --step")
        record = data.record
        entries = {str(e["id"]): e for e in doc.get(step, [])}
        for g in goldens.steps[step]:
            entry = entries.get(g.id)
            if entry is None:
                notes.append(f"{step}.{g.id}: kept (included from {', '.join(goldens.includes)}; bless that file)")
                continue
            if g.mean_of:
                parts = [entries.get(i, {}).get("expect") for i in g.mean_of]
                if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in parts):
                    entry["expect"] = round(sum(parts) / len(parts), 6)
                    entry["source"] = source + " (the mean of its parts)"
                else:
                    notes.append(f"{step}.{g.id}: kept (not every part has a value)")
                continue
            if g.xfail:
                notes.append(f"{step}.{g.id}: kept (marked xfail: a known discrepancy, not a value to bless)")
                continue
            v = judge.judge_value(g, record, ctx, getattr(record, "format", None))
            if v.status == SKIP and not (g.by_gpu is not None and ctx.gpu_model):
                notes.append(f"{step}.{g.id}: kept ({v.note})")
                continue
            try:
                measured = judge.measure(g, record)
            except (judge.Missing, TypeError):
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
                key = judge.gpu_key(ctx.gpu_model, list(g.by_gpu)) or short_gpu(ctx.gpu_model)
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
