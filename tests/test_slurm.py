"""The Slurm runner against a real scheduler (a single-node cluster on localhost: .ci/slurm-up.sh)."""

import json
import os
import shutil
import subprocess

import pytest

from kit_env import SECRET, calls, kit


def slurm_up() -> bool:
    if not shutil.which("sbatch"):
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0


needs_slurm = pytest.mark.skipif(not slurm_up() and os.environ.get("KIT_REQUIRE_SLURM") != "1",
                                 reason="no Slurm cluster here (CI starts one with .ci/slurm-up.sh)")


@needs_slurm
def test_a_generated_job_runs_on_slurm_and_its_log_and_stamp_come_back(tmp_path):
    assert slurm_up(), "KIT_REQUIRE_SLURM=1 but no Slurm cluster answers (sinfo failed)"
    p = kit(tmp_path, "step", "data", runner="slurm")
    sdir = tmp_path / "runs" / "slurm" / "data"
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "[kit] submitted Slurm job" in p.stdout
    job = (sdir / "job.sbatch").read_text()
    assert "#SBATCH --nodes=1" in job and "--container-image" not in job and SECRET not in job
    assert "Tokenized 1,234,567 tokens" in (sdir / "step.log").read_text()
    assert (sdir / ".done").exists() and json.loads((sdir / "step.json").read_text())["exit_code"] == 0
    assert list(sdir.glob("slurm-*.out")) and calls(tmp_path).count("data") == 8
    m = json.loads((tmp_path / "runs" / "slurm" / "manifest.json").read_text())
    assert m["runner"] == "slurm" and m["steps"]["data"]["exit_code"] == 0


@needs_slurm
def test_a_failed_job_leaves_no_stamp(tmp_path):
    p = kit(tmp_path, "step", "data", runner="slurm", env_extra={"DOUBLE_FAIL_AT": "data"})
    sdir = tmp_path / "runs" / "slurm" / "data"
    assert p.returncode == 1 and not (sdir / ".done").exists()
    assert "injected failure" in (sdir / "step.log").read_text()
    assert json.loads((sdir / "step.json").read_text())["exit_code"] != 0


def test_multinode_distillation_uses_a_rendezvous(tmp_path):
    p = kit(tmp_path, "render", "distill", runner="slurm")
    assert p.returncode == 0
    assert ("torchrun --nnodes ${SLURM_NNODES} --nproc_per_node 8 --rdzv_backend c10d "
            "--rdzv_endpoint ${MASTER_ADDR}:29500 --rdzv_id ${SLURM_JOB_ID} ") in p.stdout
    assert "[kit] launcher launcher-multinode" in p.stdout
    p = kit(tmp_path, "--nodes", "1", "render", "distill", runner="slurm")
    assert "torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/distill.py" in p.stdout
