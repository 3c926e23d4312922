"""A step's output: copied to the terminal and to step.log as it comes, with every secret replaced by ***.
Standard library only: scripts/redact.py uses it inside Slurm jobs, on the nodes' own Python."""

from __future__ import annotations

import os
import re
from typing import BinaryIO

SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|_KEY)$")


def secrets(env: dict[str, str]) -> list[str]:
    """The values of the environment's secret-named variables, longest first (so none is half-replaced)."""
    return sorted({v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 4}, key=len, reverse=True)


class Tee:
    """Copy a child's output to every sink as it comes, with secrets redacted across chunk boundaries."""

    def __init__(self, sinks: list[BinaryIO], redact: list[str]) -> None:
        self.sinks = sinks
        self.redact = [s.encode() for s in redact]
        self.keep = max((len(s) for s in self.redact), default=1) - 1
        self.carry = b""

    def feed(self, chunk: bytes, final: bool = False) -> None:
        data = self.carry + chunk
        for s in self.redact:
            data = data.replace(s, b"***")
        cut = len(data) if final or not self.keep else max(0, len(data) - self.keep)
        out, self.carry = data[:cut], data[cut:]
        if out:
            for sink in self.sinks:
                sink.write(out)
                sink.flush()

    def close(self) -> None:
        self.feed(b"", final=True)


def pump(fd: int, tee: Tee) -> None:
    """Copy everything from a file descriptor through the tee until it closes."""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        tee.feed(chunk)
