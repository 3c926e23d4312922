"""Run inside the image (`make image-check`): versions, the Model-Optimizer ref, the script paths the
recipes use after errata, and vLLM importing from its own venv. Exit 1 when anything is off."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib import metadata


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--modelopt-ref", required=True)
    p.add_argument("--launcher-version", required=True)
    p.add_argument("--vllm-version", required=True)
    p.add_argument("--megatron-bridge-version", required=True)
    p.add_argument("--path", action="append", default=[], help="a file or directory the recipes use")
    a = p.parse_args()
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, ok, detail))

    ref_file = "/opt/Model-Optimizer/.kit-ref"
    ref = open(ref_file).read().split() if os.path.exists(ref_file) else []
    check("Model-Optimizer ref", bool(ref) and ref[0] == a.modelopt_ref,
          f"{' '.join(ref) or 'no ' + ref_file} (wanted {a.modelopt_ref})")
    try:
        import modelopt

        where = os.path.realpath(modelopt.__file__)
        check("import modelopt", where.startswith("/opt/Model-Optimizer/"), f"{where} ({metadata.version('nvidia-modelopt')})")
    except Exception as e:  # noqa: BLE001 - any import failure is the finding
        check("import modelopt", False, repr(e))
    try:
        v = metadata.version("nemo-evaluator-launcher")
        check("nemo-evaluator-launcher", v == a.launcher_version, f"{v} (wanted {a.launcher_version})")
    except metadata.PackageNotFoundError:
        check("nemo-evaluator-launcher", False, "not installed")
    try:
        v = metadata.version("megatron-bridge")
        # the errata are chosen by this version (versions.env MEGATRON_BRIDGE_VERSION); the base image decides it
        check("megatron-bridge (base image)", v.split("+")[0].startswith(a.megatron_bridge_version),
              f"{v} (versions.env says {a.megatron_bridge_version})")
    except metadata.PackageNotFoundError:
        check("megatron-bridge (base image)", False, "not installed")
    out = subprocess.run(["/opt/vllm/bin/python", "-c", "import vllm, torch; print(vllm.__version__, vllm.__file__, torch.__version__)"],
                         capture_output=True, text=True)
    parts = out.stdout.split()
    check("vLLM in /opt/vllm", out.returncode == 0 and parts[:1] == [a.vllm_version] and parts[1].startswith("/opt/vllm/"),
          out.stdout.strip() or out.stderr.strip()[-300:])
    try:
        import torch

        check("image torch untouched by vLLM", True, f"{torch.__version__} at {os.path.dirname(torch.__file__)}")
    except Exception as e:  # noqa: BLE001
        check("image torch untouched by vLLM", False, repr(e))
    for path in a.path:
        check(f"exists: {path}", os.path.exists(path), "")
    width = max(len(r[0]) for r in results)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name:<{width}}  {detail}")
    print(json.dumps({"image_check": all(ok for _, ok, _ in results)}))
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
