"""Which MODELOPT_REF the kit can use, decided without network from data: the tags and branches of
github.com/NVIDIA/Model-Optimizer and the versions of nvidia-modelopt on PyPI (recipes/upstream-refs.yaml, with its
provenance). `make image` checks a git ref out of that repository, so a version that exists only on PyPI (0.46.1,
0.47.0) cannot be built; a branch (main) moves, so an image built from it cannot be rebuilt: both are refused
before any build, with the refs the data has. RUNNER=local runs the checkout at MODELOPT_DIR (no image is built):
there a PyPI version (the wheel, with examples from a checkout, as demo/real-runs/intent-0.47.0 was run) and a
branch are accepted, named for what they are.

Refresh the data from any clone (`git clone --bare https://github.com/NVIDIA/Model-Optimizer mo.git`):

    python3 scripts/kitlib/refs.py refresh --git-dir mo.git [--pypi]   # rewrites recipes/upstream-refs.yaml
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from checks import yamlio  # noqa: E402
from checks.errors import CheckError  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "recipes" / "upstream-refs.yaml"
REPO = "NVIDIA/Model-Optimizer"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_SHORT = re.compile(r"^[0-9a-f]{7,39}$")
IMAGE_RUNNERS = ("docker", "slurm")  # the steps run in the image built from MODELOPT_REF


@dataclass
class Ref:
    text: str
    kind: str  # tag | branch | commit | pypi | unknown
    commit: str | None = None
    date: str | None = None


def load(path: Path = DATA) -> dict:
    doc = yamlio.mapping(yamlio.load(path, "upstream refs file"), "upstream refs file", str(path),
                         required=("schema", "Model-Optimizer"), allowed=("schema", "Model-Optimizer"))
    mo = yamlio.mapping(doc["Model-Optimizer"], "Model-Optimizer refs", str(path),
                        required=("source", "tags", "branches", "pypi"), allowed=("source", "tags", "branches", "pypi"))
    out = {}
    for key in ("tags", "branches"):
        refs = yamlio.typed(mo, key, dict, "Model-Optimizer refs")
        for name, v in refs.items():
            if not (isinstance(v, str) and re.match(r"^[0-9a-f]{40} \d{4}-\d\d-\d\d$", v)):
                raise CheckError(f"malformed {key[:-1]} {name!r} in {path.name}", where=f"{path}",
                                 expected="'<40-hex commit> <YYYY-MM-DD>'", found=repr(v))
        out[key] = {str(k): tuple(v.split()) for k, v in refs.items()}
    out["pypi"] = [str(v) for v in yamlio.typed(mo, "pypi", list, "Model-Optimizer refs")]
    out["source"] = str(mo["source"])
    return out


def resolve(ref: str, data: dict | None = None) -> Ref:
    data = data or load()
    if ref in data["tags"]:
        return Ref(ref, "tag", *data["tags"][ref])
    if ref in data["branches"]:
        return Ref(ref, "branch", *data["branches"][ref])
    if _SHA.match(ref):
        known = next((v for v in (*data["tags"].values(), *data["branches"].values()) if v[0] == ref), (ref, None))
        return Ref(ref, "commit", *known)
    if ref in data["pypi"]:
        return Ref(ref, "pypi")
    return Ref(ref, "unknown")


def _releases(data: dict) -> str:
    from packaging.version import InvalidVersion, Version

    def key(t: str):
        try:
            return Version(t)
        except InvalidVersion:
            return Version("0")

    final = [t for t in data["tags"] if re.fullmatch(r"\d+\.\d+\.\d+", t)]
    return ", ".join(sorted(final, key=key)[-6:])


def check(ref: str, runner: str, data: dict | None = None) -> Ref:
    """The ref, resolved, when the runner can use it; CheckError (exit 2, nothing planned or built) otherwise."""
    data = data or load()
    r = resolve(ref, data)
    tags = _releases(data)
    where = str(DATA.relative_to(DATA.parents[1]))
    if r.kind == "unknown":
        short = " (a short commit: give all 40 hex digits, `git rev-parse <sha>`)" if _SHORT.match(ref) else ""
        raise CheckError(f"MODELOPT_REF={ref} is not a ref of {REPO}{short}", where=where,
                         expected=f"a tag (the latest releases: {tags}; every tag with its commit is in the file), "
                                  "a full commit SHA, or RUNNER=local with a version of nvidia-modelopt on PyPI",
                         hint="pick one of those tags, or refresh the list if the tag is newer than it "
                              "(python3 scripts/kitlib/refs.py refresh --git-dir <clone>)")
    if runner not in IMAGE_RUNNERS:
        return r
    if r.kind == "pypi":
        raise CheckError(f"MODELOPT_REF={ref} is a release of nvidia-modelopt on PyPI, not a tag of {REPO}: the image "
                         "checks out a git ref, so it cannot be built", where=where,
                         expected=f"a tag ({tags}) or a full commit SHA for RUNNER={runner}",
                         hint=f"build a tag or a commit (MODELOPT_REF=<sha> MODELOPT_VERSION={ref} if that commit "
                              f"reports {ref}), or run the checkout you have with RUNNER=local MODELOPT_DIR=<checkout> "
                              f"MODELOPT_REF={ref}")
    if r.kind == "branch":
        raise CheckError(f"MODELOPT_REF={ref} is a branch: it moves, so an image built from it cannot be rebuilt or "
                         "compared", where=where, expected=f"a tag ({tags}) or a full commit SHA",
                         hint=f"pin the commit: MODELOPT_REF={r.commit} MODELOPT_VERSION=<the version it reports> "
                              f"({ref} was at that commit on {r.date}; `git ls-remote https://github.com/{REPO} {ref}` "
                              "gives today's)")
    return r


def describe(r: Ref) -> str:
    return {"tag": f"tag {r.text} = commit {r.commit} ({r.date})",
            "branch": f"branch {r.text} (at {r.commit} on {r.date}, per the refs data; it moves)",
            "commit": f"commit {r.text}" + (f" ({r.date})" if r.date else " (not in the refs data: the build fetches it)"),
            "pypi": f"nvidia-modelopt {r.text} from PyPI (no git tag: the checkout at MODELOPT_DIR provides the examples)",
            "unknown": f"{r.text} (unknown)"}[r.kind]


# ---- refresh ----

def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=True).stdout


def read_repo(git_dir: Path) -> tuple[dict, dict]:
    """({tag: 'sha date'}, {main: 'sha date'}) of a clone, tags peeled to their commits."""
    tags = {}
    for name in _git(git_dir, "for-each-ref", "--format=%(refname:short)", "refs/tags").split():
        sha, day = _git(git_dir, "log", "-1", "--format=%H %cs", f"{name}^{{commit}}").split()
        tags[name] = f"{sha} {day}"
    head = _git(git_dir, "log", "-1", "--format=%H %cs", "refs/heads/main").split()
    return tags, {"main": " ".join(head)}


def pypi_versions() -> list[str]:
    p = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "nvidia-modelopt", "--python-version", "3.12",
                        "--only-binary=:all:"], capture_output=True, text=True, timeout=120, check=True)
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("Available versions:"))
    return [v.strip() for v in line.split(":", 1)[1].split(",")]


def render(tags: dict, branches: dict, pypi: list[str], source: str) -> str:
    from packaging.version import InvalidVersion, Version

    def key(t: str):
        try:
            return (0, Version(t))
        except InvalidVersion:
            return (1, t)

    only = [v for v in sorted(pypi, key=key) if v not in tags]
    lines = ["# The refs of github.com/NVIDIA/Model-Optimizer that MODELOPT_REF is checked against, without network",
             "# (scripts/kitlib/refs.py): tags and branches peeled to commits with their commit dates, and the versions",
             "# of nvidia-modelopt published on PyPI without a tag. Written by `python3 scripts/kitlib/refs.py refresh",
             "# --git-dir <clone> --pypi`; the `source` line says from what and when.",
             "schema: 1", "Model-Optimizer:", f"  source: {json.dumps(source)}", "  tags:"]
    lines += [f"    '{t}': '{tags[t]}'" for t in sorted(tags, key=key)]
    lines += ["  branches:"] + [f"    '{b}': '{v}'" for b, v in branches.items()]
    lines += ["  # on PyPI, no tag: usable with RUNNER=local only (the image checks out a git ref)",
              "  pypi: [" + ", ".join(f"'{v}'" for v in only) + "]"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="refs.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("refresh", help="rewrite recipes/upstream-refs.yaml from a clone (and PyPI)")
    r.add_argument("--git-dir", type=Path, required=True, help="a clone of NVIDIA/Model-Optimizer (bare or its .git)")
    r.add_argument("--pypi", action="store_true", help="also list nvidia-modelopt's versions on PyPI (pip index versions)")
    r.add_argument("--source", default=None, help="what the clone is (default: its path), for the provenance line")
    r.add_argument("--out", type=Path, default=DATA)
    a = p.parse_args(argv)
    tags, branches = read_repo(a.git_dir)
    old = load(a.out) if a.out.exists() else {"pypi": []}
    pypi = pypi_versions() if a.pypi else list(old["pypi"])
    source = (f"{a.source or a.git_dir}: tags and main read {date.today().isoformat()}"
              + (f"; nvidia-modelopt versions from PyPI ({date.today().isoformat()})" if a.pypi else ""))
    a.out.write_text(render(tags, branches, pypi, source))
    print(f"{a.out}: {len(tags)} tags, main at {branches['main']}, {len(pypi)} PyPI versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
