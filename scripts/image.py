#!/usr/bin/env python3
"""`make image`, `make lock`, `make image-check`: build the pinned image, pin its base by digest,
and check it from inside. Pins come from versions.env; a base digest from image.lock when present."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checks import registry  # noqa: E402
from kitlib import profile  # noqa: E402
from kitlib.preflight import docker_problems  # noqa: E402
from kitlib.render import render  # noqa: E402
from kitlib.versions import component_versions, pins  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "image.lock"


def base_digest() -> str | None:
    if LOCK.exists():
        m = re.search(r"^BASE_DIGEST=(sha256:[0-9a-f]{64})$", LOCK.read_text(), re.M)
        return m.group(1) if m else None
    return None


def build_argv(image: str, modelopt_ref: str) -> list[str]:
    p = pins()
    base = p["BASE_IMAGE"]
    digest = base_digest()
    args = {**{k: v for k, v in p.items() if k != "MODELOPT_REF"}, "MODELOPT_REF": modelopt_ref,
            "BASE_IMAGE": f"{base}@{digest}" if digest else base, "BASE_DIGEST": digest or "unpinned"}
    argv = ["docker", "build", "-f", "Containerfile", "-t", image]
    for k, v in args.items():
        argv += ["--build-arg", f"{k}={v}"]
    return argv + ["."]


def engine_or_exit(image: str | None = None) -> None:
    found = docker_problems(image)
    if found:
        print("image: cannot proceed:", *[f"  - {f}" for f in found], sep="\n", file=sys.stderr)
        sys.exit(2)


def nvcr_or_exit(base: str) -> None:
    p = subprocess.run(["docker", "manifest", "inspect", base], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"image: cannot read {base} from nvcr.io ({p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}).\n"
              "  what to do: `docker login nvcr.io` with username $oauthtoken and an NGC API key "
              "(https://ngc.nvidia.com/setup/api-key), then retry", file=sys.stderr)
        sys.exit(2)


def check_paths(modelopt_ref: str, modelopt_dir: str = "/opt/Model-Optimizer") -> list[str]:
    """The files the rendered recipes (errata applied for that ref) run, as seen inside the image."""
    ctx = profile.context(ROOT / "runs" / "image-check", ROOT / "data", modelopt_dir)
    versions = component_versions(modelopt_ref)
    paths = set()
    for u in profile.load("full", ctx):
        r = render(u, ctx, versions)
        paths |= set(re.findall(r"(/opt/[\w./-]+\.py)\b", r.command))
        paths |= {d["file"] for d in r.deviations if d.get("file")}
        if u.cwd:  # the working directory, or the files the step needs in it
            cwd = profile.expand(u.cwd, ctx)
            paths |= {f"{cwd}/{f}" for f in registry.get(u.step).kit.cwd_files} or {cwd}
    return sorted(p for p in paths if p.startswith("/opt/"))


def main() -> int:
    a = argparse.ArgumentParser(prog="image.py")
    sub = a.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--image", required=True)
    b.add_argument("--modelopt-ref", required=True)
    b.add_argument("--dry-run", action="store_true")
    sub.add_parser("lock")
    c = sub.add_parser("check")
    c.add_argument("--image", required=True)
    c.add_argument("--modelopt-ref", required=True)
    c.add_argument("--dry-run", action="store_true")
    args = a.parse_args()
    p = pins()
    if args.cmd == "build":
        argv = build_argv(args.image, args.modelopt_ref)
        if args.dry_run:
            print(" ".join(argv))
            return 0
        engine_or_exit()
        nvcr_or_exit(p["BASE_IMAGE"])
        return subprocess.call(argv, cwd=ROOT)
    if args.cmd == "lock":
        engine_or_exit()
        out = subprocess.run(["docker", "buildx", "imagetools", "inspect", p["BASE_IMAGE"], "--format", "{{json .Manifest.Digest}}"],
                             capture_output=True, text=True)
        m = re.search(r"sha256:[0-9a-f]{64}", out.stdout)
        if out.returncode != 0 or not m:
            nvcr_or_exit(p["BASE_IMAGE"])
            print(f"image: no digest for {p['BASE_IMAGE']}: {out.stderr.strip()}", file=sys.stderr)
            return 2
        LOCK.write_text(f"# written by `make lock`: the base image, pinned by digest\nBASE_IMAGE={p['BASE_IMAGE']}\nBASE_DIGEST={m.group(0)}\n")
        print(f"image.lock: {p['BASE_IMAGE']}@{m.group(0)}")
        return 0
    argv = ["docker", "run", "--rm", "-v", f"{ROOT}:{ROOT}", "-w", str(ROOT), args.image, "python3", "scripts/image_check.py",
            "--modelopt-ref", args.modelopt_ref, "--launcher-version", p["NEMO_EVALUATOR_LAUNCHER_VERSION"],
            "--vllm-version", p["VLLM_VERSION"], "--megatron-bridge-version", p["MEGATRON_BRIDGE_VERSION"],
            *[f"--path={x}" for x in check_paths(args.modelopt_ref)]]
    if args.dry_run:
        print(" ".join(argv))
        return 0
    engine_or_exit(args.image)
    return subprocess.call(argv)


def ref_or_exit(argv: list[str]) -> None:
    """`build` (and `check`) of a MODELOPT_REF the refs data does not have as a tag or commit stops here, before
    Docker is asked anything: a PyPI-only version, a branch, an unknown name (scripts/kitlib/refs.py)."""
    from checks.errors import CheckError
    from kitlib import refs

    if argv[:1] in (["build"], ["check"]) and "--modelopt-ref" in argv:
        try:
            refs.check(argv[argv.index("--modelopt-ref") + 1], "docker")
        except CheckError as e:
            print(f"image: {e.render()}", file=sys.stderr)
            sys.exit(2)


if __name__ == "__main__":
    ref_or_exit(sys.argv[1:])
    if not shutil.which("docker") and "--dry-run" not in sys.argv:
        print("image: no docker CLI on PATH; install Docker (https://docs.docker.com/engine/install/)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
