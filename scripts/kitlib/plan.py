"""`make plan`: what each step would run, what it needs, and the GPU-hours, from the tutorial's figures; once a
step has started (its step.log has iterations and it has no stamp), also what is left of it at the speed it
measured (checks.watch: the log's own time per iteration, median of the steady intervals, with its interval)."""

from __future__ import annotations

from pathlib import Path

from checks import rundir
from checks.errors import CheckError
from kitlib.profile import Unit
from kitlib.render import Rendered


def measured(run_dir: Path, u: Unit) -> tuple[str, float, float] | None:
    """(line for the plan, GPU-hours still to run, their ±) from the unit's log so far; None before it started,
    or for a step whose log has no iteration clock (checks.watch.measure reads it through the Run)."""
    from checks.run import Run
    from checks.watch import measure

    if not (Path(run_dir) / u.name / rundir.LOG).is_file():
        return None
    try:
        run = Run.load(Path(run_dir))
    except CheckError:
        return None
    ws = (run.unit_meta(u.name).doc or {}).get("world_size")
    ws = ws if isinstance(ws, int) and not isinstance(ws, bool) and ws > 0 else u.nodes * u.gpus_per_node
    p = measure(run, u.name)
    if p is None or p.remaining_s is None:
        return None
    left, pm = ws * p.remaining_s / 3600, ws * (p.halfwidth_s or 0.0) / 3600
    rate = f"{p.ms_per_iter / 1000:.2f} s/iteration" if p.ms_per_iter else "no steady interval yet"
    line = (f"   measured: iteration {p.iteration:,} of {p.train_iters:,}, {rate} (log clock, {p.intervals} intervals) "
            f"on {ws} GPUs: {left:,.1f} ± {pm:,.1f} GPU-h still to run (estimate for the whole step: {u.gpu_hours:,.1f})")
    return line, left, pm


def plan(units: list[tuple[Unit, Rendered, bool]], profile: str, run_dir: Path | None = None,
         modelopt: str | None = None) -> str:
    """units: (unit, rendered command, already done); run_dir: where started steps' logs are measured.
    Each command is one line, never wrapped: what is printed can be copied and pasted into a shell."""
    from checks.drift.record import last_gate

    out = [f"Plan for PROFILE={profile} ({len(units)} steps). GPU-hours = nodes x GPUs x hours."]
    if modelopt:
        out.append(f"Model-Optimizer: {modelopt}")
    out += [f"Before any step: make gate (the front door, no GPU: scripts and flags, imports, eval goldens, the "
            f"launcher's --dry-run); {last_gate(run_dir) if run_dir is not None else 'not run'}", ""]
    total = todo = extra = 0.0
    todo_measured, measured_any = 0.0, False
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
        m = measured(run_dir, u) if run_dir is not None and not done and u.group != "extra" else None
        if m:
            out.append(m[0])
            measured_any = True
        if not done and u.group != "extra":
            todo_measured += m[1] if m else gh
        for d in r.deviations:
            out.append(f"   deviation {d['id']} ({d['kind']}): {d['reason']}")
        for patch in r.patches():  # applied in the container before the command; not shell, so not on the $ line
            out.append(f"   patch {patch[len('[patch '):-1]}")
        out.append("   $ " + r.oneline())
        out.append("")
    out.append(f"Total: {total:,.1f} GPU-hours ({todo:,.1f} still to run"
               + (f"; {todo_measured:,.1f} at the measured speed of the started step" if measured_any else "") + ")"
               + (f"; the extra steps add {extra:,.1f}." if extra else "."))
    return "\n".join(out)
