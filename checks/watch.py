"""`checks watch`: judge a step while it runs, project its end, and say when the profile's policy would stop it.

What can be watched is the registry's: a step with `live` (checks.stepdef.Live) — distill, and bench one
variant at a time (`bench/<variant>`). The watched log is the runner's `RUN_DIR/<unit>/step.log`, followed through
the Run (`Run.follow`: logread.Follower, the Scanner `checks verify` reads with), so one update costs what the log
grew by; the step's own pure parser turns its lines into the record `checks verify` judges.

Decided while the step runs (by the engine's own judge_value and the step's registered rules):
- values of the record that can only grow (`Live.growing`: a FAIL is final, a PASS means "so far") and values
  decided once printed (`Live.early`: distill's tokens per iteration, bench's weight memory at load);
- the step's live rules (distill.py's arguments block against the recorded command, iteration lines against it);
- for a step with an iteration clock (`Live.iterations`): train_iters against the golden last iteration, the loss
  trend (checks.projection.loss_trend) and the projection of its end against the expected step time.
When the log says the step finished (or step.json says it ended), the unit is judged as `checks verify` judges it
(checks.engine: every golden of the unit, means included, and every rule of the step), plus the trend and the
projection. Exit status: checks.findings.exit_code (0, 1 a check failed, 2 ERROR), and 1 at least when the policy
says stop (checks.watchpolicy). `checks watch` only reports the stop; `make <step> WATCH=1` ends the step
(kitlib.hooks.Watch)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from checks import engine, registry, render, rules, rundir
from checks.errors import CheckError, FormatNotRecognised
from checks.findings import ERROR, FAIL, PASS, SKIP, Finding, exit_code
from checks.judge import judge_value
from checks.logread import NoLog
from checks.projection import Expected, Projection, expected_time, loss_trend, project
from checks.run import Run, StepData
from checks.values import is_number
from checks.watchpolicy import (Planned, Policy, load_policy, planned_units, policy_from, profile_policy,  # noqa: F401
                                read_profile)
from checks.watchstatus import Status

__all__ = ["Watcher", "Status", "NoLog", "follow", "exit_code_of", "default_unit", "measure", "project", "Policy",
           "policy_from", "profile_policy", "read_profile", "load_policy", "live_steps"]


def live_steps() -> list[str]:
    """The steps `checks watch` can judge while they run."""
    return [s.name for s in registry.steps() if s.live is not None]


@dataclass
class _Parsed:
    """The unit's record as far as its log goes; `error` the parser's, when it could not read it (yet)."""

    record: object | None = None
    error: CheckError | None = None

    @property
    def broken(self) -> bool:  # the log says something went wrong (e.g. a traceback before the first iteration)
        return self.error is not None and not isinstance(self.error, FormatNotRecognised)


class Watcher:
    """Follows one unit of a run (`distill`, or `bench/<variant>`); `update()` reads what the log grew by and
    returns a Status. One Watcher per attempt; its `stop` is kept once decided."""

    def __init__(self, run_dir: Path, unit: str, *, policy: Policy | None = None, goldens=None,
                 profile=None, clock=time.time) -> None:
        self.run = Run.load(Path(run_dir))  # CheckError now if it is no run directory
        self.run_dir, self.unit = Path(run_dir), unit
        self.step_name, _, self.variant = unit.partition("/")
        self.step = registry.find(self.step_name)
        if self.step is None or self.step.live is None:
            raise CheckError(f"nothing to watch live in step {self.step_name!r}", expected=", ".join(
                f"{s}/<variant>" if registry.get(s).per_variant else s for s in live_steps()),
                hint="other steps are judged when they end: checks verify")
        if self.step.per_variant and not self.variant:
            raise CheckError(f"{self.step_name} runs one unit per variant",
                             expected=f"--step {self.step_name}/<variant>, e.g. bench/7b-fp8")
        self.live = self.step.live
        self.follower = self.run.follow(unit, self.step.scan if self.live.scan else None)
        self.policy = policy or Policy()
        self.goldens, self.profile, self.clock = goldens, profile, clock
        gs = goldens.steps.get(self.step_name, []) if goldens is not None else []
        self.unit_goldens = engine.unit_goldens(gs, self.step_name, self.variant or None)
        self.prefix = self.step.unit_prefix(self.variant or None)
        self.stop: str | None = None
        self.stop_iteration: int | None = None
        self.last_growth: float | None = None
        self.state: str | None = None
        self.status: Status | None = None

    def rel(self, p: Path) -> str:
        return self.run.rel(p)

    def waiting(self) -> Status:
        changed = self.state != "waiting"
        self.state = "waiting"
        return Status(str(self.run_dir), self.unit, self.rel(self.follower.path), "waiting", _now(self.clock()),
                      policy=self.policy.describe(), changed=changed, clocked=self.live.iterations)

    def update(self) -> Status:
        self.run.refresh()
        meta = self.run.unit_meta(self.unit)
        code = (meta.doc or {}).get("exit_code")
        ended = isinstance(code, int) and not isinstance(code, bool)
        grew = self.follower.poll(final=ended)
        now = self.clock()
        if grew or self.last_growth is None:
            self.last_growth = now
        st = Status(str(self.run_dir), self.unit, self.rel(self.follower.path), "running", _now(now),
                    world_size=self._world_size(meta.doc or {}), policy=self.policy.describe(),
                    last_growth_s=now - self.last_growth, clocked=self.live.iterations)
        parsed = self._parse(st.log)
        finished = bool(parsed.record is not None and getattr(parsed.record, "completed", False))
        planned = planned_units(self.profile or read_profile(self.run.profile))
        st.findings = self._live(st, parsed, meta, planned.get(self.unit), done=finished or ended)
        if finished or ended:
            st.findings = self._final(st.findings, ended)
        self._run_hours(st, planned)
        if not (finished or ended) and self.stop is None:
            self.stop = self._decide(st, parsed.record)
            if self.stop:
                self.stop_iteration = st.iteration
        st.stop, st.stop_iteration = self.stop, self.stop_iteration
        st.state = "stopped" if self.stop else "finished" if finished else "ended" if ended else "running"
        st.changed = bool(grew) or st.state != self.state
        self.state, self.status = st.state, st
        return st

    # -- pieces

    def _world_size(self, meta: dict) -> int | None:
        ws = meta.get("world_size")
        if _is_int(ws) and ws:
            return ws
        info = ((self.run.manifest or {}).get("steps") or {}).get(self.unit)
        ws = info.get("world_size") if isinstance(info, dict) else None
        return ws if _is_int(ws) and ws else self.run.context.world_size.get(self.step_name)

    def _parse(self, log: str) -> _Parsed:
        try:
            return _Parsed(self.step.parse(self.follower.lines, log))
        except CheckError as e:  # FormatNotRecognised: nothing the parser knows yet (the step is still loading)
            return _Parsed(None, e)

    def _data(self, parsed: _Parsed, meta) -> StepData:
        """The unit as the engine judges a step: its record (one variant's, in the step's record), its step.json."""
        record = parsed.record
        if record is not None and self.prefix:
            record = self.step.record(**{self.step.variants: {self.variant: parsed.record}})
            record.where.update({f"{self.prefix}{k}": v for k, v in parsed.record.where.items()})
        return StepData(self.step_name, self.run.path / self.step_name, True, record=record,
                        error=parsed.error if record is None else None, metas=[meta] if meta is not None else [])

    def _live(self, st: Status, parsed: _Parsed, meta, planned: Planned | None, done: bool) -> list[Finding]:
        if parsed.broken:
            e = parsed.error
            return [Finding(self.step_name, "log", ERROR, note=e.render(), where=e.where or "")]
        if not self.live.iterations:
            self._planned_time(st, planned)
        rec = parsed.record
        if rec is None:
            return []
        out = self._goldens_live(rec)
        if done or getattr(rec, "iterations", None):  # distill.py's arguments are whole once an iteration follows
            out += rules.step_rules(self.run, self._data(parsed, meta), live=True)
        if self.live.iterations:
            out += self._clocked(st, rec, planned)
        return out

    def _planned_time(self, st: Status, planned: Planned | None) -> None:
        """A step without an iteration clock: the profile's hours are the expectation."""
        if planned is None:
            return
        st.expected = Expected(planned.hours * 3600, None, f"profile: {planned.hours:g} h ({planned.source})")
        if st.world_size:
            st.expected_gpu_hours = st.gpu_hours = planned.hours * st.world_size

    def _goldens_live(self, rec) -> list[Finding]:
        """Goldens on values that are decided before the end (Live.growing, Live.early), and for a step with an
        iteration clock its train_iters (echoed before the first iteration) against the golden last iteration."""
        record = self._data(_Parsed(rec), None).record
        out, ctx, fmt = [], self.run.context, getattr(rec, "format", None)
        for g in self.unit_goldens:
            field = (g.path or "")[len(self.prefix):] if (g.path or "").startswith(self.prefix) else None
            if field in self.live.growing + self.live.early and getattr(rec, field, None) is not None:
                f = judge_value(g, record, ctx, fmt)
                if f.status == PASS and field in self.live.growing:
                    f.note += f" (so far: iteration {rec.last_iteration})" if self.live.iterations else " (so far)"
                out.append(f)
            elif self.live.iterations and field == "last_iteration" and rec.train_iters is not None and is_number(g.expect):
                ok = rec.train_iters == g.expect
                out.append(Finding(self.step_name, "train_iters", PASS if ok else FAIL, expected=g.expect,
                                   measured=rec.train_iters, tolerance="exact", source=f"golden {g.step}.{g.id} ({g.source})",
                                   where=rec.where.get("args") or rec.where.get("iterations", ""),
                                   note="" if ok else "the run will not reach the tutorial's last iteration"))
        return out

    def _clocked(self, st: Status, rec, planned: Planned | None) -> list[Finding]:
        """The loss trend and the projection of a step that logs iterations."""
        st.iteration, st.train_iters = rec.last_iteration, rec.train_iters
        st.loss, trend = loss_trend(self.step_name, rec, self.policy, st.log)
        p = project(rec.iterations, rec.train_iters, self.policy.confidence)
        e = expected_time(self.step_name, self.live.time_golden, rec.train_iters, self.goldens,
                          self.run.context.gpu_model, st.world_size, planned)
        st.projection, st.expected = p, e
        if p and p.remaining_s is not None:
            st.projected_end = _now(self.clock() + p.remaining_s)
        if p and p.step_s is not None and st.world_size:
            st.gpu_hours = st.world_size * p.step_s / 3600
            st.gpu_hours_pm = st.world_size * p.halfwidth_s / 3600 if p.halfwidth_s is not None else None
        if e.step_s and st.world_size:
            st.expected_gpu_hours = st.world_size * e.step_s / 3600
        return ([trend] if trend is not None else []) + [self._projection_finding(p, e, rec)]

    def _projection_finding(self, p: Projection | None, e, rec) -> Finding:
        pol = self.policy
        f = Finding(self.step_name, "projected_step_hours", SKIP, tolerance="projection", source=e.source,
                    where=rec.where.get("iterations", ""))
        f.expected = round(e.step_s / 3600, 4) if e.step_s else None
        limit = pol.max_projected_overrun_pct
        if p is None or p.step_s is None:
            f.note = "not enough iterations logged to project"
            return f
        f.measured = round(p.step_s / 3600, 4)
        if not e.step_s or limit is None:
            f.note = e.source if not e.step_s else f"no max_projected_overrun_pct in the policy ({pol.where}): projection only"
            return f
        gate = pol.gate(p.train_iters)
        f.high = round(e.step_s * (1 + limit / 100) / 3600, 4)
        f.tolerance = f"≤ +{limit:g}% (decided from iteration {gate})"
        if p.iteration < gate or p.intervals < 3 or p.halfwidth_s is None:
            f.note = f"decided from iteration {gate} and 3 intervals (now {p.iteration}, {p.intervals})"
            return f
        over = p.step_s - p.halfwidth_s > e.step_s * (1 + limit / 100)
        f.status = FAIL if over else PASS
        f.note = (f"projected {p.step_s / 3600:.2f} h ±{p.halfwidth_s / 3600:.2f} ({p.confidence:.0%}) at "
                  f"{p.ms_per_iter:.0f} ms/iteration after {p.iteration} of {p.train_iters} iterations"
                  + (f" > {f.high:.2f} h allowed ({e.step_s / 3600:.2f} h expected + {limit:g}%)" if over else ""))
        return f

    def _final(self, live: list[Finding], ended: bool) -> list[Finding]:
        """The step ended: the unit judged as `checks verify` judges it, on the record the Run's loader reads (the
        whole log, with what it chains or adds: a resume's attempts, a bench's declared repeats and result.json),
        by the engine; plus what only watch decides (the trend and the projection). Its exit code is judged once
        step.json has one (the log may say it finished before the process ended)."""
        data = engine.unit_data(self.run.step(self.step_name), self.variant or None)
        judged = dataclasses.replace(data, metas=data.metas if ended else [])
        out = engine.judge_step(self.unit_goldens, judged, self.run.context) + rules.step_rules(self.run, data)
        have = {f.id for f in out}
        return out + [f for f in live if f.id not in have and f.id not in ("train_iters", "log")]

    def _run_hours(self, st: Status, planned: dict[str, Planned]) -> None:
        main = {n: u for n, u in planned.items() if u.group != "extra"}
        if not main:
            return
        st.expected_run_gpu_hours = sum(u.gpu_hours for u in main.values())
        steps = (self.run.manifest or {}).get("steps")
        steps = steps if isinstance(steps, dict) else {}
        total = 0.0
        for name, u in main.items():
            info = steps.get(name) if isinstance(steps.get(name), dict) else {}
            if name == self.unit:
                total += st.gpu_hours if st.gpu_hours is not None else u.gpu_hours
            elif info.get("exit_code") == 0 and is_number(info.get("seconds")) and _is_int(info.get("world_size")):
                total += info["world_size"] * info["seconds"] / 3600
            else:
                total += u.gpu_hours
        st.run_gpu_hours = total

    def _decide(self, st: Status, rec) -> str | None:
        pol = self.policy
        if pol.stop_on_nan and rec is not None and self.live.nan_reason is not None:
            why = self.live.nan_reason(rec)
            if why:
                return why
        proj = next((f for f in st.findings if f.id == "projected_step_hours"), None)
        if proj is not None and proj.status == FAIL:
            return proj.note
        bad = next((f for f in st.findings if f.status == FAIL), None) if pol.stop_on_failed_check else None
        if bad is None:  # not XPASS: a discrepancy gone is no reason to stop
            return None
        return f"check {bad.step}.{bad.id} failed: measured {render.short(bad.measured, 80)}, " \
               f"expected {render.short(bad.expected, 80)}" + (f" ({bad.where})" if bad.where else "")


# ---------------------------------------------------------------- the command


def exit_code_of(st: Status) -> int:
    """The kit's one rule (checks.findings.exit_code: 0 healthy, 1 a decided check failed, 2 ERROR), and 1 at least
    when the policy said stop."""
    code = exit_code(st.findings)
    return max(code, 1) if st.stop else code


def follow(w: Watcher, console, *, every_s: float, once: bool = False, status_file: Path | None = None,
           sleep=time.sleep) -> int:
    """Update until the step finishes, ends or the policy says stop (or once); show each update (a live view on
    a terminal, one plain line per update elsewhere) and write the status file."""
    live = None
    if console.is_terminal and not once:
        from rich.live import Live

        live = Live(console=console, refresh_per_second=4, auto_refresh=False)
        live.start()
    try:
        while True:
            st = _one_update(w, once)
            if status_file is not None:
                rundir.write_atomic(status_file, json.dumps(st.to_json(), indent=2, default=str, allow_nan=False) + "\n")
            if live is not None:
                live.update(st.renderable(), refresh=True)
            elif st.changed or once:
                console.print(st.oneline(), markup=False, highlight=False, soft_wrap=True)
            if once or st.state in ("finished", "ended", "stopped"):
                if live is not None and st.stop:
                    live.stop()
                    live = None
                    console.print(f"stop: {st.stop}", markup=False, highlight=False, soft_wrap=True)
                return exit_code_of(st)
            sleep(every_s)
    finally:
        if live is not None:
            live.stop()


def _one_update(w: Watcher, once: bool) -> Status:
    try:
        return w.update()
    except NoLog as e:
        if once:
            raise CheckError(f"no log yet: {w.rel(w.follower.path)}", where=e.where,
                             hint="the step has not started; without --once, checks watch waits for it") from None
        return w.waiting()


def default_unit(run_dir: Path) -> str:
    """The unit that is running (its step.json has no exit code yet), else the first step that can be watched."""
    run = Run.load(Path(run_dir))
    units = []
    for name in live_steps():
        step, sdir = registry.get(name), Path(run_dir) / name
        units += [f"{name}/{d.name}" for d in run.subdirs(sdir)] if step.per_variant and sdir.is_dir() else [name]
    for unit in units:
        doc = run.unit_meta(unit).doc
        if isinstance(doc, dict) and doc.get("exit_code") is None:
            return unit
    return live_steps()[0]


def measure(run: Run, unit: str, confidence: float = 0.95) -> Projection | None:
    """For `make plan`: the projection of a unit's log as it stands (None without iterations, or for a step whose
    log has no iteration clock)."""
    step = registry.get(unit.split("/", 1)[0])
    if step.live is None or not step.live.iterations:
        return None
    f = run.follow(unit, step.scan if step.live.scan else None)
    try:
        f.poll(final=True)
        rec = step.parse(f.lines, run.rel(f.path))
    except CheckError:
        return None
    return project(rec.iterations, rec.train_iters, confidence) if rec.iterations else None


def _now(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
