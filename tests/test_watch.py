"""`checks watch` and `make <step> WATCH=1`: logs replayed line by line into a growing file, judged and projected
as they grow; off-track runs stopped by the profile's policy through the test doubles on the local runner and
on the stand-in Slurm; the status file, the plain lines, the live view, bad input, the policy schema, make plan.

Clock: the projection uses the log's own clock (Megatron's "elapsed time per iteration (ms)"), never the wall
clock of the replay, so a 12-hour run replays in a second and its "real duration" is the sum of its logged
intervals."""

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

import tutorial_run as T
from checks import goldens as goldens_mod
from checks import watch
from checks.steps import distill
from checks.errors import CheckError
from checks.recipes import recipe_command
from checks.yamlio import loads
from kit_env import DOUBLES, ROOT, kit, make

EXPECTED = goldens_mod.load(ROOT / "expected" / "full.yaml")
FULL = watch.profile_policy(watch.read_profile("full"))
REAL = ROOT / "tests" / "fixtures" / "real" / "watch" / "mbridge_issue4024_nemotron_super_lora_mtp_losses.log"
STANDIN_SLURM = ROOT / "tests" / "doubles" / "slurm"
MS = re.compile(r"elapsed time per iteration \(ms\): [\d.]+")
ITER = re.compile(r" iteration +(\d+)/ *(\d+) \|")


def make_run(tmp: Path, *, world_size: int = 768, gpu: str = T.GPU, command: bool = True) -> Path:
    """A run directory whose distillation has started: manifest, step.json (its command, no exit code yet) and
    command.sh, as the runner writes them before it launches the step."""
    run = tmp / "run"
    (run / "distill").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"schema": 1, "run_id": "run", "profile": "full",
                                                   "gpu": {"model": gpu, "count": 8}, "steps": {}}))
    recipe = ROOT / "recipes" / "tutorial" / "distill.sh"
    meta = {"unit": "distill", "world_size": world_size, "exit_code": None}
    (run / "distill" / "step.json").write_text(json.dumps({**meta, "command": recipe_command(recipe)} if command else meta))
    if command:
        (run / "distill" / "command.sh").write_text(recipe.read_text())
    return run


def healthy_log(seed: int = 12) -> tuple[list[str], float]:
    """The tutorial's 16000 iterations at log_interval 10, with the noise of a real run put into the logged times:
    start-up in the first interval, a slower warm-up, 1.5 % jitter, the interval after each async checkpoint save
    4 % slower, 1 % stragglers 30 % slower, and a drift of +2 % over the run (which no projection can foresee).
    Returns the lines and the run's real duration by the log's clock (seconds)."""
    rng = random.Random(seed)
    out, real = [], 0.0
    for line in T.distill_log(16000, 10, 2700.0).split("\n"):
        m = ITER.search(line)
        if m and "consumed samples" in line:
            it = int(m.group(1))
            ms = 2700 * (1 + 0.02 * it / 16000) * (1 + rng.gauss(0, 0.015))
            ms *= 3.0 if it == 10 else 1.08 if it <= 50 else 1.04 if it % 400 == 10 else 1.0
            ms *= 1.3 if rng.random() < 0.01 else 1.0
            line = MS.sub(f"elapsed time per iteration (ms): {ms:.1f}", line)
            real += round(ms, 1) * 10 / 1000
        out.append(line)
    return out, real


# ---------------------------------------------------------------- projection of a healthy replay


def test_a_healthy_distillation_is_projected_within_5_percent_after_5_percent_of_its_iterations(tmp_path):
    run = make_run(tmp_path)
    lines, real_s = healthy_log()
    log = run / "distill" / "step.log"
    at_5pct = int(0.05 * 16000)
    reached, resume = threading.Event(), threading.Event()

    def writer():  # the runner's tee, compressed in time: a few lines at a time
        with log.open("a") as f:
            for n, line in enumerate(lines):
                f.write(line + "\n")
                if n % 25 == 0:
                    f.flush()
                    time.sleep(0.002)
                if f" iteration {at_5pct:8d}/" in line:
                    f.flush()
                    reached.set()
                    resume.wait(30)

    w = watch.Watcher(run, "distill", policy=FULL, goldens=EXPECTED)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    seen, early = set(), None
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            st = w.update()
        except watch.NoLog:
            continue
        seen.add(st.iteration)
        if early is None and reached.is_set():
            st = w.update()  # everything up to the pause is on disk now
            early = st
            resume.set()
        if st.state != "running":
            break
        time.sleep(0.005)
    t.join(5)
    assert early is not None and early.iteration == at_5pct and early.state == "running" and early.stop is None
    assert len(seen) > 5  # it was judged while it grew, not once at the end
    projected_s = early.projection.step_s
    error = projected_s / real_s - 1
    print(f"\nhealthy replay: after {early.iteration} of 16000 iterations (5 %) projected {projected_s / 3600:.3f} h "
          f"± {early.projection.halfwidth_s / 3600:.3f} h ({early.projection.ms_per_iter:.1f} ms/iteration, "
          f"{early.projection.intervals} intervals); real duration {real_s / 3600:.3f} h (log clock); error {error:+.2%}")
    assert abs(error) < 0.05
    # not one lucky seed: the same noise model, 20 seeds, the projection after 5 % from the same function
    errors = []
    for seed in range(20):
        other, real = healthy_log(seed)
        upto = next(i for i, l in enumerate(other) if f" iteration {at_5pct:8d}/" in l)
        rec = distill.parse_log("\n".join(other[:upto + 1]))
        errors.append(watch.project(rec.iterations, rec.train_iters).step_s / real - 1)
    print(f"20 seeds: projection error after 5 % from {min(errors):+.2%} to {max(errors):+.2%}")
    assert max(abs(e) for e in errors) < 0.05
    assert early.gpu_hours == pytest.approx(768 * projected_s / 3600)
    assert early.expected.step_s == pytest.approx(12 * 3600) and "minutes_per_1k_iters" in early.expected.source
    # after the pause: the rest of the run, then the final verdict as `checks verify` gives it
    assert st.state == "finished" and st.iteration == 16000 and watch.exit_code_of(st) == 0, [
        (f.id, f.status, f.note) for f in st.findings if f.status != "PASS"]
    assert st.projection.step_s == pytest.approx(real_s, rel=1e-6)  # at the end the projection is the real duration
    ids = {f.id for f in st.findings}
    assert {"settings_echoed_match_command", "lr_follows_its_schedule", "nan_iterations", "checkpoints_saved",
            "minutes_per_1k_iters", "projected_step_hours"} <= ids


def test_real_megatron_bridge_lines_are_followed_as_they_are_appended(tmp_path):
    """Three real Megatron-Bridge lines (issue #4024), appended one by one, the last one in two writes."""
    run = make_run(tmp_path, command=False)
    real = REAL.read_text().splitlines()
    log = run / "distill" / "step.log"
    w = watch.Watcher(run, "distill", goldens=None)
    log.write_text(real[0] + "\n")
    st = w.update()
    assert st.iteration == 29 and st.train_iters == 6069 and st.projection.ms_per_iter is None  # first interval: start-up
    log.write_text(real[0] + "\n" + real[1] + "\n" + real[2][:120])  # a line being written is not read yet
    st = w.update()
    assert st.iteration == 30 and st.projection.ms_per_iter == pytest.approx(29511.9)
    with log.open("a") as f:
        f.write(real[2][120:] + "\n")
    st = w.update()
    p = st.projection
    assert st.iteration == 31 and p.intervals == 2 and p.ms_per_iter == pytest.approx((29511.9 + 29793.2) / 2)
    assert p.elapsed_s == pytest.approx(26.8130 + 29.5119 + 29.7932)
    assert p.step_s == pytest.approx(p.elapsed_s + (6069 - 31) * p.ms_per_iter / 1000)
    assert st.loss["name"] == "lm loss" and st.loss["last"] == pytest.approx(0.8641004)
    log.write_text(real[0] + "\n")  # the log was replaced (a new attempt): read again from its start
    assert w.update().iteration == 29


# ---------------------------------------------------------------- off track, through make and the doubles


def _started(tmp: Path) -> Path:
    """The stamps distill needs (the doubles' distillation does not read what prune and data wrote)."""
    run = tmp / "runs" / "e2e"
    for s in ("prune", "data"):
        (run / s).mkdir(parents=True, exist_ok=True)
        (run / s / ".done").write_text(json.dumps({"unit": s, "outputs": {}}))
    return run


WATCH_ENV = {"PREFLIGHT_SKIP": "engine,disk", "KIT_WATCH_EVERY_S": "0.1", "DOUBLE_SLEEP": "0"}
SLACK = 250  # iterations the double prints between two updates (500 per second, an update every 0.1 s) and some


def _last_iteration(text: str) -> int:
    return max(int(m.group(1)) for m in ITER.finditer(text))


@pytest.mark.parametrize("fault,env,gate,needle", [
    ("slow", {"DOUBLE_DISTILL_MS": "3500"}, FULL.gate(16000), "[kit] watch: stopping: projected 15."),
    ("nan", {"DOUBLE_NAN_AT": "300"}, 300, "[kit] watch: stopping: NaN at iteration 300: number of nan iterations 1"),
])
@pytest.mark.slow
def test_an_off_track_distillation_is_stopped_within_the_policy_window_local_runner(tmp_path, fault, env, gate, needle):
    run = _started(tmp_path)
    p = make(tmp_path, "distill", WATCH="1", NODES="", env_extra={**WATCH_ENV, "DOUBLE_LINE_SLEEP": "0.02", **env})
    sdir = run / "distill"
    log = (sdir / "step.log").read_text()
    meta = json.loads((sdir / "step.json").read_text())
    assert p.returncode != 0 and not (sdir / ".done").exists(), p.stdout[-2000:]
    assert needle in log, log[-2000:]
    at = meta["watch"]["at_iteration"]
    print(f"\n{fault}: stopped at iteration {at} (window: from iteration {gate}, one update = 0.1 s); "
          f"{meta['watch']['stopped']}")
    assert gate <= at <= gate + SLACK
    assert _last_iteration(log) < gate + 2 * SLACK  # the step ended there, it did not run on to 16000
    assert meta["exit_code"] not in (0, None) and "Distillation done" not in log
    if fault == "slow":
        assert "> 14.40 h allowed (12.00 h expected + 20%)" in log
        assert meta["watch"]["last"]["overrun_pct"] == pytest.approx(29.6, abs=0.5)
        # make plan: what is left of the started step at its measured speed, beside the estimate
        plan = make(tmp_path, "plan", NODES="")
        assert plan.returncode == 0, plan.stderr
        line = next(l for l in plan.stdout.splitlines() if l.startswith("   measured:"))
        assert "3.50 s/iteration" in line and "on 768 GPUs" in line and "estimate for the whole step: 9,216.0" in line
        left = float(re.search(r": ([\d,.]+) ± [\d,.]+ GPU-h still to run", line).group(1).replace(",", ""))
        assert left == pytest.approx(768 * (16000 - _last_iteration(log)) * 3.5 / 3600, rel=0.01)
        assert "at the measured speed of the started step" in plan.stdout
    else:
        # the attempt is kept: the next `make distill` moves it to attempts/1 and runs again
        again = make(tmp_path, "distill", NODES="", env_extra={"PREFLIGHT_SKIP": "engine,disk", "DOUBLE_SLEEP": "0"})
        assert again.returncode == 0 and (sdir / ".done").exists(), again.stdout[-2000:]
        kept = sdir / "attempts" / "1"
        assert needle in (kept / "step.log").read_text()
        assert json.loads((kept / "step.json").read_text())["exit_code"] not in (0, None)


@pytest.mark.slow
def test_a_healthy_distillation_with_watch_finishes_and_is_stamped(tmp_path):
    run = _started(tmp_path)
    p = make(tmp_path, "distill", WATCH="1", NODES="", env_extra={**WATCH_ENV, "DOUBLE_LINE_SLEEP": "0.001"})
    sdir = run / "distill"
    assert p.returncode == 0 and (sdir / ".done").exists(), p.stdout[-3000:] + p.stderr[-2000:]
    log = (sdir / "step.log").read_text()
    meta = json.loads((sdir / "step.json").read_text())
    assert "[kit] watch: stopping" not in log and "[kit] watch: last update: " in log
    assert meta["watch"]["stopped"] is None and meta["watch"]["last"]["summary"]["FAIL"] == 0
    assert meta["watch"]["last"]["iteration"] > 0 and meta["exit_code"] == 0


@pytest.mark.slow
def test_the_slurm_runner_stops_the_job_with_scancel(tmp_path):
    """The stand-in Slurm runs the job detached from the submitter (as a cluster does): only scancel ends it."""
    state = tmp_path / "slurm-state"
    state.mkdir()
    env = {"PATH": f"{STANDIN_SLURM}:{DOUBLES}:{sys.executable.rsplit('/', 1)[0]}:{os.environ['PATH']}",
           "STANDIN_STATE": str(state), "MODELOPT_DIR": str(tmp_path / "modelopt"), "PREFLIGHT_SKIP": "disk,inputs",
           "KIT_WATCH_EVERY_S": "0.2", "DOUBLE_LINE_SLEEP": "0.05", "DOUBLE_SLEEP": "0", "DOUBLE_DISTILL_MS": "3500"}
    try:
        p = kit(tmp_path, "--watch", "step", "distill", runner="slurm", env_extra=env)
        sdir = tmp_path / "runs" / "slurm" / "distill"
        meta = json.loads((sdir / "step.json").read_text())
        job = meta["slurm_job_id"]
        assert p.returncode == 1 and not (sdir / ".done").exists(), p.stdout[-2000:] + p.stderr[-2000:]
        assert (state / "scancel.log").read_text().split("\n")[0] == f"scancel {job}"
        log = (sdir / "step.log").read_text()
        assert "[kit] watch: stopping: projected 15." in log and meta["exit_code"] not in (0, None)
        at = meta["watch"]["at_iteration"]
        print(f"\nslurm: scancel {job}; stopped at iteration {at} (window: from iteration {FULL.gate(16000)}, "
              "plus the runner's 1 s follow of the job's output)")
        # the runner follows the job's output once a second: one update may come up to ~200 iterations late
        assert FULL.gate(16000) <= at <= FULL.gate(16000) + 300
        job_log = sdir / f"job-{job}.log"
        size = job_log.stat().st_size
        time.sleep(0.6)
        assert job_log.stat().st_size == size  # the job is gone: nothing writes its output any more
    finally:
        for f in state.glob("*.pgid"):
            try:
                os.killpg(int(f.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------- the command: status file, lines, views


def _replayer(log: Path, lines: list[str], per_update: int):
    """A `sleep` for watch.follow that appends the next lines to the log instead of sleeping."""
    state = {"n": 0}

    def step(_seconds):
        with log.open("a") as f:
            f.write("".join(x + "\n" for x in lines[state["n"]:state["n"] + per_update]))
        state["n"] += per_update
    return step


def test_the_status_file_holds_what_a_scheduler_needs_at_each_update(tmp_path):
    run = make_run(tmp_path)
    lines, _ = healthy_log()
    log, status = run / "distill" / "step.log", tmp_path / "status.json"
    snapshots = []
    replay = _replayer(log, lines, 400)

    def sleep(s):
        snapshots.append(json.loads(status.read_text()))
        replay(s)

    buf = io.StringIO()
    w = watch.Watcher(run, "distill", policy=FULL, goldens=EXPECTED)
    code = watch.follow(w, Console(file=buf, width=400), every_s=0, status_file=status, sleep=sleep)
    final = json.loads(status.read_text())
    assert code == 0 and final["state"] == "finished" and final["stop"] is None
    assert snapshots[0]["state"] == "waiting"
    mid = next(s for s in snapshots if s["state"] == "running" and s["iteration"] and s["iteration"] > 1000)
    for key in ("step", "iteration", "train_iters", "ms_per_iter", "ms_per_iter_pm", "projected_end",
                "projected_step_hours", "projected_step_hours_pm", "projected_gpu_hours", "projected_gpu_hours_pm",
                "expected_step_hours", "projected_run_gpu_hours", "findings", "stop", "world_size"):
        assert key in mid, key
    assert mid["step"] == "distill" and mid["train_iters"] == 16000 and mid["world_size"] == 768
    assert 2600 < mid["ms_per_iter"] < 2900 and 0 < mid["ms_per_iter_pm"] < 50
    assert mid["projected_gpu_hours"] == pytest.approx(768 * mid["projected_step_hours"], rel=1e-3)
    assert mid["projected_gpu_hours_pm"] == pytest.approx(768 * mid["projected_step_hours_pm"], rel=0.05)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", mid["projected_end"])
    assert {f["id"]: f["status"] for f in mid["findings"]}["nan_iterations"] == "PASS"
    assert mid["stop"] is None and mid["summary"]["FAIL"] == 0
    # one plain line per update that saw the log grow (stdout is no terminal here)
    out = buf.getvalue().splitlines()
    assert len(out) == len(snapshots) + 1 and all(re.match(r"^\[\d{4}-.*Z\] distill: ", l) for l in out)
    assert "waiting for distill/step.log" in out[0] and out[-1].endswith("finished")


@pytest.mark.slow
def test_a_nan_or_a_wrong_setting_is_a_stop_in_the_status_and_exit_1(tmp_path):
    run = make_run(tmp_path)
    lines, _ = healthy_log()
    log = run / "distill" / "step.log"
    upto = next(i for i, l in enumerate(lines) if " iteration      400/" in l)
    nan = [l.replace("number of nan iterations:   0 |", "number of nan iterations:   1 |") if " iteration      300/" in l
           else l for l in lines[:upto]]
    log.write_text("\n".join(nan) + "\n")
    p = _checks("watch", str(run), "--once", "--status", str(tmp_path / "s.json"))
    doc = json.loads((tmp_path / "s.json").read_text())
    assert p.returncode == 1 and doc["state"] == "stopped" and doc["stop"].startswith("NaN at iteration 300")
    assert "STOP: NaN at iteration 300" in p.stdout and "Traceback" not in p.stderr
    wrong = [l.replace(f"{'mbs':<35} 4", f"{'mbs':<35} 2") for l in lines[:upto]]
    log.write_text("\n".join(wrong) + "\n")
    p = _checks("watch", str(run), "--once", "--status", str(tmp_path / "s.json"))
    doc = json.loads((tmp_path / "s.json").read_text())
    assert p.returncode == 1 and doc["stop"].startswith("check distill.settings_echoed_match_command failed")
    assert {f["id"]: f["status"] for f in doc["findings"]}["settings_echoed_match_command"] == "FAIL"
    log.write_text("\n".join(lines[:upto]) + "\n")
    p = _checks("watch", str(run), "--once")
    assert p.returncode == 0 and "iteration 390/16000" in p.stdout, p.stdout + p.stderr


def test_the_live_view_renders_on_a_terminal(tmp_path):
    run = make_run(tmp_path)
    lines, _ = healthy_log()
    (run / "distill" / "step.log").write_text("\n".join(lines[:60]) + "\n")
    buf = io.StringIO()
    w = watch.Watcher(run, "distill", policy=FULL, goldens=EXPECTED)
    console = Console(file=buf, force_terminal=True, width=160)
    code = watch.follow(w, console, every_s=0, sleep=_replayer(run / "distill" / "step.log", lines[60:], 5000))
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", buf.getvalue())
    assert code == 0
    for needle in ("ms / iteration", "step time", "GPU-hours", "projected_step_hours", "16,000 / 16,000"):
        assert needle in text, needle


def test_bench_memory_at_load_is_judged_before_the_throughput(tmp_path):
    run = make_run(tmp_path)
    d = run / "bench" / "7b-bf16"
    d.mkdir(parents=True)
    head = T.bench_log(13.1, 963).split("\n")[:3]  # up to "Model loading took": the bench is still running
    (d / "step.log").write_text("\n".join(head) + "\n")
    st = watch.Watcher(run, "bench/7b-bf16", goldens=EXPECTED).update()
    f = {f.id: f for f in st.findings}["7b-bf16_model_loading_gib"]
    assert st.state == "running" and f.status == "PASS" and f.measured == pytest.approx(13.1) and st.stop is None
    (d / "step.log").write_text("\n".join(T.bench_log(16.6, 963).split("\n")[:3]) + "\n")
    st = watch.Watcher(run, "bench/7b-bf16", goldens=EXPECTED).update()
    assert st.stop and st.stop.startswith("check bench.7b-bf16_model_loading_gib failed") and watch.exit_code_of(st) == 1


# ---------------------------------------------------------------- bad input, policy schema


def _checks(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_bad_input_exits_2_without_a_traceback(tmp_path):
    p = _checks("watch", str(tmp_path / "nope"), "--once")
    assert p.returncode == 2 and "no such directory" in p.stderr and "Traceback" not in p.stderr
    run = make_run(tmp_path)
    p = _checks("watch", str(run), "--once")
    assert p.returncode == 2 and "no log yet" in p.stderr and "Traceback" not in p.stderr
    p = _checks("watch", str(run), "--step", "prune", "--once")
    assert p.returncode == 2 and "nothing to watch live in step 'prune'" in p.stderr
    bad = tmp_path / "policy.yaml"
    bad.write_text("stop_on_nan: true\nmax_projected_overrun: 20\n")
    p = _checks("watch", str(run), "--policy", str(bad), "--once")
    assert p.returncode == 2 and f"{bad}:2" in p.stderr and "did you mean 'max_projected_overrun_pct'" in p.stderr
    assert "Traceback" not in p.stderr


def test_without_once_it_waits_for_the_log(tmp_path):
    run = make_run(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "checks", "watch", str(run), "--every", "0.05"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert "waiting for distill/step.log" in first
    lines, _ = healthy_log()
    (run / "distill" / "step.log").write_text("\n".join(lines) + "\n")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip().splitlines()[-1].endswith("finished"), out + err


@pytest.mark.parametrize("text,needle,line", [
    ("every_s: 30\nafter_iteration: 200\n", "did you mean 'after_iterations'", 2),
    ("stop_on_nan: 1\n", "`stop_on_nan` in t must be bool", 1),
    ("after_iterations: 1.5\n", "out of range", 1),
    ("loss_window: 1\n", "out of range", 1),
    ("confidence: 1.0\n", "out of range", 1),
    ("max_projected_overrun_pct: -5\n", "out of range", 1),
])
def test_the_policy_is_validated_strictly(text, needle, line):
    with pytest.raises(CheckError) as e:
        watch.policy_from(loads(text, "p.yaml"), "p.yaml", "t")
    assert needle in e.value.render() and e.value.where == f"p.yaml:{line}"


def test_the_profiles_policies_say_what_the_issue_asks():
    full, tiny = FULL, watch.profile_policy(watch.read_profile("tiny"))
    assert full.max_projected_overrun_pct == 20 and full.gate(16000) == 200 and full.stop_on_nan and full.stop_on_failed_check
    assert full.loss_window >= 2 and tiny.gate(40) == 10 and tiny.max_projected_overrun_pct is None
    assert watch.policy_from(loads("after_iterations: 0.05\n", "p.yaml"), "p.yaml").gate(16000) == 800
    sys.path.insert(0, str(ROOT / "scripts"))
    from kitlib import profile

    for name in ("full", "tiny", "prune-quant-bench"):
        profile.read(name)  # the profile loader validates `watch:` with the same schema
