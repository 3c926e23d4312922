"""Verbatim is checked, not promised: every recipe equals the tutorial's command with its placeholders
substituted, and every deviation is an erratum with a reason that applies exactly once."""

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from kitlib import profile as kprofile  # noqa: E402
from checks.recipes import as_tutorial, recipe_command  # noqa: E402
from kitlib.render import load_errata, render  # noqa: E402

TUTORIAL = ROOT.parent / "shared" / "seeds" / "tutorial-nemotron-nano-9b-v2.txt"
RECIPES = ROOT / "recipes" / "tutorial"


@pytest.fixture(scope="module")
def tutorial() -> list[str]:
    if not TUTORIAL.exists():
        pytest.fail(f"the tutorial text is expected at {TUTORIAL} (shared/seeds beside the checkout)")
    return TUTORIAL.read_text().split("\n")


def block(lines: list[str], first: str, last: str | None = None) -> str:
    """A command block: from the line starting with `first` through its backslash continuations,
    or through the line equal to `last`."""
    i = next(k for k, l in enumerate(lines) if l.startswith(first))
    j = i
    if last is None:
        while lines[j].endswith("\\"):
            j += 1
    else:
        while lines[j] != last:
            j += 1
    return "\n".join(lines[i:j + 1])


@pytest.mark.parametrize("name,first,last", [
    ("prune.sh", "torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py", None),
    ("distill.sh", "torchrun --nproc_per_node 8 /opt/Model-Optimizer/examples/megatron_bridge/distill_minitron.py", None),
    ("convert.sh", "python /opt/Megatron-Bridge/examples/conversion/convert_checkpoints.py export", None),
    ("quantize.sh", "python /opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py", None),
    ("bench.sh", "vllm bench throughput", None),
    ("eval.sh", 'pip install "nemo-evaluator-launcher[all]==0.1.90"', "nemo-evaluator-launcher run --config nemo_evaluator.yaml"),
    ("data_blend.sh", 'DATA_BLEND=" \\', '"'),
])
def test_recipe_is_the_tutorial_command(tutorial, name, first, last):
    assert as_tutorial(RECIPES / name) == block(tutorial, first, last)


def test_no_tutorial_placeholder_is_left_in_a_recipe():
    for r in RECIPES.glob("*.sh"):
        cmd = recipe_command(r)
        assert not re.search(r"<[a-z_]+>|/path/to/", cmd), r.name


def test_data_recipe_follows_the_tutorials_pointer(tutorial):
    text = (RECIPES / "data.sh").read_text()
    assert "TOKENIZER=nvidia/NVIDIA-Nemotron-Nano-9B-v2" in text and "OUTPUT_DIR=tokenized_nemotron_v2" in text
    assert "TOKENIZER=nvidia/NVIDIA-Nemotron-Nano-9B-v2, OUTPUT_DIR=tokenized_nemotron_v2." in "\n".join(tutorial)
    # every dataset of the tutorial's blend table is tokenized by some command
    table = [l.split("|")[1].strip() for l in tutorial if l.startswith("| Nemotron-") and " / " in l]
    families = {t.split(" / ")[0] for t in table}
    assert len(table) == 12 and len(families) == 6
    for fam in families:
        assert f"nvidia/{fam}" in text, fam
    for part in ("high_part00", "high_part01", "competitive_programming_python_00", "competitive_programming_cpp_00",
                 "--hf_split stem", "--hf_max_samples_per_split 10_000_000", "--hf_max_samples_per_split 5_000_000"):
        assert part in text


def test_every_erratum_applies_exactly_once_and_has_a_reason():
    errata = load_errata()
    assert len({e.id for e in errata}) == len(errata)
    for e in errata:
        assert len(e.reason) > 40, e.id
        if e.kind == "patch":
            assert e.file and e.find != e.replace
            continue
        recipe = ROOT / "recipes" / e.recipe
        assert recipe.stem == e.step and recipe_command(recipe).count(e.find) == 1, e.id


def test_rendered_commands_apply_the_errata_visibly(tmp_path):
    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", "/opt/Model-Optimizer")
    units = kprofile.load("full", ctx)
    r = render(kprofile.find(units, "distill"), ctx)
    assert "distill_minitron.py" not in r.command and "/examples/megatron_bridge/distill.py" in r.command
    assert '--data_paths ${DATA_BLEND} \\' in r.command
    assert r.script.index("echo '[kit] erratum distill-script-name") < r.script.index("torchrun")
    q = render(kprofile.find(units, "quantize"), ctx)
    assert "KIT_PATCH" in q.script and '"fp8": mtq.MAMBA_MOE_FP8_CONSERVATIVE_CFG,' in q.script


def test_patch_refuses_a_changed_upstream_file(tmp_path):
    import subprocess

    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", str(tmp_path / "mo"))
    unit = kprofile.find(kprofile.load("full", ctx), "quantize")
    script = render(unit, ctx).script
    patch = script[script.index("python3 - "):script.index("KIT_PATCH\n", script.index("<<'KIT_PATCH'") + 12) + 9]
    f = tmp_path / "mo" / "examples" / "llm_ptq" / "hf_ptq.py"
    f.parent.mkdir(parents=True)
    f.write_text('QUANT_CFG_CHOICES = {"fp8": "from a YAML recipe now"}\n')  # what 0.45.0 looks like
    p = subprocess.run(["bash", "-c", patch], capture_output=True, text=True)
    assert p.returncode != 0 and "upstream changed this file: update recipes/errata.yaml" in p.stderr
    f.write_text('    "fp8": mtq.FP8_DEFAULT_CFG,\n')
    for expected in ("-> ", "already applied"):
        p = subprocess.run(["bash", "-c", patch], capture_output=True, text=True)
        assert p.returncode == 0 and expected in p.stdout
    assert f.read_text() == '    "fp8": mtq.MAMBA_MOE_FP8_CONSERVATIVE_CFG,\n'


def test_profile_hours_match_the_tutorial():
    doc = yaml.safe_load((ROOT / "recipes" / "profiles" / "full.yaml").read_text())
    steps = doc["steps"]
    assert (steps["prune"]["nodes"], steps["prune"]["gpus_per_node"], steps["prune"]["hours"]) == (1, 8, 1.0)
    d = steps["distill"]
    # ~45 min per 1k iterations x 16000 iterations on 96 x 8 H100: ~600 GPU-hours per 1k iterations
    assert (d["nodes"], d["gpus_per_node"]) == (96, 8) and d["hours"] == pytest.approx(16 * 0.75)
    assert d["nodes"] * d["gpus_per_node"] * 0.75 == pytest.approx(576)
