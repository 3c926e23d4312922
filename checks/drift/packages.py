"""Where the import check gets the libraries' sources: a directory of `<dist>/<version>/` trees and wheels (the
tests' trimmed extracts, or a cache in the run directory), filled from the package registry when asked to: the
pinned version with `pip download --no-deps`, and, when a name is missing, the registry's later versions
(`pip index versions`), fetched one by one until one has it. Nothing is installed or imported: wheels are read as
zip files. Downloads are for the image's interpreter (CPython 3.12, manylinux x86_64), whatever runs the check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version

from checks.drift.imports import Package

TARGET = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
          "--only-binary=:all:"]


def _key(v: str) -> Version | None:
    try:
        return Version(v)
    except InvalidVersion:
        return None


class Registry:
    """The sources under `root`; with `fetch`, missing versions come from the registry into `root`."""

    def __init__(self, root: Path, fetch: bool = False, pip: list[str] | None = None, timeout: int = 300,
                 index: list[str] | None = None):
        self.root, self.fetch, self.timeout = Path(root), fetch, timeout
        self.pip = pip or [sys.executable, "-m", "pip"]
        self.index = index or []  # e.g. ["--no-index", "--find-links", DIR]: another index than pip's configured one
        self.problems: dict[str, str] = {}  # "dist==version" or "dist index" -> what pip said

    def local(self, dist: str) -> dict[str, Path]:
        """version -> tree or wheel, for what is already under root."""
        found: dict[str, Path] = {}
        d = self.root / dist
        for p in sorted(d.iterdir()) if d.is_dir() else []:
            if p.is_dir():
                found[p.name] = p
        for w in sorted(self.root.glob(f"{dist.replace('-', '_')}-*.whl")):
            found.setdefault(w.name.split("-")[1], w)
        return found

    def package(self, dist: str, version: str) -> Package | None:
        where = self.local(dist).get(version)
        if where is None and self.fetch:
            where = self._download(dist, version)
        return Package(dist, version, where) if where is not None else None

    def later(self, dist: str, version: str) -> "Later":
        """The versions after `version`: those under root, and the registry's when fetching."""
        versions = set(self.local(dist))
        if self.fetch:
            versions |= set(self._index(dist))
        pin = _key(version)
        newer = sorted((v for v in versions if _key(v) and pin and _key(v) > pin and not _key(v).is_prerelease), key=_key)
        return Later(self, dist, newer)

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess | str:
        try:
            return subprocess.run([*self.pip, *argv], capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.SubprocessError) as e:
            return str(e)

    def _download(self, dist: str, version: str) -> Path | None:
        self.root.mkdir(parents=True, exist_ok=True)
        p = self._run(["download", "--no-deps", "--disable-pip-version-check", *TARGET, *self.index, "-d", str(self.root),
                       f"{dist}=={version}"])
        got = self.local(dist).get(version)
        if got is None:
            self.problems[f"{dist}=={version}"] = _last(p)
        return got

    def _index(self, dist: str) -> list[str]:
        p = self._run(["index", "versions", dist, "--disable-pip-version-check", *TARGET, *self.index])
        if isinstance(p, str) or p.returncode != 0:
            self.problems[f"{dist} index"] = _last(p)
            return []
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("Available versions:")), "")
        return [v.strip() for v in line.split(":", 1)[-1].split(",") if v.strip()]


def _last(p: subprocess.CompletedProcess | str) -> str:
    if isinstance(p, str):
        return p
    lines = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip() and not ln.startswith("WARNING")]
    return lines[-1].strip() if lines else f"pip exited {p.returncode}"


class Later:
    """Later versions of one library, their sources fetched only when iterated (in order), once each."""

    def __init__(self, registry: Registry, dist: str, versions: list[str]):
        self.registry, self.dist, self.versions = registry, dist, versions
        self._got: dict[str, Package | None] = {}

    def __iter__(self):
        for v in self.versions:
            if v not in self._got:
                self._got[v] = self.registry.package(self.dist, v)
            if self._got[v] is not None:
                yield self._got[v]

    def __bool__(self) -> bool:
        return bool(self.versions)
