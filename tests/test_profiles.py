"""Profiles and errata are validated strictly: a typo or a missing key stops the kit with exit 2, naming file and
line (issue 11: `gpus_per_nodes: 8` once made prune "CPU only, 0.0 GPU-h"; a missing `recipe` was a traceback)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import kit  # noqa: E402
from kitlib import profile as kprofile  # noqa: E402
from kitlib import render as krender  # noqa: E402

PROFILE = """schema: 1
profile: bad
recipes: recipes/tutorial
steps:
  prune:
    recipe: prune.sh
    nodes: 1
{prune_extra}  quantize:
{quantize}    nodes: 1
    gpus_per_node: 8
"""


@pytest.fixture
def kit_root(tmp_path, monkeypatch):
    """A kit tree whose profiles the test writes; the recipes are the real ones."""
    root = tmp_path / "kit"
    (root / "recipes" / "profiles").mkdir(parents=True)
    shutil.copytree(ROOT / "recipes" / "tutorial", root / "recipes" / "tutorial")
    monkeypatch.setattr(kprofile, "ROOT", root)
    return root


def _kit(tmp_path, capsys, *args: str) -> tuple[int, str]:
    rc = kit.main(["--run-dir", str(tmp_path / "runs" / "r"), "--modelopt-ref", "0.44.0", *args])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("prune_extra,quantize,needle,line", [
    ("    gpus_per_nodes: 8\n", "    recipe: quantize.sh\n", "unknown key 'gpus_per_nodes' in step `prune`", 8),
    ("", "", "step `quantize` lacks `recipe`", 9),
    ("    gpus_per_node: eight\n", "    recipe: quantize.sh\n", "`gpus_per_node` in step `prune` must be int", 8),
    ("    nodes: 2\n", "    recipe: quantize.sh\n", "duplicate key 'nodes'", 8),
])
def test_a_malformed_profile_is_exit_2_naming_file_and_line(kit_root, tmp_path, capsys, prune_extra, quantize, needle, line):
    (kit_root / "recipes" / "profiles" / "bad.yaml").write_text(PROFILE.format(prune_extra=prune_extra, quantize=quantize))
    rc, err = _kit(tmp_path, capsys, "--profile", "bad", "mk")
    assert rc == 2, err
    assert needle in err and f"bad.yaml:{line}" in err, err
    assert "Traceback" not in err


def test_a_misspelt_profile_key_says_what_it_probably_meant(kit_root, tmp_path, capsys):
    (kit_root / "recipes" / "profiles" / "bad.yaml").write_text(
        PROFILE.format(prune_extra="    gpus_per_nodes: 8\n", quantize="    recipe: quantize.sh\n"))
    rc, err = _kit(tmp_path, capsys, "--profile", "bad", "plan")
    assert rc == 2 and "did you mean 'gpus_per_node'?" in err, err


ERRATUM = """schema: 2
errata:
  - id: x
    step: quantize
    kind: erratum
    versions: {modelopt: '>=0.44.0'}
    find: a
    replace: b
    reason: r
"""


@pytest.mark.parametrize("text,needle,line", [
    (ERRATUM.replace("    reason: r\n", "    reasn: r\n    reason: r\n"), "unknown key 'reasn' in an erratum", 9),
    (ERRATUM.replace("    reason: r\n", "    reason: r\n    find: c\n"), "duplicate key 'find'", 10),
    (ERRATUM.replace("schema: 2\n", "schema: 2\nerata: []\n"), "unknown key 'erata' in errata file", 2),
    (ERRATUM + ERRATUM.split("errata:\n", 1)[1], "duplicate erratum id x", 10),
])
def test_malformed_errata_are_exit_2_naming_file_and_line(tmp_path, capsys, monkeypatch, text, needle, line):
    p = tmp_path / "errata.yaml"
    p.write_text(text)
    monkeypatch.setattr(krender, "ERRATA", p)
    rc, err = _kit(tmp_path, capsys, "show", "quantize/conservative")
    assert rc == 2, err
    assert needle in err and f"errata.yaml:{line}" in err, err
    assert "Traceback" not in err
