"""Reading logs: the one place where lines are numbered, cleaned and stripped of launcher prefixes.

Every parser consumes `Line(no, text, rank)` tuples: `no` is the 1-based line number in the file, `text` the
line without colour codes, carriage-return progress states and launcher prefixes, `rank` the rank the
launcher named (or None). Two sources:

- `lines(path)` / `text_lines(text)`: every line, for small logs (prune, bench, quantize).
- `scan(path, needles, blocks)`: only lines containing one of `needles`, found by one `bytes.find` pass per
  needle over large binary chunks (C speed), plus every line of a block between a start and an end marker.
  For logs of many gigabytes (a 768-GPU distillation) this is faster than a Python loop over the lines, in
  constant memory. `Scanner` does the same for a log fed piece by piece (checks.watch follows a growing log).

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
CHUNK = 4 << 20  # a read: large enough that per-chunk work is noise, small enough to add little to the peak


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
# One needle per branch, each the longest literal the branch requires: a find pass costs about 1/length.
TROUBLE_NEEDLES = ("Traceback (most recent call last):", "Killed",
                   "torch.distributed.elastic.multiprocessing.errors.ChildFailedError", "OutOfMemoryError", ": error:",
                   "Segmentation fault", "CUDA out of memory")


def trouble(text: str) -> bool:
    """Is this (cleaned) line the sign of a failed process?"""
    return bool(_TROUBLE.match(text.lstrip()))


def keep_trouble(rec, at: str, text: str) -> None:
    """Note a failure line on a record: the first 10 in `rec.trouble`, and the first one after the record's completion
    line in `rec.trouble_after_completion` (a run that failed after saying it finished)."""
    said = f"{at}: {text.strip()[:200]}"
    if len(rec.trouble) < 10:
        rec.trouble.append(said)
    if rec.completed and rec.trouble_after_completion is None:
        rec.trouble_after_completion = said


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


SAMPLE = 1 << 20  # bytes of the log that choose each needle's anchor byte


def _anchors(sample: bytes, keys: list[bytes]) -> list[int]:
    """For each key, the offset of its rarest byte in `sample`, or -1 when even that byte is common (more than
    one in 4 KiB): searching for one byte is memchr (ten times faster than a multi-byte find), and a rare byte
    is followed by few checks. Logs differ (one says "OK" on every line); `_find` falls back when it guessed wrong."""
    out = []
    for k in keys:
        if not k:  # the empty needle: every line
            out.append(-1)
            continue
        n, j = min((sample.count(k[i:i + 1]), i) for i in range(len(k)))
        out.append(j if n * 4096 <= max(len(sample), 1) else -1)
    return out


def _find(data: bytes, k: bytes, j: int, p: int, hi: int, budget: list[int]) -> int:
    """data.find(k, p, hi), found through the byte k[j] while `budget[0]` (false hits allowed in this chunk)
    lasts; then as a plain find."""
    if j < 0 or budget[0] <= 0:
        return data.find(k, p, hi)
    find, startswith, b = data.find, data.startswith, k[j:j + 1]
    q = find(b, p + j, hi)
    while q >= 0:
        if startswith(k, q - j, hi):
            return q - j
        budget[0] -= 1
        if budget[0] <= 0:
            return find(k, q - j + 1, hi)
        q = find(b, q + 1, hi)
    return -1


def _hits(data: bytes, lo: int, hi: int, keys: list[bytes], anchors: list[int],
          words: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of each line of `data[lo:hi]` (`hi` just past a newline, or the end of the file) holding one
    of `keys`, in order. One pass per key at C speed (`_find`: several times faster than one regex alternation,
    whose engine tries every branch at most positions); after a hit the pass goes on from the end of its line,
    so a line that holds a key three times costs one find. A line with a colour code or a NUL is also taken
    when its cleaned text holds one of `words` (the needles as text): a code can split a needle."""
    if not keys or not keys[0]:  # no needle (or an empty one): every line
        out, pos = [], lo
        while pos < hi:
            end = data.find(b"\n", pos, hi)
            end = hi if end < 0 else end
            out.append((pos, end))
            pos = end + 1
        return out
    found: dict[int, int] = {}
    find, rfind = data.find, data.rfind
    for k, j in zip(keys, anchors):
        budget = [(hi - lo) // 2048 + 8]  # a false hit costs ~0.3 us; a plain find 0.25-0.5 ms a MiB
        p = _find(data, k, j, lo, hi, budget)
        while p >= 0:
            start = rfind(b"\n", lo, p) + 1 or lo
            end = find(b"\n", p + len(k), hi)
            end = hi if end < 0 else end
            found[start] = end
            p = _find(data, k, j, end + 1, hi, budget) if end < hi else -1
    for c in (b"\x1b", b"\x00"):  # memchr: nearly free when absent
        p = find(c, lo, hi)
        while p >= 0:
            start = rfind(b"\n", lo, p) + 1 or lo
            end = find(b"\n", p, hi)
            end = hi if end < 0 else end
            if start not in found:
                t = clean(data[start:end].decode("utf-8", "replace"))[0]
                if any(w in t for w in words):
                    found[start] = end
            p = find(c, end + 1, hi) if end < hi else -1
    return sorted(found.items())


class Scanner:
    """Picks lines as `scan` does, from whole lines handed to `lines()` one piece after another (a file read in
    chunks, or a growing log read as it grows: checks.watch); it keeps the next line's number and the open block.
    `needles=None` (or an empty needle) picks every line."""

    __slots__ = ("keys", "anchors", "sampled", "words", "starts", "max_block", "src", "lineno", "block_end", "block_left")

    def __init__(self, needles: Iterable[str] | None, blocks: Iterable[tuple[str, str]] = (), max_block: int = 2000,
                 src: str | None = None) -> None:
        self.starts = list(blocks)
        self.words = tuple(dict.fromkeys([*(needles if needles is not None else [""]), *(s for s, _ in self.starts)]))
        self.keys = _keys(self.words)
        self.anchors, self.sampled = [-1] * len(self.keys), -1
        self.max_block, self.src = max_block, src
        self.lineno, self.block_end, self.block_left = 1, None, 0

    def _opens(self, t: str) -> bool:
        """A line holding a block's start marker opens that block."""
        for s, e in self.starts:
            if s in t:
                self.block_end, self.block_left = e, self.max_block
                return True
        return False

    def _block_line(self, t: str) -> None:
        """A line inside a block: a start marker begins the block again (as a parser reading every line would
        see it), an end marker or the length limit closes it."""
        if self._opens(t):
            return
        self.block_left -= 1
        if self.block_end in t or self.block_left <= 0:
            self.block_end = None

    def _block(self, data: bytes, pos: int, stop: int, hi: int) -> Iterator[Line]:
        """Every line of an open block from `pos` (a line start) until `stop` or the block closes; returns the
        position after the last line yielded."""
        while self.block_end is not None and pos < stop:
            e = data.find(b"\n", pos, hi)
            e = hi if e < 0 else e
            t, r = clean(data[pos:e].decode("utf-8", "replace"))
            yield Line(self.lineno, t, r, self.src)
            self.lineno += 1
            pos = e + 1
            self._block_line(t)
        return pos

    def lines(self, data: bytes, lo: int = 0, hi: int | None = None) -> Iterator[Line]:
        """The wanted lines of data[lo:hi]: whole lines only (`hi` just past a newline, or the end of the input);
        the line at `lo` is number `self.lineno`."""
        hi = len(data) if hi is None else hi
        src = self.src
        if self.sampled < SAMPLE and hi - lo > self.sampled:  # anchors from the first MiB (or all of a smaller log)
            self.sampled = min(hi - lo, SAMPLE)
            self.anchors = _anchors(data[lo:lo + SAMPLE], self.keys)
        pos = lo  # next unread byte, at a line start; `self.lineno` is its number
        for start, end in _hits(data, lo, hi, self.keys, self.anchors, self.words):
            if self.block_end is not None:  # a block's lines up to this hit, hit or not
                pos = yield from self._block(data, pos, start, hi)
            if start < pos:
                continue  # yielded as a block line
            self.lineno += data.count(b"\n", pos, start)
            t, r = clean(data[start:end].decode("utf-8", "replace"))
            yield Line(self.lineno, t, r, src)
            self.lineno += 1
            pos = end + 1
            if self.block_end is not None:  # a hit that is also a block line
                self._block_line(t)
                continue
            self._opens(t)
        if self.block_end is not None:  # the block goes on past the last hit
            pos = yield from self._block(data, pos, hi, hi)
        if pos < hi:
            self.lineno += data.count(b"\n", pos, hi)


def scan(path: Path, needles: Iterable[str], blocks: Iterable[tuple[str, str]] = (), max_block: int = 2000,
         src: str | None = None) -> Iterator[Line]:
    """Lines containing any of `needles`, and every line from a line containing a block's start marker up to
    and including the first containing its end marker (at most `max_block` lines; a start marker inside a block
    begins it again), in file order.

    Chunks are searched in place (no copy of a chunk): the line that straddles two chunks is joined on its own."""
    st = Scanner(needles, blocks, max_block, src)
    with _open(path) as f:
        carry = b""  # the start of a line the previous chunk cut
        while chunk := f.read(CHUNK):
            first = chunk.find(b"\n")
            if first < 0:
                carry += chunk  # a line longer than the chunk: read on
                continue
            head = carry + chunk[:first + 1]
            yield from st.lines(head, 0, len(head))
            cut = chunk.rfind(b"\n") + 1
            if cut > first + 1:
                yield from st.lines(chunk, first + 1, cut)
            carry = chunk[cut:]
        if carry:
            yield from st.lines(carry, 0, len(carry))


class Follower:
    """A growing log read from where it stopped (checks.watch, through Run.follow): only complete lines (a line
    being written is read when its newline arrives, or at the end with `final=True`), picked by a `Scanner` as
    `scan` picks them (`needles=None`: every line), so one update costs what the log grew by and memory holds
    only the lines the parser reads. A log that shrank or was replaced (the runner moves a failed attempt's log
    away) is read again from its start. `poll` raises NoLog while there is no file."""

    def __init__(self, path: Path, needles: Iterable[str] | None = None, blocks: Iterable[tuple[str, str]] = (),
                 max_block: int = 2000, src: str | None = None) -> None:
        self.path, self.src = Path(path), src
        self.needles, self.blocks, self.max_block = needles, tuple(blocks), max_block
        self._reset(None)

    def _reset(self, ino: int | None) -> None:
        self.ino, self.pos, self.carry = ino, 0, b""
        self.lines: list[Line] = []
        self.scanner = Scanner(self.needles, self.blocks, self.max_block, self.src)  # line numbers and open block

    def _open(self):
        import os

        try:
            return os.stat(self.path), open(self.path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise NoLog("no log yet", where=str(self.path), expected="the step's output, teed there by the runner",
                        hint="the step has not started: start it (make <step>), or wait") from None
        except (IsADirectoryError, PermissionError) as e:
            raise CheckError("the step's log cannot be read", where=str(self.path), found=type(e).__name__) from None

    def poll(self, final: bool = False) -> int:
        """Read what the log grew by; returns how many lines were kept."""
        st, f = self._open()
        before = len(self.lines)
        with f:
            if st.st_ino != self.ino or st.st_size < self.pos:
                self._reset(st.st_ino)
                before = 0
            f.seek(self.pos)
            while chunk := f.read(CHUNK):
                self.pos += len(chunk)
                buf = self.carry + chunk
                cut = buf.rfind(b"\n") + 1
                self.carry = buf[cut:]
                if cut:
                    self.lines.extend(self.scanner.lines(buf[:cut]))
        if final and self.carry:
            self.lines.extend(self.scanner.lines(self.carry))
            self.carry = b""
        return len(self.lines) - before


class NoLog(CheckError):
    """The step's log does not exist (yet)."""
