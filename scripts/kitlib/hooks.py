"""Step hooks: work the kit does beside a step for the tutorial's sake, each with start/finish.

Keeper: distill.py keeps only the 5 most recent checkpoints, so the iteration the tutorial converts
(12800 of 16000) is deleted before the run ends. The keeper hard-links each chosen iteration into
output/kept/ as soon as it is saved, and puts it back after the run. A kept copy belongs to the attempt
that made it: at the start of a new attempt, earlier copies move to <step>/attempts/N/kept/ and are never
restored automatically (they may hold another run's weights); the note says how to restore one by hand."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

from checks import rundir


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
