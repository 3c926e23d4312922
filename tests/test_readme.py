"""The README's "Before you start" says what each use needs, with the kit's own figures: the GPU-hours `make plan`
computes, the disk the preflight asks for, the accounts and software, the test commands' times and installs."""

import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

README = (ROOT / "README.md").read_text()
BEFORE = README.split("## Before you start", 1)[-1].split("\n## ", 1)[0] if "## Before you start" in README else ""


def _units(profile: str):
    from pathlib import Path

    from kitlib import model, profile as prof

    extra = model.resolve("nvidia/NVIDIA-Nemotron-Nano-9B-v2") if "model" in prof.read(profile) else {}
    return prof.load(profile, prof.context(Path("/tmp/r"), Path("/tmp/d"), "/opt/Model-Optimizer", extra))


def test_there_is_a_before_you_start_section_for_every_use():
    assert BEFORE, "no '## Before you start' section"
    for use in ("reproduce the tutorial", "BF16 vs FP8 throughput", "regression after an upgrade", "no GPU"):
        assert use in BEFORE, use
    for need in ("nvcr.io", "NGC", "HF_TOKEN", "gated", "NVIDIA driver", "Slurm", "NVIDIA Container Toolkit", "H100"):
        assert need in BEFORE, need


@pytest.mark.parametrize("profile,shown", [("full", "~9,418"), ("one-gpu", "~1.0"), ("tiny", "~0.6"),
                                           ("prune-quant-bench", "~10.2")])
def test_gpu_hours_are_make_plans(profile, shown):
    total = sum(u.gpu_hours for u in _units(profile) if u.group != "extra")
    assert f"{total:,.{0 if total > 100 else 1}f}" == shown.lstrip("~")
    assert shown in BEFORE


def test_disk_figures_are_the_preflights():
    disk = {u.step: u.disk_gib for u in _units("full")}
    assert f"~{disk['data']:.0f} GiB data" in BEFORE
    assert f"~{round(disk['distill'] / 1024)} TiB distill" in BEFORE
    other = sum(v for k, v in disk.items() if k not in ("data", "distill"))
    assert f"~{other:.0f} GiB the other steps" in BEFORE
    one = {u.step: u.disk_gib for u in _units("one-gpu")}
    assert f"~{one['quantize']:.0f} GiB FP8 export, ~{one['bench']:.0f} GiB bench" in BEFORE


def test_the_test_commands_say_what_they_install_and_how_long_they_take():
    test = re.search(r"^test = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M).group(1)
    extras = re.findall(r'"([^"]+)"', test)
    row = next(line for line in BEFORE.splitlines() if line.startswith("| `make test-fast`"))
    for req in extras:
        name = re.split(r"[<>=\[]", req)[0].replace("-bin", "")
        assert name in row, name
    assert "1.3 GB" in row and "torch 2.13.0" in row
    timed = re.compile(r"\d+(\.\d+)? (s|min)")
    for cmd in ("`make test-fast`", "`make test`", "`make demo`"):
        line = next(line for line in BEFORE.splitlines() if line.startswith(f"| {cmd}"))
        assert timed.search(line.split("|")[-2]) and timed.search(line.split("|")[-3]), line
    dev = README.split("## Development", 1)[1]
    assert re.search(r"make test-fast .*\d+ s", dev) and re.search(r"make test  .*\d+ (s|min)", dev), dev[:2000]
    assert "@pytest.mark.slow" in dev and "SLOW_MODULES" in dev
