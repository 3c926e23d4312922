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

# The tutorial's text (Model-Optimizer 0.44.0 examples/pruning/minitron/NVIDIA-Nemotron-Nano-9B-v2/README.md as
# rendered on GitHub, 2026-05-28), copied from ../shared/seeds/ so that a lone clone can test itself.
TUTORIAL = ROOT / "tests" / "fixtures" / "tutorial-nemotron-nano-9b-v2.txt"
RECIPES = ROOT / "recipes" / "tutorial"


@pytest.fixture(scope="module")
def tutorial() -> list[str]:
    if not TUTORIAL.exists():
        pytest.fail(f"the tutorial text is expected at {TUTORIAL}")
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
        named = [e.recipe] if isinstance(e.recipe, str) else e.recipe
        recipes = [ROOT / "recipes" / r for r in named] if named else sorted((ROOT / "recipes").glob(f"*/{e.step}.sh"))
        assert recipes and all(r.stem.split("_")[0] == e.step for r in recipes), e.id
        for x in e.expressions:
            assert x.versions, (e.id, x.name)  # every expression says which versions it was checked against
            if x.kind == "patch":
                assert x.file and len(x.edits) == 1
                continue
            for r in recipes:
                for find, replace in x.edits:
                    assert find != replace and recipe_command(r).count(find) == 1, (e.id, x.name, r)


V44 = {"modelopt": "0.44.0", "megatron_bridge": "0.3.0", "vllm": "0.21.0", "nemo_evaluator_launcher": "0.1.90"}


@pytest.mark.parametrize("modelopt,expression,script", [
    ("0.44.0", "hf_ptq-patch", "examples/llm_ptq/hf_ptq.py"),
    ("0.44.3", "hf_ptq-patch", "examples/llm_ptq/hf_ptq.py"),
    ("0.45.0", "qformat-flag", "examples/llm_ptq/hf_ptq.py"),
    ("0.46.0", "qformat-flag-hf_ptq-dir", "examples/hf_ptq/hf_ptq.py"),
    ("0.47.0dev", "qformat-flag-hf_ptq-dir", "examples/hf_ptq/hf_ptq.py"),
    ("0.47.0.dev12+g87c9f8c", "qformat-flag-hf_ptq-dir", "examples/hf_ptq/hf_ptq.py"),
])
def test_the_fp8_intent_has_one_expression_per_modelopt_range(tmp_path, modelopt, expression, script):
    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", "/opt/Model-Optimizer")
    for profile in ("full", "tiny", "prune-quant-bench"):
        for unit in (u for u in kprofile.load(profile, ctx) if u.step == "quantize"):
            r = render(unit, ctx, {**V44, "modelopt": modelopt})
            intent = "aggressive" if unit.name.endswith("aggressive") else "conservative"
            (dev,) = [d for d in r.deviations if d["id"].startswith("quantize-fp8-")]
            assert dev["id"] == f"quantize-fp8-{intent}"
            assert dev["expression"] == expression and dev["versions"].startswith("ModelOpt >=")
            assert f"/opt/Model-Optimizer/{script} " in r.command
            patched = "KIT_PATCH" in r.script
            assert patched == (expression == "hf_ptq-patch")
            assert (f"--qformat mamba_moe_fp8_{intent}" in r.command) == (not patched)
            assert f"({expression}, for ModelOpt" in r.script  # the log says which expression ran


def test_a_version_no_range_covers_stops_before_launch_naming_the_erratum(tmp_path):
    from checks.errors import CheckError
    from kitlib.versions import component_versions

    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", "/opt/Model-Optimizer")
    unit = kprofile.find(kprofile.load("full", ctx), "quantize/conservative")
    with pytest.raises(CheckError) as e:
        render(unit, ctx, {**V44, "modelopt": "0.43.0"})
    assert "erratum quantize-fp8-conservative has no expression for ModelOpt 0.43.0" in e.value.render()
    assert "errata.yaml" in e.value.render()
    with pytest.raises(CheckError) as e:
        render(unit, ctx, component_versions("main"))
    assert "MODELOPT_VERSION" in e.value.render()
    assert "hf_ptq-dir" in render(unit, ctx, component_versions("main", "0.47.0")).deviations[0]["expression"]
    convert = kprofile.find(kprofile.load("full", ctx), "convert")
    with pytest.raises(CheckError, match="convert-megatron-iteration-padding has no expression for Megatron-Bridge 0.2.0"):
        render(convert, ctx, {**V44, "megatron_bridge": "0.2.0"})
    # from Megatron-Bridge 0.6.0 the same export runs through scripts/conversion/convert.sh (tests/test_frontdoor.py)
    cmd = render(convert, ctx, {**V44, "megatron_bridge": "0.6.0"}).command
    assert cmd.startswith("/opt/Megatron-Bridge/scripts/conversion/convert.sh export --device gpu --gpus-per-node 1 ")
    assert "/checkpoints/iter_0012800 " in cmd and "convert_checkpoints.py" not in cmd


@pytest.mark.parametrize("bad,needle", [
    ("- {id: x, step: quantize, kind: erratum, find: a, replace: b, reason: r}", "names no version range"),
    ("- {id: x, step: quantize, kind: erratum, versions: {modelopt: '>=x'}, find: a, replace: b, reason: r}",
     "not a version range"),
    ("- {id: x, step: quantize, kind: erratum, versions: {modlopt: '>=1'}, find: a, replace: b, reason: r}",
     "unknown key 'modlopt'"),
    ("- {id: x, step: quantize, kind: patch, versions: {modelopt: '>=1'}, find: a, replace: b, reason: r}",
     "a patch names the upstream `file`"),
    ("- {id: x, step: quantize, kind: erratum, versions: {modelopt: '>=1'}, find: a, reason: r}", "no `replace`"),
    ("- {id: x, step: quantize, reason: r, expressions: []}", "empty `expressions:`"),
])
def test_malformed_errata_are_refused_with_file_and_line(tmp_path, bad, needle):
    from checks.errors import CheckError
    from kitlib import errata

    p = tmp_path / "errata.yaml"
    p.write_text("schema: 2\nerrata:\n" + bad + "\n")
    with pytest.raises(CheckError) as e:
        errata.load(p)
    assert needle in e.value.render() and "errata.yaml:3" in e.value.render(), e.value.render()


def test_rendered_commands_apply_the_errata_visibly(tmp_path):
    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", "/opt/Model-Optimizer")
    units = kprofile.load("full", ctx)
    r = render(kprofile.find(units, "distill"), ctx, V44)
    assert "distill_minitron.py" not in r.command and "/examples/megatron_bridge/distill.py" in r.command
    assert '--data_paths ${DATA_BLEND} \\' in r.command
    assert r.script.index("echo '[kit] erratum distill-script-name") < r.script.index("torchrun")
    q = render(kprofile.find(units, "quantize/conservative"), ctx, V44)
    assert "KIT_PATCH" in q.script and '"fp8": mtq.MAMBA_MOE_FP8_CONSERVATIVE_CFG,' in q.script


def test_patch_refuses_a_changed_upstream_file(tmp_path):
    import subprocess

    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", str(tmp_path / "mo"))
    unit = kprofile.find(kprofile.load("full", ctx), "quantize/conservative")
    script = render(unit, ctx, V44).script
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


def test_two_fp8_configs_take_turns_in_one_checkout_and_a_changed_upstream_is_refused(tmp_path):
    """RUNNER=local keeps the checkout between steps: the conservative and the aggressive patch both start from
    the upstream text (kept beside the file on the first patch)."""
    import subprocess

    ctx = kprofile.context(tmp_path / "run", tmp_path / "data", str(tmp_path / "mo"))
    units = kprofile.load("full", ctx)
    f = tmp_path / "mo" / "examples" / "llm_ptq" / "hf_ptq.py"
    f.parent.mkdir(parents=True)
    upstream = 'QUANT_CFG_CHOICES = {\n    "int8": mtq.INT8_DEFAULT_CFG,\n    "fp8": mtq.FP8_DEFAULT_CFG,\n}\n'
    f.write_text(upstream)

    def patch(name):
        script = render(kprofile.find(units, name), ctx, V44).script
        snippet = script[script.index("python3 - "):script.index("KIT_PATCH\n", script.index("<<'KIT_PATCH'") + 12) + 9]
        return subprocess.run(["bash", "-c", snippet], capture_output=True, text=True)

    for name, cfg in (("quantize/conservative", "CONSERVATIVE"), ("quantize/aggressive", "AGGRESSIVE"),
                      ("quantize/conservative", "CONSERVATIVE")):
        p = patch(name)
        assert p.returncode == 0, p.stderr
        assert f.read_text() == upstream.replace("mtq.FP8_DEFAULT_CFG", f"mtq.MAMBA_MOE_FP8_{cfg}_CFG")
    assert (f.parent / "hf_ptq.py.kit-upstream").read_text() == upstream
    f.write_text(f.read_text() + "NEW_UPSTREAM_LINE = 1\n")  # the checkout moved on under the kept copy
    p = patch("quantize/aggressive")
    assert p.returncode != 0 and "upstream changed this file" in p.stderr
