"""checks/logread.py: the chunked scanner's fast paths (anchor bytes, searches in place) find what a line loop finds."""

from __future__ import annotations

import pytest

import checks.logread as lr
from checks.logread import clean, scan


def _loop(path, needles):
    """What `scan` must yield: every line whose raw or cleaned text holds a needle, numbered from 1."""
    text = path.read_bytes().decode("utf-8", "replace")
    raw = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    return [(no, clean(r)[0]) for no, r in enumerate(raw, 1) if any(n in r or n in clean(r)[0] for n in needles)]


@pytest.mark.parametrize("chunk", [64, 4096, 1 << 16])
def test_an_anchor_byte_that_turns_common_falls_back_to_a_plain_find(tmp_path, monkeypatch, chunk):
    """'K' is absent from the sampled start, so it anchors "Killed"; later every line is full of K (as a log
    that prints "OK" or "KV" would be): the budget runs out and the search goes on as a plain find."""
    monkeypatch.setattr(lr, "CHUNK", chunk)
    monkeypatch.setattr(lr, "SAMPLE", 4096)
    lines = [f"step {i} warming up" for i in range(300)]
    lines += [("OK KV KB " * 8) + (" Killed" if i % 97 == 0 else "") for i in range(3000)]
    lines += ["Killed", "iteration 5/9 | a: 1 |", "[default1]:\x1b[31mKil\x1b[0mled", "done"]
    p = tmp_path / "step.log"
    p.write_text("\n".join(lines) + "\n")
    got = [(x.no, x.text) for x in scan(p, ["Killed", "iteration"])]
    assert got == _loop(p, ["Killed", "iteration"])
    assert len(got) == 3000 // 97 + 1 + 3


def test_a_colour_code_inside_a_needle_does_not_hide_the_line(tmp_path):
    p = tmp_path / "step.log"
    p.write_bytes(b"noise\nitera\x1b[0mtion 10/20 | consumed samples: 7680 |\nTrace\x00back\nlast")
    got = [(x.no, x.text) for x in scan(p, ["iteration", "Traceback"])]
    assert got == [(2, "iteration 10/20 | consumed samples: 7680 |"), (3, "Traceback")]


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_lines_longer_than_a_chunk_and_a_last_line_without_newline(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(lr, "CHUNK", chunk)
    p = tmp_path / "step.log"
    p.write_text("x" * 200 + " iteration 1\n\n" + "y" * 300 + "\niteration 2 at the end")
    assert [(x.no, x.text[-11:]) for x in scan(p, ["iteration"])] == [(1, "iteration 1"), (4, " at the end")]


def test_every_trouble_branch_has_its_needle():
    """Each line `trouble` recognises holds one of TROUBLE_NEEDLES, so `scan` hands it to the parsers."""
    samples = ["Traceback (most recent call last):", "Killed", "/bin/sh: line 3:  77 Killed   python x.py",
               "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ", "torch.OutOfMemoryError: x",
               "cuda.OutOfMemoryError", "srun: error: nid1: task 0: Exited", "slurmstepd: error: *** JOB 1 ***",
               "Segmentation fault (core dumped)", "RuntimeError: CUDA out of memory. Tried"]
    for s in samples:
        assert lr.trouble(s), s
        assert any(n in s for n in lr.TROUBLE_NEEDLES), s


def test_no_needles_picks_every_line_across_pieces():
    """As checks.watch feeds a growing log: line numbers and the open block carry over between pieces."""
    s = lr.Scanner(None)
    got = [*s.lines(b"a\nb\n"), *s.lines(b"c\n"), *s.lines(b"d")]
    assert [(x.no, x.text) for x in got] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    s = lr.Scanner(["iteration"], [("=== Arguments ===", "=====")])
    pieces = [b"x\n=== Arguments ===\nlr  1\n", b"gbs  8\n=========\nnoise\n", b"iteration 1/2 |\n"]
    assert [(x.no, x.text) for p in pieces for x in s.lines(p)] == [
        (2, "=== Arguments ==="), (3, "lr  1"), (4, "gbs  8"), (5, "========="), (7, "iteration 1/2 |")]
