"""The Containerfile, checked without a Docker engine: linted, parsed, and held to versions.env."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CF = (ROOT / "Containerfile").read_text()


def pins() -> dict[str, str]:
    return dict(l.split("=", 1) for l in (ROOT / "versions.env").read_text().splitlines() if l and not l.startswith("#"))


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", "\n".join(l for l in CF.splitlines() if not l.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", text, re.M)]


def test_hadolint_has_nothing_to_say():
    hadolint = Path(sys.executable).parent / "hadolint"
    p = subprocess.run([str(hadolint), "--no-color", str(ROOT / "Containerfile")], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout + p.stderr
    # Suppressions would need a reason beside them; there are none.
    assert "hadolint ignore" not in CF


def test_base_image_and_arg_defaults_are_the_pins():
    ins = instructions()
    args = dict(a.split("=", 1) for i, a in ins if i == "ARG" and "=" in a)
    p = pins()
    assert ins[0] == ("ARG", f"BASE_IMAGE={p['BASE_IMAGE']}") and ins[1] == ("FROM", "${BASE_IMAGE}")
    assert p["BASE_IMAGE"] == "nvcr.io/nvidia/nemo:26.02" and p["MODELOPT_REF"] == "0.44.0"
    for key in ("MODELOPT_REF", "VLLM_VERSION", "LM_EVAL_VERSION", "NEMO_EVALUATOR_LAUNCHER_VERSION", "MEGATRON_BRIDGE_VERSION"):
        assert args[key] == p[key], key


def test_every_pin_is_used_and_labelled():
    label = " ".join(a for i, a in instructions() if i == "LABEL")
    for key in ("MODELOPT_REF", "VLLM_VERSION", "LM_EVAL_VERSION", "NEMO_EVALUATOR_LAUNCHER_VERSION", "BASE_IMAGE", "BASE_DIGEST",
                "MEGATRON_BRIDGE_VERSION"):
        assert "${" + key + "}" in label, key
    runs = " ".join(a for i, a in instructions() if i == "RUN")
    assert '"vllm==${VLLM_VERSION}"' in runs and '"nemo-evaluator-launcher[all]==${NEMO_EVALUATOR_LAUNCHER_VERSION}"' in runs
    assert re.search(r"(?<!-m )\bpip install", runs) is None, "inside NeMo images pip runs as `python -m pip`"


def test_modelopt_comes_after_the_heavy_layers():
    ins = instructions()
    first_use = next(k for k, (i, a) in enumerate(ins) if i == "ARG" and a.startswith("MODELOPT_REF"))
    heavy = [k for k, (i, a) in enumerate(ins) if i == "RUN" and ("vllm==" in a or "nemo-evaluator-launcher" in a)]
    assert heavy and max(heavy) < first_use
    kit = next(k for k, (i, a) in enumerate(ins) if i == "COPY" and a.startswith("checks/"))
    assert kit > first_use  # the kit changes most often: last


def test_vllm_lives_in_its_own_venv():
    runs = [a for i, a in instructions() if i == "RUN"]
    vllm = next(a for a in runs if "vllm==" in a)
    assert vllm.startswith("python3 -m venv /opt/vllm") and "/opt/vllm/bin/python -m pip install" in vllm
    assert "ln -s /opt/vllm/bin/vllm /usr/local/bin/vllm" in vllm


def test_readme_and_recipes_state_the_same_versions():
    readme = (ROOT / "README.md").read_text()
    p = pins()
    for key, value in p.items():
        assert f"| `{key}` | `{value}` |" in readme, key
    assert f'pip install "nemo-evaluator-launcher[all]=={p["NEMO_EVALUATOR_LAUNCHER_VERSION"]}"' in \
        (ROOT / "recipes" / "tutorial" / "eval.sh").read_text()
    assert f"Version: {p['NEMO_EVALUATOR_LAUNCHER_VERSION']}" in (ROOT / "recipes" / "errata.yaml").read_text()


def test_make_image_passes_the_pins_and_the_requested_ref():
    out = subprocess.run(["make", "-n", "image", "MODELOPT_REF=0.45.0", "IMAGE=t:1"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert "--image t:1 --modelopt-ref 0.45.0" in out
    argv = subprocess.run([sys.executable, "scripts/image.py", "build", "--image", "t:1", "--modelopt-ref", "0.45.0",
                           "--dry-run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--build-arg MODELOPT_REF=0.45.0" in argv and f"--build-arg VLLM_VERSION={pins()['VLLM_VERSION']}" in argv


def test_image_check_looks_for_the_scripts_the_recipes_run_after_errata():
    argv = subprocess.run([sys.executable, "scripts/image.py", "check", "--image", "t:1", "--modelopt-ref", "0.44.0",
                           "--dry-run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--path=/opt/Model-Optimizer/examples/megatron_bridge/distill.py" in argv and "distill_minitron" not in argv
    assert "--path=/opt/Megatron-Bridge/examples/conversion/convert_checkpoints.py" in argv


@pytest.mark.parametrize("target", ["image", "image-check"])
def test_no_docker_engine_is_said_plainly(target):
    p = subprocess.run(["make", target], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "no Docker engine reachable" in p.stderr or "no docker CLI" in p.stderr
