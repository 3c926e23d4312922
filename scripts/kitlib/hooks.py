"""Step hooks: work the kit does beside a step for the tutorial's sake, each with start/finish.

Keeper: distill.py keeps only the 5 most recent checkpoints, so the iteration the tutorial converts
(12800 of 16000) is deleted before the run ends. The keeper hard-links each chosen iteration into
output/kept/ as soon as it is saved, and puts it back after the run. A kept copy belongs to the attempt
that made it: at the start of a new attempt, earlier copies move to <step>/attempts/N/kept/ and are never
restored automatically (they may hold another run's weights); the note says how to restore one by hand.

Watch (WATCH=1): checks.watch beside the step, in-process, on the growing <step>/step.log. Every `every_s` it
re-judges the log; when the profile's `watch:` policy says stop, it ends the step on its runner (the `stop`
callable: launchers.stop), and the runner keeps the attempt as failed and writes the reason into the log."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

from checks import rundir
from checks.errors import CheckError


class Keeper(threading.Thread):
    def __init__(self, ckpt_dir: Path, iterations: list[int], every_s: float = 30) -> None:
        super().__init__(daemon=True)
        self.ckpt_dir, self.iterations, self.every_s = ckpt_dir, iterations, every_s
        self.kept_dir = ckpt_dir.parent / rundir.KEPT_DIR
        self.halt = threading.Event()
        self.notes: list[str] = []  # reported after the step's own output, not in the middle of it
        self.mine: set[int] = set()

    def set_aside(self, attempt_dir: Path | None) -> None:
        """Before the attempt: copies kept by an earlier attempt go to that attempt's directory."""
        old = [p for p in sorted(self.kept_dir.glob("iter_*")) if p.is_dir()] if self.kept_dir.is_dir() else []
        if not old:
            return
        dest = (attempt_dir or self.kept_dir.parent) / "kept-from-earlier-attempt"
        dest.mkdir(parents=True, exist_ok=True)
        for p in old:
            p.rename(dest / p.name)
            self.notes.append(f"[kit] an earlier attempt's kept copy of {p.name} was moved to {dest}; it is not restored "
                              f"into this attempt. If this attempt resumed from that run, restore it by hand: "
                              f"mv {dest / p.name} {self.ckpt_dir}/")

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            self.keep()

    def keep(self) -> None:
        try:
            latest = int((self.ckpt_dir / "latest_checkpointed_iteration.txt").read_text().strip())
        except (OSError, ValueError):
            return
        for it in self.iterations:
            src, dst = self.ckpt_dir / f"iter_{it:07d}", self.kept_dir / f"iter_{it:07d}"
            if it <= latest and src.is_dir() and not dst.exists():
                self.kept_dir.mkdir(parents=True, exist_ok=True)
                tmp = dst.with_name(dst.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                if subprocess.run(["cp", "-al", str(src), str(tmp)]).returncode == 0:
                    tmp.rename(dst)
                    self.mine.add(it)
                    self.notes.append(f"[kit] kept a hard-link copy of {src.name} in {self.kept_dir}")

    def finish(self) -> None:
        """After the step: one last look, then put back what this attempt kept and the trainer deleted."""
        self.halt.set()
        self.keep()
        for it in sorted(self.mine):
            src, dst = self.kept_dir / f"iter_{it:07d}", self.ckpt_dir / f"iter_{it:07d}"
            if src.is_dir() and not dst.exists():
                src.rename(dst)
                self.notes.append(f"[kit] restored {dst.name} (removed by checkpoint rotation) from {self.kept_dir}")


class Watch(threading.Thread):
    def __init__(self, run_dir: Path, unit: str, policy, goldens, profile_doc, every_s: float | None = None) -> None:
        from checks import watch

        super().__init__(daemon=True)
        self.watcher = watch.Watcher(run_dir, unit, policy=policy, goldens=goldens, profile=profile_doc)
        self.every_s = every_s if every_s is not None else policy.every_s
        self.halt = threading.Event()
        self.stop_step = None  # set by begin(): ends the step on its runner
        self.stopped: str | None = None  # the policy's reason, once it said stop
        self.last = None  # the last checks.watch.Status
        self.notes: list[str] = []

    @classmethod
    def for_unit(cls, run_dir: Path, unit, profile_name: str) -> Watch | None:
        """The watcher of a unit under its profile's `watch:` policy and goldens; None (said why) for a step
        with nothing to watch live. Bad policy or goldens raise here, before the step is launched."""
        from checks import goldens, kitfiles, registry, watch
        from kitlib.profile import read

        if registry.get(unit.step).live is None:
            print(f"[kit] watch: nothing to judge live in {unit.name}; it is judged when it ends (make check)", flush=True)
            return None
        doc = read(profile_name)
        g = goldens.load(kitfiles.goldens_file(profile_name))  # the kit's goldens of the profile
        every = os.environ.get("KIT_WATCH_EVERY_S")  # tests: seconds instead of the policy's minute
        try:
            every_s = float(every) if every else None
        except ValueError:
            raise CheckError(f"KIT_WATCH_EVERY_S={every!r} is not a number of seconds") from None
        return cls(run_dir, unit.name, watch.profile_policy(doc), g, doc, every_s)

    def begin(self, stop_step) -> None:
        self.stop_step = stop_step
        self.start()

    def run(self) -> None:
        while not self.halt.wait(self.every_s):
            if self.check():
                return

    def check(self) -> bool:
        """One update; True when watching is over (the policy said stop, or the watcher broke)."""
        from checks.watch import NoLog

        try:
            st = self.watcher.update()
        except NoLog:
            return False
        except Exception as e:  # a watcher that breaks must not take the step with it
            self.notes.append(f"[kit] watch: stopped watching ({type(e).__name__}: {e}); the step goes on")
            return True
        self.last = st
        if st.stop and not self.halt.is_set():
            self.stopped = st.stop
            self.stop_step(f"watch: {st.stop}")
            return True
        return False

    def finish(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=60)

    def report(self) -> str:
        """What goes into the step's log after the step's own output."""
        lines = list(self.notes)
        if self.stopped:
            lines.append(f"[kit] watch: stopping: {self.stopped}")
        elif self.last is not None:
            lines.append(f"[kit] watch: last update: {self.last.oneline()}")
        return "".join(f"\n{n}" for n in lines) + "\n" if lines else ""

    def record(self) -> dict:
        """For step.json."""
        st = self.last.to_json() if self.last else {}
        keep = ("iteration", "train_iters", "ms_per_iter", "ms_per_iter_pm", "projected_step_hours", "projected_step_hours_pm",
                "expected_step_hours", "overrun_pct", "projected_gpu_hours", "summary")
        return {"stopped": self.stopped, "at_iteration": st.get("stop_iteration"), "policy": self.watcher.policy.where,
                "last": {k: st.get(k) for k in keep} if st else None}
