import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tutorial_run import build_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "expected" / "full.yaml"
MUTATIONS = {"tried": 0, "caught": 0, "by_kind": {}}


@pytest.fixture(scope="session")
def pristine_run(tmp_path_factory) -> Path:
    """A faithful run with the tutorial's own numbers (and the BENCH_EXTRA=1 aggressive variant, whose layout its
    table was measured on) as a run directory; never modify it (use `run`)."""
    return build_run(tmp_path_factory.mktemp("pristine"), aggressive=True)


@pytest.fixture
def run(pristine_run, tmp_path) -> Path:
    """A private copy of the tutorial run that a test may damage. Sparse shards stay sparse."""
    dst = tmp_path / "run"
    shutil.copytree(pristine_run, dst, copy_function=_sparse_copy)
    return dst


def _sparse_copy(src, dst):
    """Copy only the data extents of a sparse fixture shard (its header and fingerprint windows)."""
    import os

    src, dst = Path(src), Path(dst)
    if src.suffix != ".safetensors":
        shutil.copy2(src, dst)
        return
    size = src.stat().st_size
    with src.open("rb") as fi, dst.open("wb") as fo:
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fi.fileno(), start, os.SEEK_HOLE)
            fi.seek(start)
            fo.seek(start)
            fo.write(fi.read(end - start))
            pos = end
        fo.truncate(size)


@pytest.fixture(scope="session")
def goldens():
    from checks import goldens as g

    return g.load(EXPECTED)


# Whole suites that walk every file, value or attack: slow by nature (README "Development"). Single slow tests carry
# @pytest.mark.slow where they are defined.
SLOW_MODULES = {"test_attacks.py", "test_mutations.py", "test_fuzz.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def record_mutation(kind: str, caught: bool) -> None:
    MUTATIONS["tried"] += 1
    MUTATIONS["caught"] += int(caught)
    k = MUTATIONS["by_kind"].setdefault(kind, [0, 0])
    k[0] += 1
    k[1] += int(caught)


def pytest_sessionfinish(session):
    """Under pytest-xdist each worker counts its own mutations: hand them to the controller."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["mutations"] = MUTATIONS


try:
    import xdist  # noqa: F401  (its hook below exists only with it)
except ImportError:
    pass
else:
    def pytest_testnodedown(node, error):
        got = getattr(node, "workeroutput", {}).get("mutations")
        if got:
            MUTATIONS["tried"] += got["tried"]
            MUTATIONS["caught"] += got["caught"]
            for kind, (t, c) in got["by_kind"].items():
                k = MUTATIONS["by_kind"].setdefault(kind, [0, 0])
                k[0] += t
                k[1] += c


def pytest_terminal_summary(terminalreporter):
    if MUTATIONS["tried"]:
        tr = terminalreporter
        tr.write_sep("-", f"mutation suite: {MUTATIONS['caught']} of {MUTATIONS['tried']} mutations caught")
        for kind, (t, c) in sorted(MUTATIONS["by_kind"].items()):
            tr.write_line(f"  {kind:<28} {c:>5} / {t:<5} caught")
