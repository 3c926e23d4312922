"""Semantic-attack suite (issue 8): runs that did not reproduce the tutorial, built the way a hostile user or a
broken cluster would, each starting from the faithful full fixture run. Every attack must be judged FAIL (exit 1)
or ERROR (exit 2), never PASS, and never a traceback. The mutation suite (tests/test_mutations.py) pushes checked
values out of tolerance; this one asks whether the run used the tutorial's settings and models, and whether each
log holds one clean run.

Each case gets a hard-linked clone of the fixture (a few milliseconds); every edit replaces a file instead of
writing through the link, so the fixture is never touched. `python tests/test_attacks.py` prints the classes
and their counts."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tutorial_run import (CONSERVATIVE_KINDS, FP8_KINDS, NANO_9B, PRUNED_7B, distill_log,  # noqa: E402
                          write_checkpoint)

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "expected" / "full.yaml"
FAITHFUL_SKIPS = 0  # SKIP findings of the faithful full fixture run today: none may appear


# ---------------------------------------------------------------- a clone of the fixture, edited safely


class R:
    """A clone of the fixture run. Files are hard links to the fixture's: every edit goes through `write`,
    which replaces the file, so the fixture stays intact."""

    def __init__(self, path: Path, orig: Path) -> None:
        self.path = path
        self.orig = str(orig)  # where the fixture was written: the recorded commands and logs name it

    def p(self, rel: str) -> Path:
        return self.path / rel

    def read(self, rel: str) -> str:
        return self.p(rel).read_text()

    def write(self, rel: str, data: str | bytes) -> None:
        f = self.p(rel)
        if f.is_symlink() or f.is_file():
            f.unlink()
        elif f.is_dir():
            shutil.rmtree(f)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data.encode() if isinstance(data, str) else data)

    def sub(self, rel: str, old: str, new: str, count: int = 1) -> None:
        """Replace `old` (which must be there: an attack that changes nothing proves nothing)."""
        text = self.read(rel)
        assert old in text, f"attack setup: {old!r} not in {rel}"
        self.write(rel, text.replace(old, new, count) if count else text.replace(old, new))

    def resub(self, rel: str, pattern: str, repl, count: int = 0) -> None:
        text, n = re.subn(pattern, repl, self.read(rel), count=count, flags=re.M)
        assert n, f"attack setup: /{pattern}/ not in {rel}"
        self.write(rel, text)

    def append(self, rel: str, text: str) -> None:
        self.write(rel, self.read(rel) + text)

    def lines(self, rel: str, keep: Callable[[int, str], object]) -> None:
        src = self.read(rel).split("\n")
        out = [x for x in (keep(i, ln) for i, ln in enumerate(src)) if x is not None]
        assert out != src, f"attack setup: nothing changed in {rel}"
        self.write(rel, "\n".join(out))

    def json(self, rel: str):
        return json.loads(self.read(rel))

    def set_json(self, rel: str, fn: Callable[[object], object]) -> None:
        doc = self.json(rel)
        out = fn(doc)
        self.write(rel, json.dumps(doc if out is None else out))

    def cmd(self, unit: str, old: str, new: str) -> None:
        """Edit the command the runner recorded in <unit>/step.json."""
        doc = self.json(f"{unit}/step.json")
        assert old in doc["command"], f"attack setup: {old!r} not in {unit}'s command"
        doc["command"] = doc["command"].replace(old, new)
        self.write(f"{unit}/step.json", json.dumps(doc))

    def meta(self, unit: str, **changes) -> None:
        doc = self.json(f"{unit}/step.json")
        for k, v in changes.items():
            if v is DROP:
                doc.pop(k)
            else:
                doc[k] = v
        self.write(f"{unit}/step.json", json.dumps(doc))

    def manifest(self, fn: Callable[[dict], object]) -> None:
        """Edit manifest.json in place; what `fn` returns is ignored (`m.pop("gpu")` must not become the manifest)."""
        self.set_json("manifest.json", lambda m: (fn(m), None)[1])

    def rm(self, rel: str) -> None:
        f = self.p(rel)
        shutil.rmtree(f) if f.is_dir() and not f.is_symlink() else f.unlink()

    def replace_by_dir(self, rel: str) -> None:
        self.rm(rel)
        self.p(rel).mkdir()
        (self.p(rel) / "x").write_text("{}")

    def symlink(self, rel: str, target_rel: str) -> None:
        self.rm(rel)
        self.p(rel).symlink_to(self.p(target_rel))

    def copy_dir(self, src_rel: str, dst_rel: str) -> None:
        self.rm(dst_rel)
        shutil.copytree(self.p(src_rel), self.p(dst_rel), copy_function=os.link)

    def checkpoint(self, rel: str, arch: dict, **kw) -> None:
        self.rm(rel)
        write_checkpoint(self.p(rel), arch, **kw)


DROP = object()
QUANT = {"producer": {"name": "modelopt", "version": "0.44.0"},
         "quantization": {"quant_algo": "FP8", "kv_cache_quant_algo": None,
                          "exclude_modules": ["lm_head", "*mixer.conv1d*", "*q_proj*", "*k_proj*", "*v_proj*", "*o_proj*"]}}
DLOG, PLOG, CONV = "distill/step.log", "prune/step.log", "convert/hf_iter_12800"
QC, QA = "quantize/conservative", "quantize/aggressive"


def blog(v: str) -> str:
    return f"bench/{v}/step.log"


def elog(label: str) -> str:
    return f"eval/{label}"


@dataclass
class Attack:
    cls: str
    name: str
    do: Callable[[R], None]
    cli: bool = False  # also judged through `python -m checks verify`
    expect_pass: str = ""  # a case judged right to PASS: why
    gap: str = ""  # a known false PASS not closed yet (strict xfail: it fails loudly once closed)

    @property
    def id(self) -> str:
        return f"{self.cls}/{self.name}"


ATTACKS: list[Attack] = []


def attack(cls: str, name: str, cli: bool = False, expect_pass: str = "", gap: str = ""):
    def reg(fn):
        ATTACKS.append(Attack(cls, name, fn, cli, expect_pass, gap))
        return fn
    return reg


def add(cls: str, name: str, fn: Callable[[R], None], **kw) -> None:
    ATTACKS.append(Attack(cls, name, fn, **kw))


# ================================================================ 1. wrong model at a step
C1 = "1-wrong-model"


@attack(C1, "convert-is-a-copy-of-the-pruned-model", cli=True)
def _(r):
    r.copy_dir("prune/hf", CONV)


@attack(C1, "convert-is-a-symlink-to-prune-hf")
def _(r):
    r.symlink(CONV, "prune/hf")


@attack(C1, "convert-has-the-9b-architecture")
def _(r):
    r.checkpoint(CONV, NANO_9B, content="distilled-12800")


@attack(C1, "convert-is-the-pruned-model-with-its-config-edited")
def _(r):
    r.copy_dir("prune/hf", CONV)
    r.set_json(f"{CONV}/config.json", lambda c: c.update(_fixture_content="distilled-12800"))


@attack(C1, "quantize-is-an-fp8-export-of-the-teacher")
def _(r):
    r.checkpoint(f"{QC}/hf_fp8", NANO_9B, fp8=CONSERVATIVE_KINDS, quant=QUANT, content="teacher")


@attack(C1, "quantize-is-an-fp8-export-of-the-undistilled-pruned-model")
def _(r):
    r.checkpoint(f"{QC}/hf_fp8", PRUNED_7B, fp8=CONSERVATIVE_KINDS, quant=QUANT, content="pruned")


@attack(C1, "quantize-is-the-bf16-checkpoint-renamed")
def _(r):
    r.copy_dir(CONV, f"{QC}/hf_fp8")


@attack(C1, "quantize-is-the-bf16-checkpoint-with-an-fp8-config")
def _(r):
    r.copy_dir(CONV, f"{QC}/hf_fp8")
    r.write(f"{QC}/hf_fp8/hf_quant_config.json", json.dumps(QUANT))
    r.set_json(f"{QC}/hf_fp8/config.json", lambda c: c.update(quantization_config={"quant_method": "modelopt",
                                                                                    **QUANT["quantization"]}))


@attack(C1, "quantize-conservative-is-a-symlink-to-the-aggressive-export")
def _(r):
    r.symlink(f"{QC}/hf_fp8", f"{QA}/hf_fp8")


@attack(C1, "quantize-command-reads-the-pruned-model")
def _(r):
    r.cmd(QC, "--pyt_ckpt_path " + r.orig, "--pyt_ckpt_path " + r.orig + "/prune/hf #")


@attack(C1, "quantize-command-reads-another-iteration")
def _(r):
    r.cmd(QC, "convert/hf_iter_12800", "convert/hf_iter_9600")


@attack(C1, "quantize-log-exported-elsewhere")
def _(r):
    r.sub(f"{QC}/step.log", f"{r.orig}/quantize/conservative/hf_fp8", "/scratch/other/hf_fp8")


@attack(C1, "bench-7b-bf16-serves-the-pruned-model")
def _(r):
    for f in (lambda a, b: r.cmd("bench/7b-bf16", a, b), lambda a, b: r.sub(blog("7b-bf16"), a, b, 0)):
        f("convert/hf_iter_12800", "prune/hf")


@attack(C1, "bench-7b-fp8-serves-the-aggressive-export")
def _(r):
    r.cmd("bench/7b-fp8", "quantize/conservative/hf_fp8", "quantize/aggressive/hf_fp8")
    r.sub(blog("7b-fp8"), "quantize/conservative/hf_fp8", "quantize/aggressive/hf_fp8", 0)


@attack(C1, "bench-9b-bf16-serves-the-12b")
def _(r):
    r.cmd("bench/9b-bf16", "NVIDIA-Nemotron-Nano-9B-v2", "NVIDIA-Nemotron-Nano-12B-v2")
    r.sub(blog("9b-bf16"), "NVIDIA-Nemotron-Nano-9B-v2", "NVIDIA-Nemotron-Nano-12B-v2", 0)


@attack(C1, "bench-7b-bf16-model-in-command-only")
def _(r):
    r.cmd("bench/7b-bf16", "convert/hf_iter_12800", "prune/hf")


@attack(C1, "bench-7b-bf16-model-in-log-only")
def _(r):
    r.sub(blog("7b-bf16"), "convert/hf_iter_12800", "prune/hf", 0)


@attack(C1, "bench-7b-bf16-serves-the-9b-from-the-hub")
def _(r):
    r.cmd("bench/7b-bf16", f"{r.orig}/convert/hf_iter_12800", "nvidia/NVIDIA-Nemotron-Nano-9B-v2")
    r.sub(blog("7b-bf16"), f"{r.orig}/convert/hf_iter_12800", "nvidia/NVIDIA-Nemotron-Nano-9B-v2", 0)


@attack(C1, "bench-7b-fp8-serves-another-run-of-the-same-name")
def _(r):
    other = r.path.parent / "elsewhere" / "tutorial"
    shutil.copytree(r.p("quantize/aggressive/hf_fp8"), other / "quantize/conservative/hf_fp8", copy_function=os.link)
    r.cmd("bench/7b-fp8", r.orig, str(other))
    r.sub(blog("7b-fp8"), r.orig, str(other), 0)


@attack(C1, "eval-checkpoint-is-another-iteration")
def _(r):
    r.cmd(elog("iter_12800"), "convert/hf_iter_12800", "convert/hf_iter_9600")


@attack(C1, "eval-checkpoint-is-the-pruned-model")
def _(r):
    r.cmd(elog("iter_12800"), "convert/hf_iter_12800", "prune/hf")


@attack(C1, "eval-checkpoint-not-recorded")
def _(r):
    r.cmd(elog("iter_12800"), f" -o deployment.checkpoint_path={r.orig}/convert/hf_iter_12800", "")


@attack(C1, "distill-student-is-the-teacher")
def _(r):
    r.cmd("distill", f"--student_hf_path {r.orig}/prune/hf", "--student_hf_path nvidia/NVIDIA-Nemotron-Nano-9B-v2")
    r.resub(DLOG, r"^student_hf_path\s+.*$", f"{'student_hf_path':<35} nvidia/NVIDIA-Nemotron-Nano-9B-v2")


@attack(C1, "distill-student-elsewhere")
def _(r):
    r.cmd("distill", f"{r.orig}/prune/hf", "/scratch/someone/pruned")
    r.sub(DLOG, f"{r.orig}/prune/hf", "/scratch/someone/pruned")


@attack(C1, "distill-teacher-is-the-12b")
def _(r):
    r.cmd("distill", "--teacher_hf_path nvidia/NVIDIA-Nemotron-Nano-9B-v2", "--teacher_hf_path nvidia/NVIDIA-Nemotron-Nano-12B-v2")
    r.resub(DLOG, r"^teacher_hf_path\s+.*$", f"{'teacher_hf_path':<35} nvidia/NVIDIA-Nemotron-Nano-12B-v2")


@attack(C1, "prune-saved-elsewhere")
def _(r):
    r.sub(PLOG, f"Saved pruned model to {r.orig}/prune/hf", "Saved pruned model to /scratch/other/hf")


@attack(C1, "prune-output-path-in-command-elsewhere")
def _(r):
    r.cmd("prune", f"--output_hf_path {r.orig}/prune/hf", "--output_hf_path /scratch/other/hf")
    r.sub(PLOG, f"{r.orig}/prune/hf", "/scratch/other/hf", 0)


@attack(C1, "prune-hf-has-the-9b-architecture")
def _(r):
    r.checkpoint("prune/hf", NANO_9B, content="pruned")


@attack(C1, "convert-command-exports-another-iteration")
def _(r):
    r.cmd("convert", "iter_0012800", "iter_0009600")


@attack(C1, "convert-command-reads-another-hf-model")
def _(r):
    r.cmd("convert", f"--hf-model {r.orig}/prune/hf", "--hf-model nvidia/NVIDIA-Nemotron-Nano-9B-v2")


# ================================================================ 2. wrong settings
C2 = "2-wrong-settings"
# (flag, the value the tutorial gives as the command has it, another value)
DISTILL_ARGS = [("teacher_hf_path", "nvidia/NVIDIA-Nemotron-Nano-9B-v2", "nvidia/NVIDIA-Nemotron-Nano-12B-v2"),
                ("tp_size", "8", "4"), ("pp_size", "1", "2"), ("seq_length", "8192", "4096"), ("mbs", "4", "2"),
                ("gbs", "768", "512"), ("train_iters", "16000", "12800"), ("lr", "1e-4", "2e-4"), ("min_lr", "1e-5", "1e-6"),
                ("lr_warmup_iters", "100", "200"), ("eval_interval", "400", "800"), ("eval_iters", "32", "16"),
                ("log_interval", "10", "20"), ("data_path_to_cache", "/data/cache", "/data/other-cache")]


def _echo(value: str) -> str:
    """What distill.py's arguments block prints for a command-line value."""
    try:
        return repr(float(value)) if ("e" in value or "." in value) and not value.startswith("/") else value
    except ValueError:
        return value


def _distill_arg(where: str, key: str, old: str, new: str):
    def do(r):
        if where in ("log", "both"):
            r.resub(DLOG, rf"^{key}\s+.*$", f"{key:<35} {_echo(new)}", count=1)
        if where in ("command", "both"):
            r.cmd("distill", f"--{key} {old} ", f"--{key} {new} ")
    return do


CACHE_PASSES = ("where the tokenized data's index cache lives is the machine's choice (the kit's DATA_CACHE): the "
                "same data, the same training")
for _k, _old, _new in DISTILL_ARGS:
    for _where in ("log", "command", "both"):
        add(C2, f"distill-{_k}-changed-in-{_where}", _distill_arg(_where, _k, _old, _new), cli=(_k, _where) == ("lr", "both"),
            expect_pass=CACHE_PASSES if (_k, _where) == ("data_path_to_cache", "both") else "")


@attack(C2, "distill-trained-on-another-data-blend")
def _(r):
    r.cmd("distill", "tokenized_nemotron_v2/MCQ_messages", "my_own_data/MCQ_messages")
    r.sub(DLOG, "'tokenized_nemotron_v2/MCQ_messages'", "'my_own_data/MCQ_messages'")


@attack(C2, "distill-blend-weights-changed")
def _(r):
    r.cmd("distill", "--data_paths 5 ", "--data_paths 50 ")
    r.sub(DLOG, "['5', ", "['50', ")


@attack(C2, "distill-trust-remote-code-dropped")
def _(r):
    r.cmd("distill", "--trust_remote_code \\\n", "")
    r.resub(DLOG, r"^trust_remote_code\s+True$", f"{'trust_remote_code':<35} False")


@attack(C2, "distill-consumed-samples-not-gbs-times-iteration")
def _(r):
    r.resub(DLOG, r"consumed samples:\s+(\d+) \|", lambda m: f"consumed samples: {int(m.group(1)) // 2:12d} |")


@attack(C2, "distill-one-consumed-samples-off")
def _(r):
    r.sub(DLOG, f"consumed samples: {5000 * 768:12d}", f"consumed samples: {5000 * 768 + 768:12d}")


@attack(C2, "distill-lr-doubled-throughout")
def _(r):
    r.resub(DLOG, r"learning rate: (\S+) \|", lambda m: f"learning rate: {float(m.group(1)) * 2:.6E} |")


@attack(C2, "distill-lr-constant")
def _(r):
    r.resub(DLOG, r"learning rate: (\S+) \|", "learning rate: 1.000000E-04 |")


@attack(C2, "distill-lr-no-warmup")
def _(r):
    r.resub(DLOG, r"(iteration\s+(?:10|20|30|40|50)/\s*16000 .*?)learning rate: (\S+) \|", r"\1learning rate: 1.000000E-04 |")


@attack(C2, "distill-iteration-lines-without-loss")
def _(r):
    r.resub(DLOG, r"total loss: \S+ \| logits distillation loss: \S+ \| ", "", count=50)


@attack(C2, "distill-every-line-without-loss")
def _(r):
    r.resub(DLOG, r"total loss: \S+ \| logits distillation loss: \S+ \| ", "")


@attack(C2, "distill-flat-loss")
def _(r):
    r.resub(DLOG, r"(total|logits distillation) loss: \S+ \|", r"\1 loss: 7.000000E-01 |")


@attack(C2, "distill-rising-loss")
def _(r):
    r.write(DLOG, distill_log(loss_scale=1.0, student_hf_path=f"{r.orig}/prune/hf", output_dir=f"{r.orig}/distill/output")
            .replace("iteration", "iteration"))  # rebuilt, then reversed below
    vals = re.findall(r"total loss: (\S+) \|", r.read(DLOG))
    it = iter(reversed(vals))
    r.resub(DLOG, r"total loss: \S+ \| logits distillation loss: \S+ \|",
            lambda m: (lambda v: f"total loss: {v} | logits distillation loss: {v} |")(next(it)))


@attack(C2, "distill-nan-loss-line")
def _(r):
    r.sub(DLOG, "number of nan iterations:   0 |", "number of nan iterations:   1 |")


@attack(C2, "distill-skipped-iterations")
def _(r):
    r.sub(DLOG, "number of skipped iterations:   0 |", "number of skipped iterations:   3 |")


@attack(C2, "distill-iterations-missing-in-the-middle")
def _(r):
    r.lines(DLOG, lambda i, ln: None if re.search(r"iteration\s+(7\d\d0)/", ln) else ln)


@attack(C2, "distill-logged-every-20-though-echoing-10")
def _(r):
    r.lines(DLOG, lambda i, ln: None if re.search(r"iteration\s+\d*[13579]0/", ln) else ln)


@attack(C2, "distill-gbs-in-iteration-lines-changed")
def _(r):
    r.sub(DLOG, "global batch size:   768 |", "global batch size:   512 |", 0)


@attack(C2, "distill-much-slower")
def _(r):
    r.resub(DLOG, r"elapsed time per iteration \(ms\): (\S+) \|",
            lambda m: f"elapsed time per iteration (ms): {float(m.group(1)) * 3:.1f} |")


# bench: (what, command edit, log edit)
BENCH_SETTINGS = {
    "isl": (("--random-input-len 32768", "--random-input-len 16384"),
            [("Sampling input_len from [32767, 32767]", "Sampling input_len from [16383, 16383]"),
             ("Total num prompt tokens:  32767000", "Total num prompt tokens:  16383000")]),
    "osl": (("--random-output-len 1024", "--random-output-len 512"),
            [("output_len from [1024, 1024]", "output_len from [512, 512]"),
             ("Total num output tokens:  1024000", "Total num output tokens:  512000")]),
    "prompts": (("--random-output-len 1024", "--random-output-len 1024 --num-prompts 500"),
                [("1000/1000", "500/500"), ("Total num prompt tokens:  32767000", "Total num prompt tokens:  16383500"),
                 ("Total num output tokens:  1024000", "Total num output tokens:  512000")]),
    "kv-cache-dtype": (("--kv-cache-dtype fp8", "--kv-cache-dtype auto"),
                       [("'kv_cache_dtype': 'fp8'", "'kv_cache_dtype': 'auto'"), ("kv_cache_dtype=fp8", "kv_cache_dtype=auto")]),
    "mamba-dtype": (("--mamba_ssm_cache_dtype float32", "--mamba_ssm_cache_dtype auto"),
                    [("'mamba_ssm_cache_dtype': 'float32'", "'mamba_ssm_cache_dtype': 'auto'")]),
    "load-format": (("--load-format safetensors", "--load-format dummy"),
                    [("'load_format': 'safetensors'", "'load_format': 'dummy'"), ("load_format=safetensors", "load_format=dummy")]),
}


def _bench_setting(variant: str, what: str, where: str):
    (c_old, c_new), log_edits = BENCH_SETTINGS[what]

    def do(r):
        if where in ("command", "both"):
            r.cmd(f"bench/{variant}", c_old, c_new)
        if where in ("log", "both"):
            for a, b in log_edits:
                r.sub(blog(variant), a, b, 0)
    return do


for _what in BENCH_SETTINGS:
    for _where in ("log", "command", "both"):
        add(C2, f"bench-7b-fp8-{_what}-changed-in-{_where}", _bench_setting("7b-fp8", _what, _where))
    add(C2, f"bench-9b-bf16-{_what}-changed-in-both", _bench_setting("9b-bf16", _what, "both"),
        cli=_what == "isl")


@attack(C2, "bench-output-tokens-inconsistent")
def _(r):
    r.sub(blog("7b-bf16"), "Total num output tokens:  1024000", "Total num output tokens:  1000000")


@attack(C2, "bench-prompt-tokens-inconsistent")
def _(r):
    r.sub(blog("7b-bf16"), "Total num prompt tokens:  32767000", "Total num prompt tokens:  8000000")


@attack(C2, "bench-fp8-unit-served-unquantized")
def _(r):
    r.sub(blog("7b-fp8"), "quantization=modelopt", "quantization=None")


@attack(C2, "bench-bf16-unit-served-quantized")
def _(r):
    r.sub(blog("7b-bf16"), "quantization=None", "quantization=fp8")


@attack(C2, "bench-tensor-parallel-2")
def _(r):
    r.sub(blog("7b-bf16"), "tensor_parallel_size=1", "tensor_parallel_size=2")


@attack(C2, "quantize-qformat-int8-in-command")
def _(r):
    r.cmd(QC, "--qformat fp8", "--qformat int8")


@attack(C2, "quantize-qformat-int8-in-command-and-checkpoint")
def _(r):
    r.cmd(QC, "--qformat fp8", "--qformat int8")
    r.set_json(f"{QC}/hf_fp8/hf_quant_config.json", lambda q: q["quantization"].update(quant_algo="INT8"))
    r.set_json(f"{QC}/hf_fp8/config.json", lambda c: c["quantization_config"].update(quant_algo="INT8"))


@attack(C2, "quantize-calibration-shrunk-in-command")  # hf_ptq.py echoes no calibration: lineage only_flags judges it
def _(r):
    r.cmd(QC, "--qformat fp8", "--qformat fp8 --calib_size 16")


@attack(C2, "prune-target-params-changed-in-command")
def _(r):
    r.cmd("prune", "--prune_target_params 7e9", "--prune_target_params 6e9")


@attack(C2, "prune-target-params-changed-in-command-and-log")
def _(r):
    r.cmd("prune", "--prune_target_params 7e9", "--prune_target_params 6e9")
    r.sub(PLOG, "7000000000.0", "6000000000.0", 0)


@attack(C2, "prune-hparams-to-skip-changed-in-command")
def _(r):
    r.cmd("prune", "--hparams_to_skip num_attention_heads", "--hparams_to_skip mamba_num_heads")


@attack(C2, "prune-hparams-to-skip-changed-in-command-and-log")
def _(r):
    r.cmd("prune", "--hparams_to_skip num_attention_heads", "--hparams_to_skip mamba_num_heads")
    r.sub(PLOG, "['num_attention_heads']", "['mamba_num_heads']", 0)


@attack(C2, "prune-seq-length-changed-in-command")
def _(r):
    r.cmd("prune", "--seq_length 8192", "--seq_length 1024")


@attack(C2, "prune-best-subnet-not-the-pruned-checkpoint")
def _(r):
    r.checkpoint("prune/hf", {**PRUNED_7B, "ffn": 13312}, content="pruned")


# ================================================================ 3. wrong run structure
C3 = "3-run-structure"
TRACEBACK = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nRuntimeError: CUDA error: an illegal memory access\n"
AFTER = {"traceback": TRACEBACK, "killed": "Killed\n", "oom": "torch.OutOfMemoryError: CUDA out of memory.\n",
         "srun-error": "srun: error: node7: task 3: Exited with exit code 1\n",
         "segfault": "Segmentation fault (core dumped)\n"}
LOGS = {"prune": PLOG, "distill": DLOG, "quantize": f"{QC}/step.log", "bench": blog("7b-fp8")}

for _step, _log in LOGS.items():
    for _k, _text in AFTER.items():
        add(C3, f"{_step}-{_k}-after-completion", (lambda lg, t: lambda r: r.append(lg, t))(_log, _text),
            cli=(_step, _k) == ("distill", "traceback"))
    add(C3, f"{_step}-two-runs-concatenated", (lambda lg: lambda r: r.write(lg, r.read(lg) + r.read(lg)))(_log))
    add(C3, f"{_step}-crash-then-restart", (lambda lg: lambda r: r.write(
        lg, r.read(lg)[: len(r.read(lg)) // 2] + "\n" + TRACEBACK + r.read(lg)))(_log))
    add(C3, f"{_step}-exit-0-but-log-ends-in-a-traceback", (lambda lg: lambda r: r.write(
        lg, r.read(lg)[: len(r.read(lg)) * 2 // 3] + "\n" + TRACEBACK))(_log))


@attack(C3, "prune-two-search-results")
def _(r):
    text = r.read(PLOG)
    a = text.index("====================\nTop 10 candidates with scores:")
    b = text.index("[BEST SUBNET]")
    r.write(PLOG, text[:b] + text[a:b] + text[b:])


@attack(C3, "prune-two-best-subnets")
def _(r):
    line = next(ln for ln in r.read(PLOG).split("\n") if ln.startswith("[BEST SUBNET]"))
    r.sub(PLOG, line, line.replace("0.6789", "0.6790") + "\n" + line)


@attack(C3, "prune-log-truncated-before-done")
def _(r):
    r.write(PLOG, r.read(PLOG).split("Saving pruned model")[0])


@attack(C3, "bench-two-results-without-declared-repeats", cli=True)
def _(r):
    t = r.read(blog("7b-bf16"))
    tail = t[t.index("Throughput:"):]
    r.write(blog("7b-bf16"), t + tail)


@attack(C3, "bench-repeats-declared-but-one-result")
def _(r):
    r.meta("bench/7b-bf16", repeats=3)


@attack(C3, "bench-truncated-before-totals")
def _(r):
    r.write(blog("7b-bf16"), r.read(blog("7b-bf16")).split("Throughput:")[0])


@attack(C3, "quantize-two-exports")
def _(r):
    r.append(f"{QC}/step.log", r.read(f"{QC}/step.log"))


@attack(C3, "quantize-export-line-missing")
def _(r):
    r.write(f"{QC}/step.log", "Loading checkpoint shards: 100%\n")


@attack(C3, "distill-stopped-at-12790-exit-0", cli=True)
def _(r):
    r.lines(DLOG, lambda i, ln: None if re.search(r"iteration\s+(1279[1-9]|12[89]\d\d|1[345]\d\d\d|16000)/", ln)
            or ("checkpoint" in ln and re.search(r"iteration\s+(12800|1[3-6]\d\d\d)\b", ln)) else ln)


@attack(C3, "distill-stopped-at-12800-with-done-line")
def _(r):
    r.lines(DLOG, lambda i, ln: None if re.search(r"iteration\s+(128[1-9]\d|129\d\d|1[3-6]\d\d\d)\b", ln) else ln)


@attack(C3, "distill-done-line-missing")
def _(r):
    r.lines(DLOG, lambda i, ln: None if "Distillation done!" in ln else ln)


@attack(C3, "distill-restart-from-scratch-midway")
def _(r):
    text = r.read(DLOG)
    cut = text.index(" [2026-05-20 10:00:00] iteration     8000/")
    start = text.index(" [2026-05-20 10:00:00] iteration       10/")
    r.write(DLOG, text[:cut] + text[start:])


@attack(C3, "distill-resumed-but-earlier-attempt-missing")
def _(r):
    text = r.read(DLOG)
    cut = text.index(" [2026-05-20 10:00:00] iteration     8010/")
    args_end = text.index("Starting distillation...")
    r.write(DLOG, text[:args_end] + "loading distributed checkpoint from /x/checkpoints at iteration 8000\n" + text[cut:])


@attack(C3, "distill-resumed-from-an-attempt-of-another-run")
def _(r):
    text = r.read(DLOG)
    cut = text.index(" [2026-05-20 10:00:00] iteration     8010/")
    args_end = text.index("Starting distillation...")
    first = text[:cut].replace("gbs                                 768", "gbs                                 512")
    r.write("distill/attempts/1/step.log", first + TRACEBACK)
    r.write(DLOG, text[:args_end] + "loading distributed checkpoint from /x/checkpoints at iteration 8000\n" + text[cut:])


@attack(C3, "distill-second-arguments-block-with-other-lr")
def _(r):
    text = r.read(DLOG)
    head = text[:text.index("Starting distillation...")].replace("lr                                  0.0001",
                                                                "lr                                  0.0002")
    cut = text.index(" [2026-05-20 10:00:00] iteration     8010/")
    r.write(DLOG, text[:cut] + head + "loading distributed checkpoint from /x/checkpoints at iteration 8000\n" + text[cut:])


@attack(C3, "eval-results-of-two-invocations")
def _(r):
    src = next(r.p(elog("iter_12800")).glob("2026*"))
    shutil.copytree(src, src.parent / "20260522_000000-ffffff", copy_function=os.link)
    for f in (src.parent / "20260522_000000-ffffff").rglob("results.yml"):
        text = f.read_text()
        f.unlink()
        f.write_text(re.sub(r"value: ([\d.]+)", lambda m: f"value: {float(m.group(1)) / 2}", text))


# ================================================================ 4. incomplete provenance
C4 = "4-provenance"
MANIFEST_FAULTS = {
    "missing": lambda r: r.rm("manifest.json"),
    "a-list": lambda r: r.write("manifest.json", "[]"),
    "null": lambda r: r.write("manifest.json", "null"),
    "a-string": lambda r: r.write("manifest.json", '"manifest"'),
    "empty": lambda r: r.write("manifest.json", ""),
    "no-gpu": lambda r: r.manifest(lambda m: m.pop("gpu")),
    "gpu-a-string": lambda r: r.manifest(lambda m: m.update(gpu="NVIDIA H100 80GB HBM3")),
    "gpu-model-missing": lambda r: r.manifest(lambda m: m["gpu"].pop("model")),
    "gpu-model-an-int": lambda r: r.manifest(lambda m: m["gpu"].update(model=100)),
    "no-schema": lambda r: r.manifest(lambda m: m.pop("schema")),
    "run-id-an-int": lambda r: r.manifest(lambda m: m.update(run_id=7)),
    "no-profile": lambda r: r.manifest(lambda m: m.pop("profile")),
    "steps-a-list": lambda r: r.manifest(lambda m: m.update(steps=[])),
    "mixed-modelopt-versions": lambda r: r.manifest(lambda m: m.update(mixed_versions={"modelopt": ["0.44.0", "0.45.0"]})),
    "mixed-vllm-versions": lambda r: r.manifest(lambda m: m.update(mixed_versions={"vllm": ["0.21.0", "0.19.1"]})),
    "steps-under-different-modelopt-unflagged": lambda r: r.manifest(lambda m: (
        m["steps"]["prune"].update(env={"versions": {"modelopt": "0.44.0"}}),
        m["steps"].update({"quantize/conservative": {"env": {"versions": {"modelopt": "0.46.0"}}}}))),
    "steps-under-different-vllm-unflagged": lambda r: r.manifest(lambda m: (
        m["steps"]["bench"].update(env={"versions": {"vllm": "0.21.0"}}),
        m["steps"].update({"bench/7b-fp8": {"env": {"versions": {"vllm": "0.13.0"}}}}))),
    "rendered-for-another-modelopt": lambda r: r.manifest(lambda m: m["steps"]["prune"].update(
        versions_rendered_for={"modelopt": "0.46.0"}, env={"versions": {"modelopt": "0.44.0"}})),
    "distill-world-size-smaller": lambda r: r.manifest(lambda m: m["steps"]["distill"].update(world_size=8)),
}
# Until R.manifest ignored what its edit returns, these two edits (a tuple of two updates) wrote a JSON list as the
# manifest, and were caught as an unreadable manifest; edited as named, they pass (issue 15: per-step versions are
# not cross-checked unless the runner flagged them in mixed_versions).
MANIFEST_GAPS = {k: "per-step versions (steps.<unit>.env.versions) that differ are not noticed unless manifest.json "
                    "lists them in mixed_versions" for k in ("steps-under-different-modelopt-unflagged",
                                                             "steps-under-different-vllm-unflagged")}
for _k, _fn in MANIFEST_FAULTS.items():
    add(C4, f"manifest-{_k}", _fn, cli=_k == "no-gpu", expect_pass="the tutorial allows distilling on one node (NODES=1): "
        "only the time per 1k iterations depends on the world size, and it SKIPs with the reason shown"
        if _k == "distill-world-size-smaller" else "", gap=MANIFEST_GAPS.get(_k, ""))

STEP_JSON_FAULTS = {
    "missing": lambda r, u: r.rm(f"{u}/step.json"),
    "a-list": lambda r, u: r.write(f"{u}/step.json", "[]"),
    "empty": lambda r, u: r.write(f"{u}/step.json", ""),
    "exit-code-a-string": lambda r, u: r.meta(u, exit_code="0"),
    "exit-code-true": lambda r, u: r.meta(u, exit_code=False),
    "exit-code-null": lambda r, u: r.meta(u, exit_code=None),
    "exit-code-missing": lambda r, u: r.meta(u, exit_code=DROP),
    "exit-code-1": lambda r, u: r.meta(u, exit_code=1),
    "exit-code-137": lambda r, u: r.meta(u, exit_code=137),
}
for _k, _fn in STEP_JSON_FAULTS.items():
    for _u in ("distill", "bench/7b-fp8", "eval/iter_12800", "convert") if _k in ("missing", "exit-code-1") else ("distill",):
        add(C4, f"step-json-{_k}-{_u.replace('/', '-')}", (lambda f, u: lambda r: f(r, u))(_fn, _u))


@attack(C4, "step-json-command-an-int")
def _(r):
    r.meta("distill", command=5)


@attack(C4, "step-json-command-missing")
def _(r):
    r.meta("bench/7b-bf16", command=DROP)


# ================================================================ 5. weakened goldens (judged against an edited copy)
C5 = "5-weakened-goldens"
GOLDEN_EDITS = {
    "duplicate-top-key": ("profile: full\n", "profile: full\nprofile: tiny\n"),
    "duplicate-entry-key": ("- {id: width_limit_pct, path: width_pct, expect: 40, tol: exact,",
                            "- {id: width_limit_pct, path: width_pct, expect: 40, expect: 41, tol: exact,"),
    "duplicate-nested-key": ("by_gpu: {H100: 45}", "by_gpu: {H100: 45, H100: 450}"),
    "duplicate-check-id": ("- {id: depth_limit_pct,", "- {id: width_limit_pct,"),
    "unknown-key-toll": ("- {id: width_limit_pct, path: width_pct, expect: 40, tol: exact,",
                         "- {id: width_limit_pct, path: width_pct, expect: 40, toll: {abs: 100},"),
    "unknown-key-optinal": ("- {id: width_limit_pct, path: width_pct, expect: 40, tol: exact,",
                            "- {id: width_limit_pct, path: width_pct, expect: 40, optinal: true, tol: exact,"),
    "unknown-top-section": ("\nprune:\n", "\nprunning:\n- {id: x}\nprune:\n"),
    "unknown-lineage-key": ("- {id: distill_teacher, unit: distill,", "- {id: distill_teacher, unit: distill, skip: true,"),
    "tol-a-string": ("expect: 40, tol: exact", "expect: 40, tol: loose"),
    "tol-nan": ("expect: 40, tol: exact", "expect: 40, tol: {abs: .nan}"),
    "tol-inf": ("expect: 40, tol: exact", "expect: 40, tol: {abs: .inf}"),
    "tol-negative-inf-at-least": ("expect: 40, tol: exact", "expect: 40, tol: {at_least: -.inf}"),
    "tol-a-list": ("expect: 40, tol: exact", "expect: 40, tol: [abs, 100]"),
    "tol-bool": ("expect: 40, tol: exact", "expect: 40, tol: {abs: true}"),
    "binomial-z-nan": ("binomial: {n: 14042, repeats: 1, z: 3}", "binomial: {n: 14042, repeats: 1, z: .nan}"),
    "expect-nan": ("expect: 40, tol: exact", "expect: .nan, tol: exact"),
    "by-gpu-inf": ("by_gpu: {H100: 45}", "by_gpu: {H100: .inf}"),
    "path-not-a-string": ("path: width_pct,", "path: 5,"),
    "path-a-list": ("path: width_pct,", "path: [width_pct],"),
    "optional-a-string": ("- {id: width_limit_pct, path: width_pct, expect: 40, tol: exact,",
                          "- {id: width_limit_pct, path: width_pct, expect: 40, optional: 'yes', tol: exact,"),
    "anchor-and-alias": ("- {id: width_limit_pct, path: width_pct, expect: 40, tol: exact, source: tutorial §2 pruning log}",
                         "- &w {id: width_limit_pct, path: width_pct, expect: 40, tol: exact, source: tutorial §2 pruning log}\n- *w"),
    "merge-key-alias": ("- {id: depth_limit_pct, path: depth_pct, expect: 20, tol: exact, source: tutorial §2 pruning log}",
                        "- &d {id: depth_limit_pct, path: depth_pct, expect: 20, tol: exact, source: tutorial §2 pruning log}\n"
                        "- {<<: *d, id: depth2}"),
    "schema-2": ("schema: 1\n", "schema: 2\n"),
    "section-a-mapping": ("\nconvert:\n", "\nconvert: {}\nconvert_old:\n"),
    "lineage-a-mapping": ("\nlineage:\n", "\nlineage: {}\nlineage_old:\n"),
    "requires-unknown": ("requires: {world_size: 768}", "requires: {world_size: 768, gpus: 8}"),
    "world-size-a-string": ("requires: {world_size: 768}", "requires: {world_size: '768'}"),
    "tab-indented-garbage": ("\nprune:\n", "\nprune:\n\t- broken\n"),
    "not-yaml": ("schema: 1\n", "schema: 1\n: : :\n"),
    "binary": ("schema: 1\n", "schema: 1\n\x00\x01\x02\n"),
}
GOLDEN_REMOVALS = ("bench", "convert", "eval", "quantize", "prune", "distill")


def _golden_edit(old: str, new: str):
    def do(r, g):
        text = g.read_text()
        assert old in text, f"attack setup: {old!r} not in the goldens"
        g.write_text(text.replace(old, new, 1))
    return do


def _golden_removal(step: str):
    def do(r, g):
        text = g.read_text()
        start = text.index(f"\n{step}:\n")
        end = min(i for i in (text.find(f"\n{s}:\n", start + 1) for s in GOLDEN_REMOVALS + ("lineage",)) if i > 0)
        g.write_text(text[:start] + text[end:])
    return do


GOLDEN_ATTACKS = {**{k: _golden_edit(*v) for k, v in GOLDEN_EDITS.items()},
                  **{f"section-{s}-removed": _golden_removal(s) for s in GOLDEN_REMOVALS}}


def _empty_goldens(r, g):
    g.write_text("")


GOLDEN_ATTACKS["empty-file"] = _empty_goldens
GOLDEN_ATTACKS["a-directory"] = lambda r, g: (g.unlink(), g.mkdir())
GOLDEN_ATTACKS["missing"] = lambda r, g: g.unlink()


# ================================================================ 6. runner states (judged side; the runner side is tested
# with the Makefile and its doubles in tests/test_runner.py, listed in RUNNER_TESTS and not repeated here)
C6 = "6-runner-states"
RUNNER_TESTS = {
    "two makes on one run": "test_runner.py::test_two_makes_on_one_run_cannot_run_a_step_at_once",
    "a stale kept/ copy": "test_runner.py::test_a_kept_copy_from_an_earlier_attempt_is_never_restored_into_a_new_one",
    "outputs deleted after the stamp": "test_runner.py::test_the_stamp_vouches_for_outputs_and_a_later_step_stops_when_they_are_gone",
    "distill exits 0 early": "test_runner.py::test_a_distillation_that_exits_0_before_its_last_iteration_is_not_stamped",
    "the kit killed": "test_runner.py::test_killing_the_kit_kills_its_gpu_sampler_and_its_step",
    "bad variables": "test_runner.py::test_bad_variables_are_named",
    "GPUS_PER_NODE reaches torchrun": "test_runner.py::test_gpus_per_node_reaches_the_launcher",
    "a failed step resumes": "test_make.py::test_reproduce_with_doubles_then_resume_after_a_failure",
    "a killed step resumes": "test_make.py::test_killed_step_resumes_without_redoing_finished_steps",
}


@attack(C6, "stamp-present-but-step-failed")
def _(r):
    r.write("distill/.done", json.dumps({"unit": "distill", "outputs": {}}))
    r.meta("distill", exit_code=1)


@attack(C6, "step-still-running-no-step-json")
def _(r):
    r.rm("bench/7b-fp8/step.json")
    r.write(blog("7b-fp8"), r.read(blog("7b-fp8")).split("Processed prompts")[0])


@attack(C6, "outputs-deleted-after-the-stamp")
def _(r):
    r.write("quantize/conservative/.done", "{}")
    r.rm(f"{QC}/hf_fp8")


@attack(C6, "stale-kept-copy-exported-as-iteration-12800")
def _(r):
    r.checkpoint(CONV, PRUNED_7B, content="killed-run-weights")
    r.cmd("convert", "checkpoints/iter_0012800", "kept/iter_0012800")


@attack(C6, "convert-output-deleted")
def _(r):
    r.rm(CONV)


@attack(C6, "a-step-directory-missing")
def _(r):
    r.rm("quantize")


@attack(C6, "a-failed-attempt-log-put-back-as-the-step-log")
def _(r):
    r.write(DLOG, r.read(DLOG)[: len(r.read(DLOG)) // 3] + "Killed\n")


# ================================================================ 8. file-shape faults
C8 = "8-file-shape"
DIR_INSTEAD = ["prune/step.log", "distill/step.log", "bench/7b-bf16/step.log", f"{QC}/step.log", "manifest.json",
               "distill/step.json", "bench/7b-fp8/step.json", "prune/hf/config.json", f"{CONV}/config.json",
               f"{QC}/hf_fp8/config.json", "prune/hf/model.safetensors.index.json",
               f"{CONV}/model.safetensors.index.json", f"{QC}/hf_fp8/hf_quant_config.json",
               f"{CONV}/model-00001-of-00004.safetensors", "eval/iter_12800/step.log", "convert/step.log",
               "eval/iter_12800/lm_eval/results_2026-05-21T10-10-10.json"]
for _rel in DIR_INSTEAD:
    add(C8, f"directory-instead-of-{_rel.replace('/', '-')}", (lambda rel: lambda r: r.replace_by_dir(rel))(_rel),
        cli=_rel == "prune/hf/config.json")


def _results_yml(r) -> str:
    return str(next(r.p(elog("iter_12800")).rglob("ns_gpqa/artifacts/results.yml")).relative_to(r.path))


@attack(C8, "directory-instead-of-results-yml")
def _(r):
    r.replace_by_dir(_results_yml(r))


@attack(C8, "directory-instead-of-run-config-yml")
def _(r):
    r.replace_by_dir(_results_yml(r).replace("results.yml", "run_config.yml"))


INDEX_FAULTS = {"weight-map-value-an-int": lambda d: d["weight_map"].update({"lm_head.weight": 5}),
                "weight-map-value-a-list": lambda d: d["weight_map"].update({"lm_head.weight": ["a"]}),
                "weight-map-a-list": lambda d: d.update(weight_map=["model-00001-of-00004.safetensors"]),
                "weight-map-missing": lambda d: d.pop("weight_map"),
                "weight-map-null": lambda d: d.update(weight_map=None),
                "weight-map-value-a-path-outside": lambda d: d["weight_map"].update({"lm_head.weight": "../../prune/hf/x.safetensors"}),
                "a-list": lambda d: [d]}
for _k, _fn in INDEX_FAULTS.items():
    add(C8, f"index-{_k}", (lambda fn: lambda r: r.set_json(f"{CONV}/model.safetensors.index.json", fn))(_fn))

CONFIG_FAULTS = {"a-list": lambda c: [c], "a-string": lambda c: "config", "pattern-an-int": lambda c: c.update(hybrid_override_pattern=5),
                 "layers-a-string": lambda c: c.update(num_hidden_layers="48"), "hidden-null": lambda c: c.update(hidden_size=None),
                 "architectures-a-string": lambda c: c.update(architectures="NemotronHForCausalLM"),
                 "architectures-a-dict": lambda c: c.update(architectures={"a": 1}),
                 "quantization-config-a-list": lambda c: c.update(quantization_config=[1]),
                 "hidden-a-float": lambda c: c.update(hidden_size=4352.5), "hidden-true": lambda c: c.update(hidden_size=True)}
for _k, _fn in CONFIG_FAULTS.items():
    _t = f"{QC}/hf_fp8/config.json" if "quantization" in _k else f"{CONV}/config.json"
    add(C8, f"config-{_k}", (lambda fn, t: lambda r: r.set_json(t, fn))(_fn, _t))


def _shard_header(r, rel: str, fn) -> None:
    f = r.p(rel)
    with f.open("rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]  # shards are sparse and large: read the header only
    with f.open("rb") as fh:
        fh.seek(8)
        header = json.loads(fh.read(n))
    new = json.dumps(fn(header)).encode()
    new += b" " * (-len(new) % 8)
    size = f.stat().st_size
    r.rm(rel)
    with f.open("wb") as fh:
        fh.write(struct.pack("<Q", len(new)) + new)
        fh.truncate(max(size, 8 + len(new)))


SHARD = f"{CONV}/model-00001-of-00004.safetensors"
SHARD_FAULTS = {
    "header-a-list": lambda h: [h],
    "offsets-strings": lambda h: {k: ({**v, "data_offsets": [str(x) for x in v["data_offsets"]]} if k != "__metadata__" else v)
                                  for k, v in h.items()},
    "shape-negative": lambda h: {k: ({**v, "shape": [-1] + v["shape"][1:]} if k != "__metadata__" else v) for k, v in h.items()},
    "dtype-unknown": lambda h: {k: ({**v, "dtype": "Q3"} if k != "__metadata__" else v) for k, v in h.items()},
    "tensor-a-string": lambda h: {k: "x" for k in h},
    "shape-a-string": lambda h: {k: ({**v, "shape": "big"} if k != "__metadata__" else v) for k, v in h.items()},
}
for _k, _fn in SHARD_FAULTS.items():
    add(C8, f"shard-{_k}", (lambda fn: lambda r: _shard_header(r, SHARD, fn))(_fn))


@attack(C8, "shard-header-length-huge")
def _(r):
    with r.p(SHARD).open("rb") as fh:
        data = fh.read(4096)[8:]
    r.write(SHARD, struct.pack("<Q", 2 ** 62) + data)


@attack(C8, "shard-empty")
def _(r):
    r.write(SHARD, b"")


EMPTY = ["prune/step.log", DLOG, blog("7b-fp8"), f"{QC}/step.log", f"{CONV}/config.json",
         f"{CONV}/model.safetensors.index.json", f"{QC}/hf_fp8/hf_quant_config.json",
         "eval/iter_12800/lm_eval/results_2026-05-21T10-10-10.json"]
for _rel in EMPTY:
    add(C8, f"empty-{_rel.replace('/', '-')}", (lambda rel: lambda r: r.write(rel, ""))(_rel))

GARBAGE = bytes(range(256)) * 16 + b"\x00\xff\xfe" * 100
for _rel in ["prune/step.log", DLOG, blog("7b-bf16"), f"{CONV}/config.json", "manifest.json", "distill/step.json"]:
    add(C8, f"binary-garbage-{_rel.replace('/', '-')}", (lambda rel: lambda r: r.write(rel, GARBAGE))(_rel))


@attack(C8, "invalid-utf8-inside-a-loss-value")
def _(r):
    r.write(DLOG, r.read(DLOG).encode().replace(b"total loss: 1.", b"total loss: \xff\xfe", 5))


@attack(C8, "invalid-utf8-inside-the-distill-log", expect_pass="bytes that are not UTF-8 in a field no check reads (the "
        "loss scale): the reader shows them as U+FFFD and every judged value is intact")
def _(r):
    r.write(DLOG, r.read(DLOG).encode().replace(b"loss scale: 1.0", b"loss scale: \xff\xfe", 5))


@attack(C8, "nul-bytes-inside-a-bench-log", expect_pass="NUL bytes are dropped by the log reader on purpose "
        "(checks/logread.py clean: a crashed file system pads with them); the values around them are whole")
def _(r):
    r.write(blog("7b-fp8"), r.read(blog("7b-fp8")).replace("Throughput:", "\x00Throughput:\x00"))


@attack(C8, "results-yml-score-a-string")
def _(r):
    r.resub(_results_yml(r), r"value: ([\d.]+)", r"value: '\1'")


@attack(C8, "results-yml-score-a-list")
def _(r):
    r.resub(_results_yml(r), r"value: ([\d.]+)", r"value: [\1]")


@attack(C8, "results-yml-score-nan")
def _(r):
    r.resub(_results_yml(r), r"value: ([\d.]+)", "value: .nan")


@attack(C8, "results-yml-a-list")
def _(r):
    r.write(_results_yml(r), "- 1\n- 2\n")


@attack(C8, "results-yml-an-alias-bomb")
def _(r):
    r.write(_results_yml(r), "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nresults: *c\n")


@attack(C8, "lm-eval-acc-a-string")
def _(r):
    r.set_json("eval/iter_12800/lm_eval/results_2026-05-21T10-10-10.json",
               lambda d: d["results"]["mmlu"].update({"acc,none": "0.722"}))


@attack(C8, "bench-result-json-not-an-object")
def _(r):
    r.write("bench/7b-bf16/result.json", "[1, 2]")


@attack(C8, "bench-result-json-num-requests-a-string")
def _(r):
    r.write("bench/7b-bf16/result.json", json.dumps({"num_requests": "1000", "elapsed_time": "x"}))


@attack(C8, "checkpoint-symlink-loop")
def _(r):
    r.rm(CONV)
    r.p(CONV).symlink_to(r.p(CONV))


@attack(C8, "manifest-steps-entry-a-string")
def _(r):
    r.manifest(lambda m: m["steps"].update(distill="done"))


@attack(C8, "manifest-deviations-a-string")
def _(r):
    r.manifest(lambda m: m["steps"]["eval/iter_12800"].update(deviations="addition-eval-mmlu"))


@attack(C8, "a-file-where-the-bench-directory-belongs")
def _(r):
    r.rm("bench")
    r.write("bench", "not a directory")


@attack(C8, "a-file-where-a-bench-variant-belongs")
def _(r):
    r.rm("bench/7b-fp8")
    r.write("bench/7b-fp8", "not a directory")


@attack(C8, "unreadable-distill-log")
def _(r):
    r.write(DLOG, r.read(DLOG))
    r.p(DLOG).chmod(0)


# ================================================================ 9. the kit's own: a PASS for a run that did not reproduce
C9 = "9-own"


@attack(C9, "bench-log-of-the-9b-under-the-7b-unit-paths-edited")
def _(r):
    r.write(blog("7b-bf16"), r.read(blog("9b-bf16")).replace("nvidia/NVIDIA-Nemotron-Nano-9B-v2", f"{r.orig}/convert/hf_iter_12800"))


@attack(C9, "bench-log-of-the-7b-bf16-under-the-fp8-unit-paths-edited")
def _(r):
    r.write(blog("7b-fp8"), r.read(blog("7b-bf16")).replace("convert/hf_iter_12800", "quantize/conservative/hf_fp8"))


@attack(C9, "step-json-exit-0-with-a-log-ending-in-a-traceback", cli=True)
def _(r):
    r.write(DLOG, r.read(DLOG).split(" [2026-05-20 10:00:00] iteration     9000/")[0] + TRACEBACK)


@attack(C9, "tiny-tier-scale-distillation")
def _(r):
    r.write(DLOG, distill_log(train_iters=40, log_interval=1, save_interval=20, seq_length=512, gbs=8, mbs=1, tp_size=1,
                              lr_warmup_iters=4, student_hf_path=f"{r.orig}/prune/hf", output_dir=f"{r.orig}/distill/output"))


@attack(C9, "tiny-tier-scale-bench")
def _(r):
    for v in ("7b-bf16", "7b-fp8", "9b-bf16"):
        r.sub(blog(v), "Sampling input_len from [32767, 32767]", "Sampling input_len from [127, 127]")
        r.sub(blog(v), "Total num prompt tokens:  32767000", "Total num prompt tokens:  127000")
        r.cmd(f"bench/{v}", "--random-input-len 32768", "--random-input-len 128")


@attack(C9, "distill-log-of-another-run-with-its-paths-edited")
def _(r):
    other = distill_log(loss_scale=1.0, student_hf_path=f"{r.orig}/prune/hf", output_dir=f"{r.orig}/distill/output",
                        eval_interval=800, save_interval=800)
    r.write(DLOG, other)


@attack(C9, "numbers-copied-from-the-tutorial-without-a-checkpoint")
def _(r):
    r.rm(f"{QC}/hf_fp8")
    r.p(f"{QC}/hf_fp8").mkdir()


@attack(C9, "eval-of-the-teacher-filed-as-iteration-12800")
def _(r):
    r.rm(elog("iter_12800"))
    shutil.copytree(r.p(elog("nano-9b-v2")), r.p(elog("iter_12800")), copy_function=os.link)


@attack(C9, "prune-log-of-the-0-44-format-with-a-0-46-manifest")
def _(r):
    r.manifest(lambda m: m.update(mixed_versions={"modelopt": ["0.44.0", "0.46.0"]}))


@attack(C9, "convert-fingerprint-tensors-equal-the-pruned-model-only")
def _(r):
    # weights differ from the pruned model everywhere except the sampled windows: a lineage by sample cannot see it;
    # the export still has to differ from prune/hf somewhere the fingerprint reads
    r.checkpoint(CONV, PRUNED_7B, content="pruned")


@attack(C9, "a-faithful-run-moved-elsewhere-then-one-step-swapped")
def _(r):
    r.checkpoint(f"{QA}/hf_fp8", PRUNED_7B, fp8=FP8_KINDS, quant=QUANT, content="teacher")


@attack(C9, "a-faithful-run-copied-to-another-place", expect_pass="the same outputs and logs, copied: the commands name "
        "the run's old place (a directory named like its run id), and every checkpoint is byte-identical. A copied "
        "run is the run; judging it again must give the same verdict")
def _(r):
    pass


@attack(C9, "a-faithful-run-on-an-h200-with-h100-numbers", expect_pass="absolute throughput has goldens for the H100 only: "
        "on an H200 those checks SKIP (shown with why) and every ratio, setting and lineage is judged; the SKIPs "
        "are visible in the summary, so this is not a silent PASS")
def _(r):
    r.manifest(lambda m: m["gpu"].update(model="NVIDIA H200"))


# ================================================================ the judging


def clone(pristine: Path, dst: Path) -> Path:
    shutil.copytree(pristine, dst, copy_function=os.link, symlinks=True)
    return dst


def judged(run: Path, expected: Path = EXPECTED):
    """(exit code, findings or the error text). A traceback inside the kit fails the test."""
    from checks import goldens as G, render
    from checks.engine import evaluate
    from checks.errors import CheckError
    from checks.findings import exit_code
    from checks.run import Run
    from rich.console import Console

    try:
        findings = evaluate(_goldens(expected, G), Run.load(run))
        render.terminal(findings, Console(file=io.StringIO(), width=200), "attack")  # renderers must not choke either
        render.write_json(run.parent / "report.json", findings, {})
    except CheckError as e:
        return 2, e.render()
    except Exception:  # noqa: BLE001
        pytest.fail("traceback instead of a verdict:\n" + traceback.format_exc())
    return exit_code(findings), findings


_GOLDENS: dict = {}


def _goldens(path: Path, G):
    """The default goldens are loaded once (the judge never changes them); an edited copy each time."""
    if path != EXPECTED:
        return G.load(path)
    if "full" not in _GOLDENS:
        _GOLDENS["full"] = G.load(path)
    return _GOLDENS["full"]


def _kit_traceback(p: subprocess.CompletedProcess) -> bool:
    """A Python traceback of the kit itself (a log line quoted in a finding may say "Traceback" too)."""
    return "Traceback (most recent call last)" in p.stderr or f'File "{ROOT / "checks"}' in p.stdout + p.stderr


def cli(run: Path, expected: Path = EXPECTED) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks", "verify", str(run), "--expected", str(expected)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)


def _passing(findings) -> str:
    return "PASS with: " + "; ".join(f"{f.step}.{f.id}={f.status}" for f in findings if f.status not in ("PASS",))[:2000]


@pytest.mark.parametrize("a", ATTACKS, ids=[a.id for a in ATTACKS])
def test_attack_is_never_passed(a, pristine_run, tmp_path):
    if a.name.startswith("unreadable") and os.geteuid() == 0:
        pytest.skip("root reads any file: permissions cannot be taken away here")
    run = clone(pristine_run, tmp_path / "tutorial")
    a.do(R(run, pristine_run))
    code, findings = judged(run)
    if a.gap:  # strict: once the judge catches it, this says so
        assert code == 0, f"the gap is closed (exit {code}): drop `gap=` from {a.id}"
        pytest.xfail(f"known gap: {a.gap}")
    if a.expect_pass:
        assert code == 0, findings
        return
    assert code in (1, 2), _passing(findings)
    if code == 2 and isinstance(findings, list):
        errors = [f for f in findings if f.status == "ERROR"]
        assert all(f.note for f in errors), [f.id for f in errors if not f.note]  # every ERROR says why


@pytest.mark.parametrize("a", [a for a in ATTACKS if a.cli], ids=[a.id for a in ATTACKS if a.cli])
def test_attack_through_the_cli(a, pristine_run, tmp_path):
    run = clone(pristine_run, tmp_path / "tutorial")
    a.do(R(run, pristine_run))
    p = cli(run)
    assert p.returncode in (1, 2), p.stdout[-3000:]
    assert not _kit_traceback(p), p.stderr[-3000:]


@pytest.mark.parametrize("name", list(GOLDEN_ATTACKS))
def test_weakened_goldens_are_refused_with_file_and_line(name, pristine_run, tmp_path):
    g = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, g)
    GOLDEN_ATTACKS[name](None, g)
    code, out = judged(pristine_run, g)
    assert code == 2, _passing(out) if isinstance(out, list) else out
    if isinstance(out, str) and name not in ("missing", "a-directory", "empty-file", "schema-2"):
        assert re.search(rf"{re.escape(str(g))}:\d+", out), out  # names file and line
    elif isinstance(out, list):
        assert any(f.status == "ERROR" and f.id == "goldens" for f in out), out


@pytest.mark.parametrize("name", ["tol-nan", "duplicate-entry-key", "section-bench-removed"])
def test_weakened_goldens_through_the_cli(name, pristine_run, tmp_path):
    g = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, g)
    GOLDEN_ATTACKS[name](None, g)
    p = cli(pristine_run, g)
    assert p.returncode == 2 and not _kit_traceback(p), p.stdout[-2000:] + p.stderr[-2000:]


def test_bless_refuses_a_distillation_stopped_at_12790_with_exit_0(pristine_run, tmp_path):
    """The issue's own case: exit 0 at iteration 12790. bless writes nothing; verify does not PASS it."""
    run = clone(pristine_run, tmp_path / "tutorial")
    next(a for a in ATTACKS if a.name == "distill-stopped-at-12790-exit-0").do(R(run, pristine_run))
    assert R(run, pristine_run).json("distill/step.json")["exit_code"] == 0
    into = tmp_path / "g.yaml"
    shutil.copy(EXPECTED, into)
    p = subprocess.run([sys.executable, "-m", "checks", "bless", str(run), "--into", str(into), "--yes"], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert p.returncode == 2 and "nothing was written" in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "distill.last_iteration" in p.stderr or "distill.completed" in p.stderr, p.stderr[-2000:]
    assert into.read_bytes() == EXPECTED.read_bytes()
    assert judged(run)[0] in (1, 2)


def test_the_runner_side_attacks_are_tested_with_the_makefile():
    """Class 6 and 7 on the runner side live beside the runner's other tests; this keeps the references true."""
    secrets = {"secrets, local runner (every file of a reproduce)": "test_make.py::test_reproduce_with_doubles_then_resume_after_a_failure",
               "secrets, slurm (slurm-<job>.out written by Slurm)": "test_runner.py::test_no_file_of_a_slurm_run_holds_a_secret_even_where_slurm_writes_it"}
    for ref in {**RUNNER_TESTS, **secrets}.values():
        file, name = ref.split("::")
        assert f"def {name}(" in (ROOT / "tests" / file).read_text(), ref


def test_the_faithful_run_still_passes_with_no_new_skip(pristine_run, tmp_path):
    run = clone(pristine_run, tmp_path / "tutorial")
    code, findings = judged(run)
    assert code == 0, _passing(findings)
    assert sum(f.status == "SKIP" for f in findings) == FAITHFUL_SKIPS
    assert {f.status for f in findings} <= {"PASS", "XFAIL"}


def summary() -> dict[str, int]:
    out: dict[str, int] = {}
    for a in ATTACKS:
        out[a.cls] = out.get(a.cls, 0) + 1
    out[C5] = len(GOLDEN_ATTACKS)
    out["6/7-runner-and-secrets (tests/test_runner.py, test_make.py)"] = len(RUNNER_TESTS) + 2
    return out


if __name__ == "__main__":
    total = 0
    for k, n in sorted(summary().items()):
        print(f"{k:<62} {n:>4}")
        total += n
    print(f"{'total':<62} {total:>4}")
    print(f"cases judged right to PASS: {', '.join(a.id for a in ATTACKS if a.expect_pass)}")
    print(f"through the CLI as well: {sum(a.cli for a in ATTACKS) + 3}")
