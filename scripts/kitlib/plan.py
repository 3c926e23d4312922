"""`make plan`: what each step would run, what it needs, and the GPU-hours, from the tutorial's figures."""

from __future__ import annotations

from kitlib.profile import Unit
from kitlib.render import Rendered


def plan(units: list[tuple[Unit, Rendered, bool]], profile: str, width: int = 160) -> str:
    """units: (unit, rendered command, already done)."""
    out = [f"Plan for PROFILE={profile} ({len(units)} steps). GPU-hours = nodes x GPUs x hours.", ""]
    total = todo = extra = 0.0
    for u, r, done in units:
        gh = u.gpu_hours
        if u.group == "extra":
            extra += gh
        else:
            total += gh
            todo += 0 if done else gh
        state = "done" if done else "extra: BENCH_EXTRA=1" if u.group == "extra" else "to run"
        res = f"{u.nodes} node{'s' if u.nodes > 1 else ''} x {u.gpus_per_node} GPU" if u.gpus_per_node else "CPU only"
        out.append(f"== {u.name} [{state}]  {res}, ~{u.hours:g} h, {gh:,.1f} GPU-h  ({u.hours_source})")
        for d in r.deviations:
            out.append(f"   deviation {d['id']} ({d['kind']}): {d['reason']}")
        cmd = r.oneline()
        out += ["   $ " + cmd[i:i + width - 5] for i in range(0, len(cmd), width - 5)]
        out.append("")
    out.append(f"Total: {total:,.1f} GPU-hours ({todo:,.1f} still to run)"
               + (f"; the extra steps add {extra:,.1f}." if extra else "."))
    return "\n".join(out)
