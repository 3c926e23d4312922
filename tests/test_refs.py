"""MODELOPT_REF against the refs of NVIDIA/Model-Optimizer carried as data (recipes/upstream-refs.yaml, its source
line says from what and when): `make plan` refuses a ref the repository does not have, with the tags it has; the
image runners refuse a PyPI-only version (0.47.0: the real runs in demo/real-runs/intent-0.47.0 used the PyPI wheel
with examples from main) and a branch (main), before any image build; RUNNER=local, which builds nothing and runs
the checkout at MODELOPT_DIR, accepts both, named for what they are."""

import subprocess
import sys

import pytest

from kit_env import ROOT, make

sys.path.insert(0, str(ROOT / "scripts"))

from kitlib import refs  # noqa: E402
from checks.errors import CheckError  # noqa: E402


def test_the_data_agrees_with_the_fixtures_provenance():
    """The tag commits in the refs data are the ones tests/fixtures/upstream/PROVENANCE.md read the fixtures at."""
    data = refs.load()
    prov = (ROOT / "tests" / "fixtures" / "upstream" / "PROVENANCE.md").read_text()
    for tag in ("0.44.0", "0.45.0", "0.46.0"):
        sha, _ = data["tags"][tag]
        assert f"| NVIDIA/Model-Optimizer | {tag} | {sha} |" in prov
    assert f"| NVIDIA/Model-Optimizer | main | {data['branches']['main'][0]} |" in prov
    assert "0.47.0" not in data["tags"] and "0.47.0" in data["pypi"] and "0.46.1" in data["pypi"]
    assert "fetch github:NVIDIA/Model-Optimizer" in data["source"] and "PyPI" in data["source"]


@pytest.mark.parametrize("ref,kind", [("0.44.0", "tag"), ("0.47.0dev", "tag"), ("main", "branch"), ("0.47.0", "pypi"),
                                      ("9.9.9", "unknown"), ("a2fbac7", "unknown"),
                                      ("a2fbac7bad8ab446d3f8783dadb0c3366eb0ad73", "commit"), ("f" * 40, "commit")])
def test_resolve(ref, kind):
    assert refs.resolve(ref).kind == kind


@pytest.mark.parametrize("ref,runner,needle", [
    ("9.9.9", "local", "MODELOPT_REF=9.9.9 is not a ref of NVIDIA/Model-Optimizer"),
    ("9.9.9", "docker", "the latest releases: "),
    ("a2fbac7", "local", "a short commit: give all 40 hex digits"),
    ("0.47.0", "docker", "is a release of nvidia-modelopt on PyPI, not a tag"),
    ("0.47.0", "slurm", "RUNNER=local MODELOPT_DIR=<checkout> MODELOPT_REF=0.47.0"),
    ("main", "docker", "MODELOPT_REF=a2fbac7bad8ab446d3f8783dadb0c3366eb0ad73 MODELOPT_VERSION="),
])
def test_refused(ref, runner, needle):
    with pytest.raises(CheckError) as e:
        refs.check(ref, runner)
    assert needle in e.value.render()


@pytest.mark.parametrize("ref,runner", [("0.44.0", "docker"), ("0.46.0", "slurm"), ("0.47.0", "local"), ("main", "local"),
                                        ("a2fbac7bad8ab446d3f8783dadb0c3366eb0ad73", "docker")])
def test_accepted(ref, runner):
    assert refs.check(ref, runner).text == ref


def test_make_plan_refuses_an_unknown_ref_and_names_the_tags(tmp_path):
    p = make(tmp_path, "plan", MODELOPT_REF="9.9.9")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "MODELOPT_REF=9.9.9 is not a ref of NVIDIA/Model-Optimizer" in p.stderr and "0.46.0" in p.stderr
    p = make(tmp_path, "plan", MODELOPT_REF="0.47.0", RUNNER="docker")
    assert p.returncode == 2 and "PyPI, not a tag" in p.stderr
    p = make(tmp_path, "plan", MODELOPT_REF="0.47.0", check=True)  # RUNNER=local: the checkout runs; said so
    assert "Model-Optimizer: nvidia-modelopt 0.47.0 from PyPI (no git tag" in p.stdout
    p = make(tmp_path, "plan", MODELOPT_REF="0.46.0", RUNNER="docker", check=True)
    assert "Model-Optimizer: tag 0.46.0 = commit 43fd41a58d52c4e6e5dec1d1ff5989ecc737ae1a (2026-08-15)" in p.stdout


@pytest.mark.parametrize("ref,needle", [("main", "is a branch"), ("0.47.0", "PyPI, not a tag"), ("9.9.9", "not a ref")])
def test_make_image_refuses_before_docker_is_asked(tmp_path, ref, needle):
    """No docker here: the refusal must come first, naming the ref, not 'no docker CLI'."""
    p = make(tmp_path, "image", MODELOPT_REF=ref)
    assert p.returncode == 2 and needle in p.stderr and "docker CLI" not in p.stderr


def test_refresh_reads_a_clone(tmp_path):
    """The refresh command reads tags (peeled to commits) and main from any clone; the file it writes loads."""
    repo = tmp_path / "mo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "a"], check=True)
    subprocess.run([*git, "tag", "-a", "-m", "t", "0.50.0"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "b"], check=True)
    out = tmp_path / "refs.yaml"
    (out).write_text((ROOT / "recipes" / "upstream-refs.yaml").read_text())  # keeps its PyPI list
    p = subprocess.run([sys.executable, "scripts/kitlib/refs.py", "refresh", "--git-dir", str(repo / ".git"),
                        "--source", "a test clone", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    data = refs.load(out)
    head = subprocess.run([*git, "rev-parse", "HEAD", "0.50.0^{commit}"], capture_output=True, text=True).stdout.split()
    assert data["tags"] == {"0.50.0": (head[1], data["tags"]["0.50.0"][1])} and data["branches"]["main"][0] == head[0]
    assert data["source"].startswith("a test clone") and "0.47.0" in data["pypi"]
