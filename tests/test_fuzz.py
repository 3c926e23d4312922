"""Arbitrary text never crashes a parser: it returns a record or raises CheckError (shown as ERROR)."""

from __future__ import annotations

import dataclasses
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.errors import CheckError
from checks.hfckpt import read_safetensors_header
from checks.steps import bench, distill, eval_, prune
from checks.logread import Line, scan, text_lines
from checks.textparse import rich_blocks
from tutorial_run import bench_log, distill_log, prune_log

EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REAL = (prune_log("modelopt-0.44") + prune_log("modelopt-0.46") + distill_log(train_iters=200) + bench_log(7.8, 1147)).split("\n")


def _mangle(line: str, cut: int, junk: str) -> str:
    cut = cut % (len(line) + 1)
    return line[:cut] + junk + line[cut:]


# Real log lines, cut and spliced with arbitrary text: reaches deep into the parsers' branches.
lines = st.one_of(st.sampled_from(REAL), st.builds(_mangle, st.sampled_from(REAL), st.integers(0, 400), st.text(max_size=12)),
                  st.text(max_size=80))
logs = st.one_of(st.text(), st.lists(lines, max_size=60).map("\n".join))


def _survives(fn, *args):
    try:
        fn(*args)
    except CheckError:
        pass


@EXAMPLES
@given(logs)
def test_prune_parser(text):
    _survives(prune.parse_log, text)


@EXAMPLES
@given(logs)
def test_distill_parser(text):
    _survives(distill.parse_log, text)


@EXAMPLES
@given(logs)
def test_bench_parser(text):
    _survives(bench.parse_log, text)


@EXAMPLES
@given(logs)
def test_rich_readers(text):
    items = list(rich_blocks(text_lines(text)))
    plain = [i.no for i in items if isinstance(i, Line)]
    assert plain == sorted(plain)  # line numbers survive, in order


@EXAMPLES
@given(st.one_of(logs, st.lists(st.sampled_from(["itera\x1b[0mtion 5/9 |", "Kil\x00led", "\x1b[31mKilled\x1b[0m",
                                                 "x\x1b[1m\x1b[0m", "iteration"]), max_size=8).map("\n".join)),
       st.sampled_from([["iteration"], ["iteration", "memory (GB)"], ["Throughput", "x"], ["Killed", "iteration"]]),
       st.sampled_from([(), (("=== Arguments ===", "====="),)]), st.sampled_from([7, 64, 4096]))
def test_scan_finds_what_a_line_loop_finds(tmp_path_factory, text, needles, blocks, chunk):
    """The chunked scanner yields exactly the lines a plain loop over the cleaned lines would pick."""
    import checks.logread as lr

    p = tmp_path_factory.mktemp("sc") / "x.log"
    p.write_bytes(text.encode("utf-8", "replace"))
    want, in_block = [], None
    data = p.read_bytes().decode("utf-8", "replace")
    raw_lines = data.split("\n")[:-1] if data.endswith("\n") else data.split("\n")
    for no, raw in enumerate(raw_lines, 1):
        t, _ = lr.clean(raw)
        if in_block is not None:
            want.append((no, t))
            restart = next((e for s, e in blocks if s in t), None)  # a start marker begins the block again
            in_block = restart or (None if in_block in t else in_block)
            continue
        # a needle in the raw line, or in its cleaned text (a colour code can split a needle)
        if any(n in raw or n in t for n in needles) or any(s in raw or s in t for s, _ in blocks):
            want.append((no, t))
            in_block = next((e for s, e in blocks if s in t), None)
    old = lr.CHUNK
    lr.CHUNK = chunk  # small chunks: lines straddle the boundaries
    try:
        got = [(x.no, x.text) for x in scan(p, needles, blocks)]
    finally:
        lr.CHUNK = old
    assert got == want


yaml_like = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=10)),
                         lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
                         max_leaves=20)


@EXAMPLES
@given(st.one_of(st.text(), yaml_like.map(lambda d: __import__("yaml").safe_dump({"results": {"tasks": d}}))))
def test_results_yml_parser(text):
    _survives(eval_.parse_results_yml, text)


@EXAMPLES
@given(st.one_of(st.text(), yaml_like.map(lambda d: __import__("json").dumps({"results": d}, allow_nan=True))))
def test_lm_eval_parser(text):
    _survives(eval_.parse_lm_eval_json, text)


@EXAMPLES
@given(st.one_of(st.binary(max_size=200),
                 st.builds(lambda n, body: struct.pack("<Q", n) + body, st.integers(0, 2**64 - 1), st.binary(max_size=200)),
                 yaml_like.map(lambda d: (lambda raw: struct.pack("<Q", len(raw)) + raw)(__import__("json").dumps(d).encode()))))
def test_safetensors_header_reader(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("fz") / "x.safetensors"
    p.write_bytes(data)
    _survives(read_safetensors_header, p)


# Lines of every kind the distill parser acts on: real ones, the failures `logread.trouble` knows (some behind a
# launcher prefix or split by a colour code), and needles that only look like them.
TROUBLE = ["Traceback (most recent call last):", "[default3]:Traceback (most recent call last):", "Killed",
           "/bin/bash: line 1:  4242 Killed                  python distill.py", "\x1b[31mKilled\x1b[0m",
           "Trace\x1b[0mback (most recent call last):", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate",
           "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ", "srun: error: nid00001: task 3: Exited",
           "3: slurmstepd: error: *** STEP 42.0 ON nid00001 CANCELLED ***", "Segmentation fault (core dumped)",
           "RuntimeError: CUDA out of memory.", "Traceback", "Killed by signal", "Distillation done! Saved to x",
           "Distillation done", "itera\x1b[0mtion      20/     200 | consumed samples:  15360 | total loss: 1.5 |"]
DISTILL = [x for x in distill_log(train_iters=40, save_interval=20).split("\n")] + TROUBLE
distill_lines = st.one_of(st.sampled_from(DISTILL), st.builds(  # cut and spliced, but never a "=====" line
    _mangle, st.sampled_from([x for x in DISTILL if "=====" not in x]), st.integers(0, 400), st.text("abc|:! ", max_size=6)))


@EXAMPLES
@given(st.lists(distill_lines, max_size=40).map("\n".join), st.sampled_from([7, 64, 4096]))
def test_distill_reads_from_the_scan_what_it_reads_from_every_line(tmp_path_factory, text, chunk):
    """The needles miss no line the distill parser acts on: its record is the same from `scan` as from all lines."""
    import json

    import checks.logread as lr

    p = tmp_path_factory.mktemp("ds") / "step.log"
    p.write_bytes(text.encode("utf-8", "replace"))

    def record(lines):
        try:
            return json.dumps(dataclasses.asdict(distill.parse(lines, "step.log")), default=str)
        except CheckError as e:
            return f"{type(e).__name__}: {e}"

    old = lr.CHUNK
    lr.CHUNK = chunk
    try:
        assert record(scan(p, distill.NEEDLES, distill.BLOCKS)) == record(lr.lines(p))
    finally:
        lr.CHUNK = old
