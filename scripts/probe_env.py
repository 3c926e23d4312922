"""Print, as JSON, the versions and GPUs a step runs with. Standard library only: runs in any image."""

import json
import shutil
import socket
import subprocess
from importlib import metadata

DISTS = {"modelopt": "nvidia-modelopt", "megatron_bridge": "megatron-bridge", "megatron_core": "megatron-core",
         "nemo_evaluator_launcher": "nemo-evaluator-launcher", "torch": "torch", "transformers": "transformers"}
CHECKOUTS = {"modelopt_git": "/opt/Model-Optimizer", "megatron_bridge_git": "/opt/Megatron-Bridge"}


def run(*argv: str) -> str | None:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return p.stdout.strip() if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def main() -> None:
    versions = {}
    for key, dist in DISTS.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = None
    for key, path in CHECKOUTS.items():
        versions[key] = run("git", "-C", path, "describe", "--tags", "--always", "--dirty")
        versions[key + "_sha"] = run("git", "-C", path, "rev-parse", "HEAD")
    vllm = shutil.which("vllm") or "/opt/vllm/bin/vllm"
    versions["vllm"] = run(vllm, "--version")
    gpu = None
    out = run("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits")
    if out:
        rows = [r.split(", ") for r in out.splitlines() if r.strip()]
        gpu = {"model": rows[0][0], "count": len(rows), "driver": rows[0][1] if len(rows[0]) > 1 else None,
               "memory_mib": rows[0][2] if len(rows[0]) > 2 else None}
    print(json.dumps({"host": socket.gethostname(), "versions": versions, "gpu": gpu}))


if __name__ == "__main__":
    main()
