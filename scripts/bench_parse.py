"""Benchmark (issue 11, item 6): `checks verify --step distill` on a generated 768-rank distillation log, against a
plain Python loop that reads the same file line by line. Information, not a test.

    .venv/bin/python scripts/bench_parse.py [--size 1GiB] [--repeats 3] [--keep DIR]     # or: make bench-parse

It writes, in a temporary directory, a minimal run directory (manifest.json, distill/step.json with exit_code 0 and
the tutorial's command, distill/step.log) whose log looks like what a 96 x 8 GPU Megatron-Bridge distillation prints:
distill.py's arguments block, one iteration line per log interval with about 40 lines of rank noise between
consecutive ones (NCCL INFO, `[defaultN]:`/`[rankN]:` prefixed warnings, tqdm bars rewritten with \\r, lines that
say "iteration" or "checkpoint" without being an iteration or save line), a save every 400 iterations and
"Distillation done!" at the end. The iteration count follows from the size (a 1 GiB log at the issue's 40 noise
lines per iteration line holds far more than the tutorial's 16000 iterations), so the goldens that name 16000
(last_iteration, arg_train_iters, checkpoints_saved) FAIL on it; verify's exit status is shown, not judged.

Then, each `--repeats` times (alternating which runs first), as subprocesses so both pay interpreter start-up:
  verify: python -m checks verify RUN --step distill --expected expected/full.yaml --json RUN/report.json
  scan:   python -c 'for line in f: if "iteration" in line: n += 1'
and prints the medians: wall time, the ratio verify/scan (and the same in CPU time, which other work on the
machine disturbs less), and verify's peak RSS (from /usr/bin/time, else os.wait4), against the issue's goal
(ratio <= 2, peak <= 150 MiB at 1 GiB). The file is read from the page cache (it was just written), so this
measures the parser, not the disk. Exit 0 whether the goal is met or not; 2 when a
subprocess crashed or verify could not judge the run (exit 2)."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO = 2.0
GOAL_PEAK_MIB = 150.0
NOISE_PER_ITERATION = 40
LOG_INTERVAL = 10  # the tutorial's --log_interval
SAVE_INTERVAL = 400  # the tutorial's --eval_interval, also distill.py's save interval
GPU = "NVIDIA H100 80GB HBM3"
# The tutorial's data blend (weight, path, ...), as distill.py echoes --data_paths "${DATA_BLEND}".
BLEND = (ROOT / "recipes/tutorial/data_blend.sh").read_text().split('DATA_BLEND="', 1)[1].split('"', 1)[0] \
    .replace("\\", "").split()
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
SCAN = ("import sys\n"
        "n = 0\n"
        "with open(sys.argv[1], encoding='utf-8', errors='replace') as f:\n"
        "    for line in f:\n"
        "        if 'iteration' in line:\n"
        "            n += 1\n"
        "print(n)\n")


# ---------------------------------------------------------------- the log


def parse_size(s: str) -> int:
    """'1GiB', '512MiB', '200MB', '1e9' -> bytes."""
    m = re.fullmatch(r"\s*([\d.eE+]+)\s*([KMGT]?)(i?)B?\s*", s)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 1GiB, 256MiB, 500MB)")
    base = 1024 if m.group(3) else 1000
    return int(float(m.group(1)) * base ** " KMGT".index(m.group(2) or " "))


def distill_args(run: Path, train_iters: int) -> dict[str, object]:
    """distill.py's arguments (ModelOpt 0.44.0, argparse order), as the tutorial's command sets them."""
    return dict(teacher_hf_path="nvidia/NVIDIA-Nemotron-Nano-9B-v2", student_hf_path=f"{run}/prune/hf",
                trust_remote_code=True, tp_size=8, pp_size=1, data_paths=list(BLEND),
                data_path_to_cache="/data/cache", use_mock_data=False, seq_length=8192, mbs=4, gbs=768,
                train_iters=train_iters, lr=0.0001, min_lr=1e-05, lr_warmup_iters=100, eval_interval=SAVE_INTERVAL,
                eval_iters=32, log_interval=LOG_INTERVAL, output_dir=f"{run}/distill/output")


def command(args: dict[str, object]) -> str:
    """The command the runner records in step.json (one flag a line, as the full profile renders it)."""
    flags = []
    for k, v in args.items():
        if v is True:
            flags.append(f"--{k}")
        elif v is False:
            continue
        elif isinstance(v, list):
            flags.append(f"--{k} {' '.join(map(str, v))}")
        else:
            flags.append(f"--{k} {v}")
    return "torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/distill.py \\\n" + \
        " \\\n".join(flags)


def lr_at(n: int, lr: float, min_lr: float, warmup: int, decay: int) -> float:
    """Linear warmup to `lr`, cosine to `min_lr` at `decay` (Megatron-Bridge's schedule as distill.py sets it)."""
    if warmup > 0 and n <= warmup:
        return lr * n / warmup
    if n >= decay:
        return min_lr
    return min_lr + 0.5 * (1 + math.cos(math.pi * (n - warmup) / max(decay - warmup, 1))) * (lr - min_lr)


def iteration_line(it: int, total: int, when: datetime, gbs: int, lr: float) -> str:
    """Megatron-Bridge 0.3.0 training_log, KD losses only (as tests/tutorial_run.py's distill_log writes them)."""
    kd = 0.3 + 0.9 * (1 + it / 1000) ** -0.5
    ms = 2700.0 * (3.0 if it == LOG_INTERVAL else 1.0) + (it % 7)
    return (f" [{when:%Y-%m-%d %H:%M:%S}] iteration {it:8d}/{total:8d} | consumed samples: {it * gbs:12d} |"
            f" elapsed time per iteration (ms): {ms:.1f} | learning rate: {lr:.6E} | global batch size: {gbs:5d} |"
            f" total loss: {kd:.6E} | logits distillation loss: {kd:.6E} | loss scale: 1.0 | grad norm: 0.412 |"
            f" number of skipped iterations: {0:3d} | number of nan iterations: {0:3d} |")


def noise_pool(rng: random.Random, size: int = 20000) -> list[str]:
    """Lines that 768 ranks print between two iteration lines, drawn with these weights. A few hold a word the
    distill parser looks for ("checkpoint": torch's activation-checkpointing warning) without being its line."""
    def host() -> str:
        return f"nid{rng.randrange(96) + 1:05d}"

    def rank() -> tuple[int, int]:
        r = rng.randrange(768)
        return r, r % 8

    def nccl() -> str:
        r, lr = rank()
        pid = rng.randrange(10000, 99999)
        return rng.choice((
            f"{host()}:{pid}:{pid + 7} [{lr}] NCCL INFO Channel {rng.randrange(32):02d}/32 : {r}[{lr}] -> "
            f"{(r + 1) % 768}[{(lr + 1) % 8}] via P2P/CUMEM/read",
            f"{host()}:{pid}:{pid + 7} [{lr}] NCCL INFO Connected all rings, use ring PXN 0 GDR 1",
            f"{host()}:{pid}:{pid + 9} [{lr}] NCCL INFO comm 0x{rng.getrandbits(48):012x} rank {r} nRanks 768 "
            f"nNodes 96 localRanks 8 localRank {lr} MNNVL 0",
            f"{host()}:{pid}:{pid + 9} [{lr}] NCCL INFO ncclCommInitRankConfig comm 0x{rng.getrandbits(48):012x} "
            f"rank {r} nranks 768 cudaDev {lr} nvmlDev {lr} busId {rng.choice(('18', '2a', '3a', '5d', '9a', 'ab', 'ba', 'db'))}000 "
            f"commId 0x{rng.getrandbits(64):016x} - Init COMPLETE",
            f"{host()}:{pid}:{pid + 11} [{lr}] NCCL INFO NET/IB : Using [0]mlx5_{lr}:1/IB [RO]; OOB ib{lr}:10.{rng.randrange(256)}"
            f".{rng.randrange(256)}.{rng.randrange(256)}<0>",
        ))

    def torch_warning() -> str:
        r, lr = rank()
        return (f"[default{lr}]:[rank{r}]:[W520 10:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d} "
                f"{rng.randrange(10000, 99999)} torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:4843] [PG ID 0 PG GUID 0 "
                f"Rank {r}]  using GPU {lr} to perform barrier as devices used by this process are currently unknown. This "
                "can potentially cause a hang if this rank to GPU mapping is incorrect.")

    def py_warning() -> str:
        _, lr = rank()
        return rng.choice((
            f"[default{lr}]:/usr/local/lib/python3.12/dist-packages/transformer_engine/pytorch/module/base.py:{rng.randrange(600, 900)}: "
            "UserWarning: fp8_group is not set; using the default process group",
            f"[default{lr}]:/opt/megatron-lm/megatron/core/tensor_parallel/layers.py:{rng.randrange(500, 700)}: UserWarning: "
            "async_grad_allreduce is deprecated, not in use anymore and will be removed in a future release",
            f"[default{lr}]:  warnings.warn(",
        ))

    def ckpt_warning() -> str:  # holds "checkpoint": a needle of the distill parser
        _, lr = rank()
        return (f"[default{lr}]:/usr/local/lib/python3.12/dist-packages/torch/utils/checkpoint.py:86: UserWarning: None of "
                "the inputs have requires_grad=True. Gradients will be None")

    def nemo() -> str:
        _, lr = rank()
        return (f"[default{lr}]:[NeMo W 2026-05-20 10:{rng.randrange(60):02d}:{rng.randrange(60):02d} nemo_logging:405] "
                "Megatron num_microbatches_calculator is not initialised; using the global batch size from the config")

    def tqdm() -> str:  # a progress bar rewritten in place: its states joined by \r on one line
        _, lr = rank()
        total = rng.choice((64, 128, 1000))
        states = []
        for k in range(0, total + 1, max(total // 4, 1)):
            bar = "\u2588" * (10 * k // total) + " " * (10 - 10 * k // total)
            states.append(f"Loading dataset shards: {100 * k // total:3d}%|{bar}| {k}/{total} [00:0{k % 10}<00:00, "
                          f"{rng.uniform(50, 500):.2f}it/s]")
        return f"[default{lr}]:" + "\r".join(states)

    kinds = [(nccl, 18), (torch_warning, 6), (py_warning, 8), (ckpt_warning, 0.5), (nemo, 4), (tqdm, 2)]
    makers = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    return [rng.choices(makers, weights)[0]() for _ in range(size)]


def rerun_line(it: int, rng: random.Random) -> str:
    """Megatron's rerun state machine, on one rank each interval: "iteration" in a line that is no iteration line."""
    return f"[default{rng.randrange(8)}]:Setting rerun_state_machine.current_iteration to {it}..."


def write_log(path: Path, run: Path, size: int, seed: int = 0) -> tuple[dict[str, int], dict[str, object]]:
    """Write ~`size` bytes of distillation log; returns its counts and distill.py's arguments."""
    rng = random.Random(seed)
    pool = noise_pool(rng)
    pool_mean = statistics.fmean(len(s.encode()) + 1 for s in pool)
    sample = len(iteration_line(10**6, 10**6, datetime(2026, 5, 20), 768, 1e-4)) + 1
    per_line = sample + NOISE_PER_ITERATION * pool_mean
    lines_per_save = SAVE_INTERVAL // LOG_INTERVAL
    n_lines = max(lines_per_save, round(size / per_line / lines_per_save) * lines_per_save)
    train_iters = n_lines * LOG_INTERVAL
    args = distill_args(run, train_iters)
    gbs, ckpts = int(args["gbs"]), f"{args['output_dir']}/checkpoints"
    head = ["[default0]:Starting distill.py with 768 processes", "",
            "==================== Arguments ===================="]
    head += [f"{k:<35} {v}" for k, v in args.items()]
    head += ["===================================================", "", "", "Starting distillation..."]
    counts = {"lines": 0, "iteration_lines": 0, "noise_lines": 0, "saves": 0}
    t0 = datetime(2026, 5, 20, 10, 0, 0)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(head) + "\n")
        counts["lines"] += len(head)
        batch: list[str] = []
        for k in range(1, n_lines + 1):
            it = k * LOG_INTERVAL
            noise = rng.choices(pool, k=NOISE_PER_ITERATION)
            if rng.random() < 0.5:  # every other interval, in place of a noise line
                noise[rng.randrange(len(noise))] = rerun_line(it, rng)
            batch += noise
            when = t0 + timedelta(milliseconds=2700 * it)
            batch.append(iteration_line(it, train_iters, when, gbs,
                                        lr_at(it, args["lr"], args["min_lr"], args["lr_warmup_iters"], train_iters)))
            counts["noise_lines"] += len(noise)
            counts["iteration_lines"] += 1
            if it == LOG_INTERVAL:
                batch.append("[Rank 0] (after 10 iterations) memory (GB) | mem-allocated-gigabytes: 31.17 |"
                             " mem-max-allocated-gigabytes: 61.43 | mem-reserved-gigabytes: 66.5")
            if it % SAVE_INTERVAL == 0:
                batch += [f"saving checkpoint at iteration {it:7d} to {ckpts} in torch_dist format",
                          f"  successfully saved checkpoint from iteration {it:7d} to {ckpts} [ t 1/8, p 1/1 ]",
                          "(min, max) time across ranks (ms):",
                          f"    save-checkpoint ................................: ({rng.uniform(2e4, 3e4):.2f}, "
                          f"{rng.uniform(3e4, 3.1e4):.2f})"]
                counts["saves"] += 1
            if len(batch) >= 50000:
                f.write("\n".join(batch) + "\n")
                counts["lines"] += len(batch)
                batch = []
        tail = ["", f"Distillation done! Saved checkpoint to {ckpts} in megatron distributed checkpoint format.", ""]
        batch += tail
        f.write("\n".join(batch) + "\n")
        counts["lines"] += len(batch)
    counts["train_iters"] = train_iters
    counts["bytes"] = path.stat().st_size
    return counts, args


def write_run(run: Path, size: int, seed: int = 0) -> dict[str, int]:
    """The run directory `checks verify RUN --step distill` reads."""
    (run / "distill").mkdir(parents=True)
    counts, args = write_log(run / "distill" / "step.log", run, size, seed)
    (run / "manifest.json").write_text(json.dumps({
        "schema": 1, "run_id": run.name, "profile": "full", "gpu": {"model": GPU, "count": 8},
        "versions": {"modelopt": "0.44.0"}, "image": {"name": "nemotron-repro:modelopt-0.44.0"},
        "steps": {"distill": {"world_size": 768, "exit_code": 0}}}, indent=1))
    (run / "distill" / "step.json").write_text(json.dumps({
        "unit": "distill", "command": command(args), "exit_code": 0,
        "started": "2026-05-20T10:00:00Z", "ended": "2026-05-20T22:00:00Z"}, indent=1))
    return counts


# ---------------------------------------------------------------- timing


def timed(argv: list[str], out: Path) -> tuple[float, float, int, float]:
    """Run argv; (wall seconds, its peak RSS in MiB, exit status, CPU seconds: user + system, which other load on
    the machine disturbs less than wall time). The peak comes from /usr/bin/time (%M): a child
    spawned straight from this process would report this process's own RSS as its floor (Linux keeps the
    pre-exec high-water mark in ru_maxrss). Without /usr/bin/time, from wait4: then an upper bound."""
    stats = out.with_suffix(".time")
    wrap = ["/usr/bin/time", "-f", "%M", "-o", str(stats)] if TIME else []
    with out.open("wb") as f:
        t = time.perf_counter()
        p = subprocess.Popen(wrap + argv, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    kib = usage.ru_maxrss  # Linux: KiB
    if TIME:
        try:
            kib = int(stats.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
    return wall, kib / 1024, p.returncode, usage.ru_utime + usage.ru_stime  # wait4 counts time's waited child


def verdicts(report: Path) -> str:
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError):
        return "no report"
    found = doc.get("findings", doc) if isinstance(doc, dict) else doc
    if not isinstance(found, list):
        return "report unread"
    by: dict[str, list[str]] = {}
    for f in found:
        if isinstance(f, dict):
            by.setdefault(str(f.get("status")), []).append(str(f.get("id")))
    return ", ".join(f"{len(v)} {k}" + (f" ({', '.join(v)})" if k not in ("PASS", "SKIP") else "")
                     for k, v in sorted(by.items()))


def report(res: dict, counts: dict, scanned: str, repeats: int, run: Path) -> None:
    """The medians of the runs, the log's make-up, and the goal (verify within GOAL_RATIO of the scan, in GOAL_PEAK_MIB)."""
    vw = statistics.median(r[0] for r in res["verify"])
    sw = statistics.median(r[0] for r in res["scan"])
    vm = statistics.median(r[1] for r in res["verify"])
    sm = statistics.median(r[1] for r in res["scan"])
    vc = statistics.median(r[3] for r in res["verify"])
    sc = statistics.median(r[3] for r in res["scan"])
    ratio = vw / sw
    scale = 1.0  # the goal is stated at 1 GB; peak memory of a constant-memory parser does not scale with size
    ok_ratio, ok_peak = ratio <= GOAL_RATIO, vm <= GOAL_PEAK_MIB * scale
    print()
    print(f"file                 {counts['bytes'] / 2**20:,.0f} MiB ({counts['bytes']:,} bytes)")
    print(f"lines                {counts['lines']:,}")
    print(f"iteration lines      {counts['iteration_lines']:,} (train_iters {counts['train_iters']:,}, "
          f"log_interval {LOG_INTERVAL}; {counts['saves']:,} saves; {counts['noise_lines']:,} noise lines)")
    print(f"lines with 'iteration' {scanned} (the scan's count)")
    print(f"verify               {vw:.2f} s median of {repeats}, CPU {vc:.2f} s (exit {res['verify'][-1][2]}: "
          f"{verdicts(run / 'report.json')})")
    print(f"scan                 {sw:.2f} s median of {repeats}, CPU {sc:.2f} s, {sm:.1f} MiB peak")
    print(f"ratio verify/scan    {ratio:.2f}  (goal <= {GOAL_RATIO:g}): {'PASS' if ok_ratio else 'FAIL'}"
          f"   CPU time ratio {vc / sc:.2f}")
    print(f"peak RSS of verify   {vm:.1f} MiB  (goal <= {GOAL_PEAK_MIB:g} MiB): {'PASS' if ok_peak else 'FAIL'}")
    print(f"goal                 {'PASS' if ok_ratio and ok_peak else 'FAIL'}"
          + ("" if abs(counts['bytes'] - 2**30) < 2**30 * 0.05 else f"  (stated for 1 GiB; this log is {counts['bytes'] / 2**30:.2f} GiB)"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=parse_size, default=1 << 30, help="log size (default 1GiB; e.g. 256MiB, 500MB)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each command; the median is shown (default 3)")
    ap.add_argument("--keep", type=Path, help="write the run here and keep it (default: a temporary directory, removed)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    run = (a.keep if a.keep else tmp) / "bench-parse"
    if run.exists():
        print(f"bench-parse: {run} exists; remove it or choose another --keep", file=sys.stderr)
        return 2
    try:
        t = time.perf_counter()
        counts = write_run(run, a.size, a.seed)
        log = run / "distill" / "step.log"
        print(f"generated {log} in {time.perf_counter() - t:.1f} s")
        verify = [py, "-m", "checks", "verify", str(run), "--step", "distill", "--expected",
                  str(ROOT / "expected" / "full.yaml"), "--json", str(run / "report.json")]
        scan = [py, "-c", SCAN, str(log)]
        res: dict[str, list[tuple[float, float, int]]] = {"verify": [], "scan": []}
        for k in range(a.repeats):
            for name in (("verify", "scan") if k % 2 == 0 else ("scan", "verify")):
                res[name].append(timed(verify if name == "verify" else scan, tmp / f"{name}.out"))
                w, m, rc, cpu = res[name][-1]
                print(f"  run {k + 1} {name:6s} {w:7.2f} s  (CPU {cpu:6.2f} s)  {m:6.1f} MiB  exit {rc}", flush=True)
        crashed = [f"{n} exited {rc}" for n, rs in res.items() for _, _, rc, _ in rs
                   if rc != 0 and not (n == "verify" and rc == 1)]
        report(res, counts, (tmp / "scan.out").read_text().strip(), a.repeats, run)
        if crashed:
            print(f"bench-parse: {'; '.join(crashed)}; see {tmp}/verify.out", file=sys.stderr)
            sys.stdout.write((tmp / "verify.out").read_text()[-3000:])
            a.keep = a.keep or tmp  # keep what explains the crash
            return 2
        return 0
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
