"""nvidia-smi memory samples beside a step (local and docker runners: the GPUs are this host's).

The nvidia-smi child is bound to the kit's life (PR_SET_PDEATHSIG on Linux): if the kit is killed, even
with SIGKILL, its sampler goes with it instead of looping forever."""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

QUERY = "--query-gpu=timestamp,index,name,memory.used,memory.total"


def die_with_parent() -> None:
    """In the child, before exec: end it (SIGTERM) when the process that started it dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


class GpuSampler(threading.Thread):
    def __init__(self, path: Path, every_s: int) -> None:
        super().__init__(daemon=True)
        self.path, self.every_s, self.proc = path, every_s, None
        self.started_proc = threading.Event()

    def run(self) -> None:
        smi = shutil.which("nvidia-smi")
        if not smi:
            self.started_proc.set()
            return
        with self.path.open("a") as f:
            self.proc = subprocess.Popen([smi, QUERY, "--format=csv,noheader,nounits", "-l", str(self.every_s)],
                                         stdout=f, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
            self.started_proc.set()
            self.proc.wait()

    def stop(self) -> None:
        self.started_proc.wait(5)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
