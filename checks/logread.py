"""Reading logs: the one place where lines are numbered, cleaned and stripped of launcher prefixes.

Every parser consumes `Line(no, text, rank)` tuples: `no` is the 1-based line number in the file, `text` the
line without colour codes, carriage-return progress states and launcher prefixes, `rank` the rank the
launcher named (or None). Two sources:

- `lines(path)` / `text_lines(text)`: every line, for small logs (prune, bench, quantize).
- `scan(path, needles, blocks)`: only lines containing one of `needles`, found by a regex over large
  binary chunks (C speed), plus every line of a block between a start and an end marker. For logs of
  many gigabytes (a 768-GPU distillation) this reads at disk speed in constant memory.

Prefixes recognised (stripped repeatedly, in any order): CI/Docker timestamps (`2026-05-20T10:00:00.123Z `),
torchrun --tee (`[default0]:`), srun -l (`0: `), torch elastic (`[rank0]:`), docker compose (`svc-1  | `)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from checks.errors import CheckError

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_PREFIX = re.compile(
    r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?[ \t]"  # ISO timestamp (CI, docker logs -t)
    r"|\[default(?P<tee>\d+)\]:"  # torchrun --tee 3
    r"|\[rank(?P<rank>\d+)\]:[ ]?"  # torch elastic / Megatron print_rank
    r"|[ ]*(?P<srun>\d{1,5}): "  # srun --label (right-aligned to the widest task id)
    r"|[\w.-]+-\d+\s+\| )"  # docker compose service prefix
)
CHUNK = 8 << 20


class Line(NamedTuple):
    no: int
    text: str
    rank: str | None = None
    src: str | None = None  # the file, when lines of several files are chained (a step's attempts)


# Lines that mean a process failed, whatever the tool: a Python traceback, the kernel's OOM killer, a torchrun
# child failure, a CUDA OOM, Slurm's own errors. Matched on cleaned lines (launcher prefixes removed).
_TROUBLE = re.compile(
    r"^(?:Traceback \(most recent call last\):"
    r"|(?:/bin/(?:ba)?sh: line \d+: +\d+ )?Killed\b"
    r"|torch\.distributed\.elastic\.multiprocessing\.errors\.ChildFailedError"
    r"|(?:torch\.)?(?:cuda\.)?OutOfMemoryError\b"
    r"|(?:srun|slurmstepd): error:"
    r"|Segmentation fault"
    r"|\w*Error: .*CUDA out of memory)")
TROUBLE_NEEDLES = ("Traceback", "Killed", "ChildFailedError", "OutOfMemoryError", "error:", "Segmentation fault",
                   "CUDA out of memory")


def trouble(text: str) -> bool:
    """Is this (cleaned) line the sign of a failed process?"""
    return bool(_TROUBLE.match(text.lstrip()))


def clean(raw: str) -> tuple[str, str | None]:
    """One raw line -> (text without ANSI codes, \\r progress states, NULs and launcher prefixes; rank)."""
    if "\x1b" in raw:
        raw = _ANSI.sub("", raw)
    if "\r" in raw:
        raw = raw.rstrip("\r")
        raw = raw.rsplit("\r", 1)[-1]  # a tqdm bar rewrites its line; only the last state was visible
    if "\x00" in raw:
        raw = raw.replace("\x00", "")
    rank = None
    pos = 0
    while m := _PREFIX.match(raw, pos):
        if m.end() == pos:
            break
        r = m.group("tee") or m.group("rank") or m.group("srun")
        if r is not None and rank is None:
            rank = r
        pos = m.end()
    return (raw[pos:] if pos else raw), rank


def text_lines(text: str, src: str | None = None) -> Iterator[Line]:
    """Every line of a text, numbered and cleaned (for pure parsers and tests)."""
    for no, raw in enumerate(text.split("\n"), 1):
        t, r = clean(raw)
        yield Line(no, t, r, src)


def _open(path: Path):
    try:
        return Path(path).open("rb")
    except FileNotFoundError:
        raise CheckError("log file missing", where=str(path), expected="the step's combined output, written by the runner",
                         found="no such file", hint="run the step (e.g. `make <step>`) or point at the right run directory") from None
    except IsADirectoryError:
        raise CheckError("expected a log file, got a directory", where=str(path)) from None
    except PermissionError:
        raise CheckError("log file cannot be read", where=str(path), found="permission denied") from None


def lines(path: Path, src: str | None = None) -> Iterator[Line]:
    """Every line of a log file, numbered and cleaned; undecodable bytes become U+FFFD."""
    with _open(path) as f:
        for no, raw in enumerate(f, 1):
            t, r = clean(raw.decode("utf-8", "replace").rstrip("\n"))
            yield Line(no, t, r, src)


def _keys(needles: Iterable[str]) -> list[bytes]:
    """The byte strings to look for: a needle that contains another needle finds no line of its own."""
    out: list[bytes] = []
    for k in sorted({n.encode() for n in needles}, key=len):
        if not any(o in k for o in out):
            out.append(k)
    return out


def _hits(work: bytes, keys: list[bytes]) -> list[tuple[int, int]]:
    """(start, end) of each line of `work` holding one of `keys`, in order. One `bytes.find` pass per key (C speed,
    several times faster than one regex alternation, whose engine tries every branch at most positions); after a
    hit the pass goes on from the end of its line, so a line that holds a key three times costs one find."""
    if not keys or not keys[0]:  # no needle (or an empty one): every line
        out, pos, n = [], 0, len(work)
        while pos < n:
            end = work.find(b"\n", pos)
            end = n if end < 0 else end
            out.append((pos, end))
            pos = end + 1
        return out
    found: dict[int, int] = {}
    find, rfind, n = work.find, work.rfind, len(work)
    for k in keys:
        p = find(k)
        while p >= 0:
            start = rfind(b"\n", 0, p) + 1
            end = find(b"\n", p + len(k))
            end = n if end < 0 else end
            found[start] = end
            p = find(k, end + 1) if end < n else -1
    return sorted(found.items())


def scan(path: Path, needles: Iterable[str], blocks: Iterable[tuple[str, str]] = (), max_block: int = 2000,
         src: str | None = None) -> Iterator[Line]:
    """Lines containing any of `needles`, and every line from a line containing a block's start marker up to
    and including the first containing its end marker (at most `max_block` lines), in file order."""
    blocks = list(blocks)
    keys = _keys([*needles, *(s for s, _ in blocks)])
    starts = [(s, e) for s, e in blocks]
    with _open(path) as f:
        lineno = 1  # number of the first line of `work`
        buf = b""
        block_end: str | None = None
        block_left = 0
        eof = False
        while not eof:
            chunk = f.read(CHUNK)
            eof = not chunk
            buf += chunk
            if not eof:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    continue  # a line longer than the chunk: read on
                work, buf = buf[:cut], buf[cut:]
            else:
                work, buf = buf, b""
                if not work:
                    break
            n = len(work)
            pos = 0  # next unread byte of `work`, at a line start; `lineno` is its number
            for start, end in _hits(work, keys):
                while block_end is not None and pos < n and pos < start:  # a block's lines, hit or not
                    e = work.find(b"\n", pos)
                    e = n if e < 0 else e
                    t, r = clean(work[pos:e].decode("utf-8", "replace"))
                    yield Line(lineno, t, r, src)
                    lineno += 1
                    pos = e + 1
                    block_left -= 1
                    if block_end in t or block_left <= 0:
                        block_end = None
                if start < pos:
                    continue  # yielded as a block line
                lineno += work.count(b"\n", pos, start)
                t, r = clean(work[start:end].decode("utf-8", "replace"))
                yield Line(lineno, t, r, src)
                lineno += 1
                pos = end + 1
                if block_end is not None:  # a hit that is also a block line
                    block_left -= 1
                    if block_end in t or block_left <= 0:
                        block_end = None
                    continue
                for s, e in starts:
                    if s in t:
                        block_end, block_left = e, max_block
                        break
            while block_end is not None and pos < n:  # the block goes on past the last hit of this chunk
                e = work.find(b"\n", pos)
                e = n if e < 0 else e
                t, r = clean(work[pos:e].decode("utf-8", "replace"))
                yield Line(lineno, t, r, src)
                lineno += 1
                pos = e + 1
                block_left -= 1
                if block_end in t or block_left <= 0:
                    block_end = None
            if pos < n:
                lineno += work.count(b"\n", pos, n)
