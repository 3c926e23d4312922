"""`checks drift` on fixture README texts: unchanged, a changed flag, a renamed and a moved script,
a removed and an added block, and script paths missing at the ref."""

import os
import subprocess
import sys

import pytest

from checks import drift
from checks.findings import exit_code
from checks.recipes import as_tutorial
from conftest import ROOT

RECIPES = ROOT / "recipes" / "tutorial"


def readme(transform=lambda name, text: text) -> str:
    """A tutorial README as upstream writes it: prose, and each command in an indented bash fence."""
    parts = ["# Nemotron-Nano-9B-v2: Prune + Distill + Quantize + vLLM Deployment", "", "Some prose.", ""]
    for p in sorted(RECIPES.glob("*.sh")):
        if p.stem in ("data", "eval_mmlu"):
            continue
        text = transform(p.stem, as_tutorial(p))
        if text is None:
            continue
        lines = text.split("\n")
        body = [lines[0]] + [("  " + l if l and not text.startswith("DATA_BLEND") else l) for l in lines[1:]]
        parts += ["<details>", "", "```bash", *body, "```", "", "</details>", ""]
    return "\n".join(parts)


def recipes():
    return {p.stem: as_tutorial(p) for p in sorted(RECIPES.glob("*.sh")) if p.stem not in ("data", "eval_mmlu")}


def test_unchanged_readme_has_no_drift():
    d = drift.compare(recipes(), readme())
    assert exit_code(d) == 0 and len(d) >= 7 and all(x.status == "SAME" for x in d)


def test_changed_flag_is_shown_as_a_diff():
    d = drift.compare(recipes(), readme(lambda n, t: t.replace("--seq_length 8192", "--seq_length 4096") if n == "prune" else t))
    ch = [x for x in d if x.status == "CHANGED"]
    assert len(ch) == 1 and ch[0].step == "prune" and "+--seq_length 4096" in ch[0].note


def test_renamed_script_is_a_change_and_a_moved_one_is_removed_plus_added():
    fixed = lambda n, t: t.replace("distill_minitron.py", "distill.py").replace("examples/llm_ptq/", "examples/hf_ptq/")  # noqa: E731
    d = {f"{x.step}: {x.id}": x for x in drift.compare(recipes(), readme(fixed))}
    assert d["distill: torchrun megatron_bridge/distill_minitron.py"].status == "CHANGED"
    assert d["quantize: python llm_ptq/hf_ptq.py"].status == "REMOVED"
    assert d["README: python hf_ptq/hf_ptq.py"].status == "ADDED"


def test_removed_block():
    d = drift.compare(recipes(), readme(lambda n, t: None if n == "bench" else t))
    assert [x.status for x in d if "vllm" in x.id] == ["REMOVED"]


def test_missing_script_paths(tmp_path):
    (tmp_path / "examples" / "megatron_bridge").mkdir(parents=True)
    (tmp_path / "examples" / "megatron_bridge" / "prune_minitron.py").write_text("")
    (tmp_path / "examples" / "megatron_bridge" / "distill.py").write_text("")
    missing = {x.id for x in drift.missing_paths([as_tutorial(p) for p in RECIPES.glob("*.sh")], tmp_path, None)}
    assert "/opt/Model-Optimizer/examples/megatron_bridge/distill_minitron.py" in missing
    assert "/opt/Model-Optimizer/examples/llm_ptq/hf_ptq.py" in missing
    assert "/opt/Model-Optimizer/examples/megatron_bridge/prune_minitron.py" not in missing


@pytest.mark.parametrize("changed,code", [(False, 0), (True, 1)])
def test_cli(tmp_path, changed, code):
    f = tmp_path / "README.md"
    f.write_text(readme((lambda n, t: t.replace("--mbs 4", "--mbs 2")) if changed else (lambda n, t: t)))
    p = subprocess.run([sys.executable, "-m", "checks", "drift", "--readme", f], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == code, p.stdout + p.stderr
    assert ("CHANGED" in p.stdout) == changed
