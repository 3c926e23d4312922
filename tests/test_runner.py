"""The runner against hostile states: concurrent makes, killed kits, stale kept copies, deleted outputs, early
exits, bad variables, and secrets in every file on every runner (a stand-in Slurm where no real one runs)."""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kit_env import DOUBLES, ROOT, SECRET, calls, kit, make, make_command

STANDIN_SLURM = ROOT / "tests" / "doubles" / "slurm"


@pytest.mark.slow
def test_two_makes_on_one_run_cannot_run_a_step_at_once(tmp_path):
    run = tmp_path / "runs" / "local"
    run.mkdir(parents=True)
    with open(run / ".lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("step distill by pid 4242 on node7 since 2026-11-24T10:00:00Z\n")
        f.flush()
        p = kit(tmp_path, "step", "data")
    assert p.returncode == 2 and "run local is busy: step distill by pid 4242 on node7" in p.stderr
    assert calls(tmp_path) == [] and not (run / "data" / "step.log").exists()
    assert kit(tmp_path, "step", "data").returncode == 0  # released: the next one runs


@pytest.mark.slow
def test_a_kept_copy_from_an_earlier_attempt_is_never_restored_into_a_new_one(tmp_path):
    p = make(tmp_path, "prune", "data")
    assert p.returncode == 0, p.stderr[-2000:]
    run = tmp_path / "runs" / "e2e"
    stale = run / "distill" / "output" / "kept" / "iter_0012800"
    stale.mkdir(parents=True)
    (stale / "weights-of-the-killed-run").write_text("stale")
    (run / "distill" / "step.log").write_text("attempt 1, killed\n")
    p = make(tmp_path, "distill")
    assert p.returncode == 0, p.stdout[-3000:]
    fresh = run / "distill" / "output" / "checkpoints" / "iter_0012800"
    assert fresh.is_dir() and not (fresh / "weights-of-the-killed-run").exists()
    moved = run / "distill" / "attempts" / "1" / "kept-from-earlier-attempt" / "iter_0012800" / "weights-of-the-killed-run"
    assert moved.exists()
    assert "is not restored into this attempt" in (run / "distill" / "step.log").read_text()


@pytest.mark.slow
def test_the_stamp_vouches_for_outputs_and_a_later_step_stops_when_they_are_gone(tmp_path):
    assert make(tmp_path, "prune", "data").returncode == 0
    stamp = json.loads((tmp_path / "runs" / "e2e" / "prune" / ".done").read_text())
    hf = str(tmp_path / "runs" / "e2e" / "prune" / "hf")
    assert stamp["unit"] == "prune" and stamp["outputs"][hf] > 0
    import shutil

    shutil.rmtree(hf)
    before = calls(tmp_path)
    p = make(tmp_path, "distill")
    assert p.returncode != 0 and f"{hf} is gone" in p.stderr and "delete" in p.stderr and "prune/.done" in p.stderr
    assert calls(tmp_path) == before  # nothing launched on missing inputs


@pytest.mark.slow
def test_a_distillation_that_exits_0_before_its_last_iteration_is_not_stamped(tmp_path):
    assert make(tmp_path, "prune", "data").returncode == 0
    p = make(tmp_path, "distill", env_extra={"DOUBLE_DISTILL_STOP_AT": "8000"})
    run = tmp_path / "runs" / "e2e"
    assert p.returncode != 0 and not (run / "distill" / ".done").exists()
    log = (run / "distill" / "step.log").read_text()
    assert "exited 0 but did not finish: completed is False" in log or "last_iteration is 8000" in log
    assert json.loads((run / "distill" / "step.json").read_text())["exit_code"] == 3


@pytest.mark.slow
def test_killing_the_kit_kills_its_gpu_sampler_and_its_step(tmp_path):
    pids = tmp_path / "smi.pids"
    args, env = make_command(tmp_path, "distill", env_extra={"DOUBLE_SMI_PIDS": str(pids), "DOUBLE_SLEEP": "0.5"},
                             RUNNER="local")
    assert make(tmp_path, "prune", "data").returncode == 0
    kit_argv = [sys.executable, "scripts/kit.py", "--run-dir", str(tmp_path / "runs" / "e2e"), "--runner", "local",
                "--modelopt-dir", str(tmp_path / "modelopt"), "--data-root", str(tmp_path / "data"),
                "--hf-home", str(tmp_path / "hf"), "--nodes", "1", "step", "distill", "--no-preflight"]
    proc = subprocess.Popen(kit_argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "runs" / "e2e" / "distill" / "step.log"
    deadline = time.time() + 60
    while time.time() < deadline and not (pids.exists() and log.exists() and "iteration" in log.read_text()):
        time.sleep(0.1)
    smi = int(pids.read_text().split()[0])
    proc.send_signal(signal.SIGKILL)  # no handler, no finally: only the kernel can clean up
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and _alive(smi):
        time.sleep(0.1)
    assert not _alive(smi), "nvidia-smi sampler outlived the kit"
    size = log.stat().st_size
    time.sleep(1.5)
    assert log.stat().st_size == size  # the step is gone too: nothing writes its log any more


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


@pytest.mark.parametrize("variables,needle", [
    ({"NODES": "-1"}, "NODES=-1 is not a positive integer"),
    ({"NODES": "two"}, "NODES=two is not a positive integer"),
    ({"GPUS_PER_NODE": "0"}, "GPUS_PER_NODE=0 is not a positive integer"),
    ({"RUN": ".."}, "RUN='..' is not a usable run id"),
    ({"RUN": "a b"}, "RUN='a b' is not a usable run id"),
    ({"RUN": ""}, "is not a usable run id"),
    ({"RUNNER": "kubernetes"}, "RUNNER=kubernetes is unknown"),
])
def test_bad_variables_are_named(tmp_path, variables, needle):
    p = make(tmp_path, "plan", **variables)
    assert p.returncode != 0 and needle in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "GPU-h" not in p.stdout  # no plan (with negative GPU-hours) is printed


def test_gpus_per_node_reaches_the_launcher(tmp_path):
    p = kit(tmp_path, "--nodes", "1", "--gpus-per-node", "4", "render", "distill")
    assert p.returncode == 0, p.stderr
    assert "torchrun --nproc_per_node 4 /opt/Model-Optimizer/examples/megatron_bridge/distill.py" in p.stdout
    assert "[kit] launcher launcher-gpus-per-node: torchrun --nproc_per_node 8 -> 4" in p.stdout
    p = kit(tmp_path, "--gpus-per-node", "4", "render", "distill", runner="slurm")
    assert "torchrun --nnodes ${SLURM_NNODES} --nproc_per_node 4 --rdzv_backend c10d" in p.stdout


@pytest.mark.slow
def test_no_file_of_a_slurm_run_holds_a_secret_even_where_slurm_writes_it(tmp_path):
    """Slurm writes the job's output file itself, outside the kit's tee: the stand-in sbatch does the same."""
    env = {"PATH": f"{STANDIN_SLURM}:{DOUBLES}:{sys.executable.rsplit('/', 1)[0]}:{os.environ['PATH']}",
           "API_KEY": "sk-AlsoSecret99"}
    p = kit(tmp_path, "step", "data", runner="slurm", env_extra=env)
    sdir = tmp_path / "runs" / "slurm" / "data"
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    files = [f for f in (tmp_path / "runs").rglob("*") if f.is_file()]
    assert any(f.name.startswith("slurm-") for f in files) and any(f.name.startswith("job-") for f in files)
    leaked = [str(f) for f in files if SECRET in f.read_text(errors="replace") or "sk-AlsoSecret99" in f.read_text(errors="replace")]
    assert not leaked
    assert "HF_TOKEN=***" in (sdir / "step.log").read_text() and "Tokenized 1,234,567 tokens" in (sdir / "step.log").read_text()
    assert (sdir / ".done").exists()
