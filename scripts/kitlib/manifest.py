"""RUN_DIR/manifest.json: provenance of a run, updated atomically under a lock as steps finish."""

from __future__ import annotations

import fcntl
import json
import socket
import subprocess
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from checks.rundir import MANIFEST, write_atomic
from kitlib.profile import ROOT


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def updating(run_dir: Path):
    """Read-modify-write manifest.json; concurrent steps (e.g. two bench variants) cannot lose updates."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / MANIFEST
    with open(run_dir / ".manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(path.read_text()) if path.exists() else {}
        yield doc
        write_atomic(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")


def kit_revision() -> dict:
    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    return {"git_sha": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def image_info(image: str) -> dict:
    """Name, ID and repo digest of the image, as the local engine knows it (None where it cannot say)."""
    info: dict = {"name": image, "id": None, "digest": None, "labels": {}}
    try:
        out = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, timeout=30)
        if out.returncode == 0:
            d = json.loads(out.stdout)[0]
            info.update(id=d.get("Id"), digest=(d.get("RepoDigests") or [None])[0],
                        labels=(d.get("Config") or {}).get("Labels") or {})
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        pass
    return info


def start(run_dir: Path, run_id: str, profile: str, runner: str, image: str | None,
          checkouts: dict[str, str] | None = None) -> None:
    with updating(run_dir) as m:
        m.setdefault("schema", 1)
        m.setdefault("run_id", run_id)
        m.setdefault("profile", profile)
        m.setdefault("created", now())
        m.setdefault("steps", {})
        m["kit"] = kit_revision()
        m["host"] = socket.gethostname()
        m["runner"] = runner
        if image and runner in ("docker", "slurm"):
            m["image"] = image_info(image)
        if checkouts:  # where the upstream scripts were (make regress compares a later run's defaults with them)
            m["checkouts"] = checkouts


def record_step(run_dir: Path, unit: str, meta: dict, env: dict | None) -> None:
    with updating(run_dir) as m:
        steps = m.setdefault("steps", {})
        steps[unit] = {**meta, **({"env": env} if env else {})}
        m["errata"] = sorted({d["id"] for s in steps.values() for d in s.get("deviations", [])})
        if env:
            if env.get("gpu"):
                steps[unit]["gpu"] = env["gpu"]
                m["gpu"] = env["gpu"]
            versions = {k: v for k, v in (env.get("versions") or {}).items()}
            seen = m.setdefault("versions", {})
            for k, v in versions.items():
                if k in seen and seen[k] != v:
                    m.setdefault("mixed_versions", {}).setdefault(k, sorted({str(seen[k]), str(v)}))
                seen[k] = v
