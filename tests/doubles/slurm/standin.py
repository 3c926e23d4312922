#!/usr/bin/env python3
"""Stand-ins for sbatch, srun, scontrol and scancel, for tests on machines without a Slurm cluster. They do
what the kit depends on as Slurm does: sbatch writes the job's stdout and stderr to its --output file itself
(the file the kit never sees through its redacting tee), --parsable prints the job id, --wait blocks."""

import os
import re
import subprocess
import sys
from pathlib import Path


def sbatch(argv):
    script = Path(argv[-1])
    text = script.read_text()
    out = re.search(r"^#SBATCH --output=(\S+)$", text, re.M).group(1)
    job = str(4200 + len(list(script.parent.glob("slurm-*.out"))))
    env = {**os.environ, "SLURM_JOB_ID": job, "SLURM_JOB_NODELIST": "node1", "SLURM_NNODES": "1"}
    print(job, flush=True)
    state = os.environ.get("STANDIN_STATE")  # set: the job runs detached, as on a cluster, until it ends or scancel
    with open(out.replace("%j", job), "ab") as f:
        p = subprocess.Popen(["bash", str(script)], stdout=f, stderr=subprocess.STDOUT, env=env,
                             start_new_session=bool(state))
    if state:
        Path(state, f"{job}.pgid").write_text(str(p.pid))
    return p.wait() if "--wait" in argv else 0


def srun(argv):
    rest = [a for a in argv if not a.startswith("--")]
    os.execvp(rest[0], rest)


def scontrol(argv):
    print("node1")
    return 0


def scancel(argv):
    state = os.environ.get("STANDIN_STATE")
    if state:  # record the call, and end the job's processes as slurmctld would
        import signal

        with open(Path(state, "scancel.log"), "a") as f:
            f.write(" ".join(["scancel", *argv]) + "\n")
        for job in (a for a in argv if not a.startswith("-")):
            pgid = Path(state, f"{job}.pgid")
            if pgid.exists():
                try:
                    os.killpg(int(pgid.read_text()), signal.SIGTERM)
                except ProcessLookupError:
                    pass
    return 0


if __name__ == "__main__":
    sys.exit({"sbatch": sbatch, "srun": srun, "scontrol": scontrol, "scancel": scancel}[Path(sys.argv[0]).name](sys.argv[1:]))
