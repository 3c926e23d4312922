#!/usr/bin/env python3
"""`make regress`: the baseline run's Model-Optimizer checkout, for the gate's changed-defaults check.

    python3 scripts/baseline_checkout.py BASELINE_RUN OUT_DIR [CHECKOUT]

Prints the directory to compare against (OUT_DIR/Model-Optimizer: the checkout's examples/*.py and .kit-ref,
copied so that the gate reads it wherever it runs, in the image too), or `SKIP:<why>` when it cannot be had.
Where the checkout comes from, in order: CHECKOUT (BASELINE_MODELOPT_DIR); the path the baseline's manifest
records (`checkouts.modelopt`, RUNNER=local); the baseline's image (`image.name`, RUNNER=docker or slurm:
`docker create` + `docker cp`, nothing runs). Exit 2 only for a baseline that is not a run directory."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

IMAGE_CHECKOUT = "/opt/Model-Optimizer"


def _copy_tree(src: Path, dst: Path) -> None:
    for f in sorted((src / "examples").rglob("*.py")) if (src / "examples").is_dir() else []:
        if f.is_file():
            out = dst / f.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, out)
    if (src / ".kit-ref").is_file():
        shutil.copyfile(src / ".kit-ref", dst / ".kit-ref")


def _from_image(image: str, dst: Path) -> str | None:
    """None when copied; else why not."""
    if not shutil.which("docker"):
        return f"the baseline ran in image {image}, and there is no docker CLI here to copy its checkout out of it"
    p = subprocess.run(["docker", "create", image], capture_output=True, text=True)
    if p.returncode != 0:
        return f"docker create {image} failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}"
    cid = p.stdout.strip()
    try:
        tmp = dst.parent / "image-copy"
        tmp.mkdir(parents=True, exist_ok=True)
        for rel in ("examples", ".kit-ref"):
            q = subprocess.run(["docker", "cp", f"{cid}:{IMAGE_CHECKOUT}/{rel}", str(tmp / rel)], capture_output=True, text=True)
            if q.returncode != 0 and rel == "examples":
                return f"docker cp {IMAGE_CHECKOUT}/examples out of {image} failed: {q.stderr.strip()[-200:]}"
        _copy_tree(tmp, dst)
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    return None


def _manifest(base: Path) -> dict | None:
    try:
        m = json.loads((base / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def _fill(m: dict, base: Path, dst: Path, given: Path | None, ran: str) -> str | None:
    """Copy the baseline's checkout into dst; None when done, else why it could not be."""
    recorded = m.get("checkouts", {}).get("modelopt") if isinstance(m.get("checkouts"), dict) else None
    image = m.get("image", {}).get("name") if isinstance(m.get("image"), dict) else None
    src = given or (Path(recorded) if m.get("runner") == "local" and recorded else None)
    if src is not None:
        if not (src / "examples").is_dir():
            return (f"the baseline's Model-Optimizer checkout {src} ({'BASELINE_MODELOPT_DIR' if given else 'its manifest'})"
                    " has no examples/ here")
        _copy_tree(src, dst)
        return None
    if image:
        why = _from_image(image, dst)
        return f"{why}; pass BASELINE_MODELOPT_DIR=<a checkout of Model-Optimizer {ran}>" if why else None
    return (f"{base}'s manifest names neither a checkout (RUNNER=local) nor an image: pass "
            f"BASELINE_MODELOPT_DIR=<a checkout of Model-Optimizer {ran}>")


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    base, out = Path(argv[0]), Path(argv[1])
    m = _manifest(base)
    if m is None:
        print(f"baseline_checkout: {base} has no readable manifest.json: not a run directory", file=sys.stderr)
        return 2
    ran = (m.get("versions") if isinstance(m.get("versions"), dict) else {}).get("modelopt") or "?"
    given = Path(argv[2]) if len(argv) == 3 and argv[2] else None
    dst = out / "Model-Optimizer"
    shutil.rmtree(out, ignore_errors=True)
    dst.mkdir(parents=True)
    why = _fill(m, base, dst, given, ran)
    kit_ref = (dst / ".kit-ref").read_text().split()[0] if why is None and (dst / ".kit-ref").is_file() else None
    if kit_ref and ran != "?" and kit_ref.lstrip("v") != ran and not given:
        why = (f"the baseline ran Model-Optimizer {ran}, but the checkout it names now holds {kit_ref} (.kit-ref): "
               f"pass BASELINE_MODELOPT_DIR=<a checkout of {ran}>")
    print(f"SKIP:{why}" if why else dst.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
