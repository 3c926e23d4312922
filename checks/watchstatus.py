"""What `checks watch` reports at each update: a Status, written as the JSON status file for schedulers, as one plain
line per update (logs, CI, Slurm), or as the live view on a terminal (rich). Shows; never judges."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from checks import render
from checks.findings import PASS, Finding, summary
from checks.projection import CLOCK, Expected, Projection

@dataclass
class Status:
    run_dir: str
    unit: str
    log: str
    state: str  # waiting | running | finished (the log says so) | ended (step.json has an exit code) | stopped
    updated: str
    iteration: int | None = None
    train_iters: int | None = None
    projection: Projection | None = None
    expected: Expected | None = None
    world_size: int | None = None
    gpu_hours: float | None = None
    gpu_hours_pm: float | None = None
    expected_gpu_hours: float | None = None
    run_gpu_hours: float | None = None
    expected_run_gpu_hours: float | None = None
    loss: dict | None = None
    findings: list[Finding] = field(default_factory=list)
    stop: str | None = None
    stop_iteration: int | None = None
    policy: str = ""
    last_growth_s: float | None = None
    changed: bool = True  # the log grew, or the state changed, since the last update
    projected_end: str | None = None
    clocked: bool = False  # the step logs iterations (a count and a projection are to come)

    @property
    def overrun_pct(self) -> float | None:
        p, e = self.projection, self.expected
        if p is None or e is None or p.step_s is None or not e.step_s:
            return None
        return (p.step_s / e.step_s - 1) * 100

    def to_json(self) -> dict:
        """The status file for schedulers: flat keys, hours and GPU-hours, ISO times (UTC)."""
        p, e = self.projection, self.expected
        hours = lambda s: None if s is None else round(s / 3600, 4)  # noqa: E731
        return _json_safe({
            "schema": 1, "updated": self.updated, "run_dir": self.run_dir, "step": self.unit, "log": self.log,
            "state": self.state, "iteration": self.iteration, "train_iters": self.train_iters,
            "ms_per_iter": _r(p.ms_per_iter if p else None, 2), "ms_per_iter_pm": _r(p.ms_halfwidth if p else None, 2),
            "intervals": p.intervals if p else None, "confidence": p.confidence if p else None, "clock": CLOCK,
            "projected_step_hours": hours(p.step_s) if p else None,
            "projected_step_hours_pm": hours(p.halfwidth_s) if p else None,
            "projected_remaining_hours": hours(p.remaining_s) if p else None,
            "projected_end": self.projected_end,
            "expected_step_hours": hours(e.step_s) if e else None, "expected_ms_per_iter": _r(e.ms_per_iter if e else None, 2),
            "expected_source": e.source if e else None, "overrun_pct": _r(self.overrun_pct, 3),
            "world_size": self.world_size, "projected_gpu_hours": _r(self.gpu_hours, 2),
            "projected_gpu_hours_pm": _r(self.gpu_hours_pm, 2), "expected_gpu_hours": _r(self.expected_gpu_hours, 2),
            "projected_run_gpu_hours": _r(self.run_gpu_hours, 2), "projected_run_gpu_hours_pm": _r(self.gpu_hours_pm, 2),
            "expected_run_gpu_hours": _r(self.expected_run_gpu_hours, 2), "loss": self.loss,
            **render.to_json(self.findings, {}),  # summary and findings, as `checks verify --json` writes them
            "stop": self.stop, "stop_iteration": self.stop_iteration, "policy": self.policy,
            "last_growth_s": _r(self.last_growth_s, 1),
        })

    def _progress(self) -> list[str]:
        if self.iteration is not None and self.train_iters:
            return [f"iteration {self.iteration}/{self.train_iters} ({self.iteration / self.train_iters:.1%})"]
        return ["no iteration logged yet"] if self.clocked else []

    def _timing(self) -> list[str]:
        p, e = self.projection, self.expected
        out = []
        if p and p.ms_per_iter is not None:
            pm = f" ±{p.ms_halfwidth:.0f}" if p.ms_halfwidth is not None else ""
            out.append(f"{p.ms_per_iter:.0f}{pm} ms/it ({p.intervals} intervals, log clock)")
        if p and p.step_s is not None:
            s = f"step {p.step_s / 3600:.2f} h" + (f" ±{p.halfwidth_s / 3600:.2f}" if p.halfwidth_s is not None else "")
            out.append(s + (f" vs {e.step_s / 3600:.2f} h expected ({self.overrun_pct:+.1f}%)" if e and e.step_s else ""))
        if self.projected_end and self.state == "running":
            out.append(f"ends ~{self.projected_end}")
        return out

    def _hours(self) -> list[str]:
        if self.gpu_hours is None:
            return []
        g = f"{self.gpu_hours:,.0f}" + (f" ±{self.gpu_hours_pm:,.0f}" if self.gpu_hours_pm is not None else "") + " GPU-h"
        if self.run_gpu_hours is not None:
            planned = f" of {self.expected_run_gpu_hours:,.0f} planned" if self.expected_run_gpu_hours else ""
            g += f" (run {self.run_gpu_hours:,.0f}{planned})"
        return [g]

    def _loss_and_verdicts(self) -> list[str]:
        out = []
        if self.loss and self.loss.get("last") is not None:
            out.append(f"{self.loss['name']} {self.loss['last']:.4g}" + (f" {self.loss['trend']}" if self.loss["trend"] else ""))
        out.append(" ".join(f"{n} {k}" for k, n in summary(self.findings).items() if n) or "no check decided yet")
        if self.stop:
            out.append(f"STOP: {self.stop}")
        elif self.state != "running":
            out.append(self.state)
        return out

    def oneline(self) -> str:
        """One plain line per update (logs, CI, Slurm)."""
        head = f"[{self.updated}] {self.unit}:"
        if self.state == "waiting":
            return f"{head} waiting for {self.log}"
        return f"{head} " + " | ".join(self._progress() + self._timing() + self._hours() + self._loss_and_verdicts())

    def _grid_rows(self) -> list[tuple[str, str]]:
        """(label, rich markup) of the live view's summary, in order."""
        from rich.markup import escape

        p, e = self.projection, self.expected
        rows = [("step", f"{escape(self.unit)}  [dim]{escape(self.log)}[/]  {self.state}")]
        if self.iteration is not None and self.train_iters:
            rows.append(("iteration", f"{self.iteration:,} / {self.train_iters:,} ({self.iteration / self.train_iters:.1%})"))
        if p and p.ms_per_iter is not None:
            pm = f" ± {p.ms_halfwidth:.1f}" if p.ms_halfwidth is not None else ""
            exp = f"   expected {e.ms_per_iter:.0f}" if e and e.ms_per_iter else ""
            rows.append(("ms / iteration", f"{p.ms_per_iter:.1f}{pm} ({p.intervals} intervals, {p.confidence:.0%}){exp}"))
        if p and p.step_s is not None:
            pm = f" ± {p.halfwidth_s / 3600:.2f}" if p.halfwidth_s is not None else ""
            over = self.overrun_pct
            exp = f"   expected {e.step_s / 3600:.2f} h ({over:+.1f}%)" if e and e.step_s and over is not None else ""
            rows.append(("step time", f"{p.step_s / 3600:.2f} h{pm}{exp}"))
        if e:
            rows.append(("expected from", f"[dim]{escape(e.source)}[/]"))
        if self.projected_end:
            rows.append(("projected end", self.projected_end))
        return rows + self._grid_hours_loss()

    def _grid_hours_loss(self) -> list[tuple[str, str]]:
        from rich.markup import escape

        rows = []
        if self.gpu_hours is not None:
            pm = f" ± {self.gpu_hours_pm:,.1f}" if self.gpu_hours_pm is not None else ""
            exp = f"   expected {self.expected_gpu_hours:,.1f}" if self.expected_gpu_hours else ""
            rows.append(("GPU-hours", f"{self.gpu_hours:,.1f}{pm} on {self.world_size} GPUs{exp}"))
        if self.run_gpu_hours is not None:
            exp = f"   planned {self.expected_run_gpu_hours:,.1f}" if self.expected_run_gpu_hours else ""
            rows.append(("run GPU-hours", f"{self.run_gpu_hours:,.1f}{exp}"))
        if self.loss and self.loss.get("last") is not None:
            rows.append(("loss", f"{escape(self.loss['name'])} {self.loss['last']:.5g}"
                         + (f"  {self.loss['trend']} ({self.loss['change_pct']:+.1f}%)" if self.loss["trend"] else "")))
        rows.append(("policy", f"[dim]{escape(self.policy)}[/]"))
        if self.stop:
            rows.append(("[bold red]STOP[/]", f"[bold red]{escape(self.stop)}[/]"))
        return rows

    def renderable(self):
        """The live terminal view (rich)."""
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for label, text in self._grid_rows():
            grid.add_row(label, text)
        t = Table(expand=False, show_edge=False)
        for col in ("check", "verdict", "expected", "measured", "where"):
            t.add_column(col, no_wrap=col != "measured", overflow="fold")
        for f in sorted(self.findings, key=lambda f: f.status == PASS):
            t.add_row(escape(f.id), f"[{render.STYLE[f.status]}]{f.status}[/]", escape(render.short(f.expected, 30)),
                      escape(render.short(f.measured, 30)), escape(f.where))
        return Group(grid, t)


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, nd)


def _json_safe(x: object) -> object:
    """Strict JSON for schedulers: a non-finite float (a diverged loss) as its text, never NaN or Infinity."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    return [_json_safe(v) for v in x] if isinstance(x, (list, tuple)) else x
