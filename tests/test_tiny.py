"""The tiny tier is hermetic: every step runs offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1, set by the
profile's `offline: true` and passed by every runner), its commands name only local paths, its eval task and
MMLU stand-in are shipped, and scripts/tiny_model.py finds a NemotronHConfig under transformers 5.x and 4.x
(stand-in classes; the real 5.x build of the teacher is in tests/test_tiers.py)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kit_env import DOUBLES, ROOT, make

sys.path.insert(0, str(ROOT / "scripts"))

import tiny_model  # noqa: E402
from kitlib import launchers, profile, runner  # noqa: E402

TINY = ROOT / "recipes" / "tiny"
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# Hub names the tiny tier used to reach for (calibration, lambada, the 9B) and how a Hub address looks. (cais/mmlu
# appears, on purpose, as the local directory data.sh fills: `datasets` loads it before it would ask the Hub.)
HUB = re.compile(r"nvidia/|cnn_dailymail|nemotron-post-training|lambada|https?://|hf\.co|huggingface\.co")


def commands(tmp_path, ref: str) -> dict[str, str]:
    p = subprocess.run([sys.executable, "scripts/kit.py", "--run-dir", str(tmp_path / "runs" / "t"), "--profile", "tiny",
                        "--modelopt-ref", ref, "commands"], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


@pytest.mark.parametrize("ref", ["0.44.0", "0.46.0"])
def test_rendered_commands_name_only_local_paths(tmp_path, ref):
    cmds = commands(tmp_path, ref)
    assert set(cmds) == {"data", "prune", "distill", "convert", "eval/tiny", "quantize", "bench/tiny-bf16", "bench/tiny-fp8"}
    allowed = (str(tmp_path / "runs" / "t"), str(ROOT), "/opt/Model-Optimizer/", "/opt/Megatron-Bridge/")
    for unit, cmd in cmds.items():
        assert not HUB.search(cmd), (unit, HUB.search(cmd).group(0))
        for path in re.findall(r"(?<![\w.])/[\w./-]+", cmd):
            assert path.startswith(allowed), (unit, path)
    # the inputs the tools would otherwise fetch: calibration (prune, quantize) and the eval task are the kit's
    assert "--calib_dataset_name calib.jsonl" in cmds["prune"]
    assert f"--dataset {ROOT}/recipes/tiny/corpus.jsonl" in cmds["quantize"]
    assert f"--include_path {ROOT}/recipes/tiny/eval" in cmds["eval/tiny"] and "--tasks tiny_kit" in cmds["eval/tiny"]
    assert "--seed 1234" in cmds["data"] and "--seed 0" in cmds["bench/tiny-fp8"]


def test_every_tiny_recipe_is_offline_and_the_profile_says_so():
    units = profile.load("tiny", profile.context(ROOT / "runs" / "t", ROOT / "data", "/opt/Model-Optimizer"))
    assert units and all(u.offline for u in units)
    for sh in sorted(TINY.glob("*.sh")):
        body = "\n".join(line for line in sh.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not HUB.search(body), (sh.name, HUB.search(body).group(0))


def test_every_runner_passes_the_offline_variables(tmp_path, monkeypatch):
    for k in OFFLINE:
        monkeypatch.delenv(k, raising=False)
    ctx = profile.context(tmp_path / "runs" / "r", tmp_path / "data", "/opt/Model-Optimizer")
    unit = profile.find(profile.load("tiny", ctx), "quantize")
    full = profile.find(profile.load("full", ctx), "quantize/conservative")
    for name in ("local", "docker", "slurm"):
        cfg = runner.Config(run_dir=tmp_path / "runs" / "r", run_id="r", profile="tiny", runner=name, image="img", ctx=ctx,
                            hf_home=str(tmp_path / "hf"), pyxis="0")
        env = runner.child_env(cfg, unit)
        assert {k: env.get(k) for k in OFFLINE} == OFFLINE
        assert not set(OFFLINE) & set(runner.child_env(cfg, full))  # only where the profile says `offline: true`
        sdir = tmp_path / "runs" / "r" / name
        sdir.mkdir(parents=True)
        launch = launchers.launch_argv(cfg, unit, sdir / "command.sh", sdir, env)
        if name == "docker":  # by name: the container gets the kit's values
            pairs = list(zip(launch.argv, launch.argv[1:]))
            assert ("-e", "HF_HUB_OFFLINE") in pairs and ("-e", "HF_DATASETS_OFFLINE") in pairs
    # local and slurm hand `env` to the process itself (sbatch exports it to the job: --export=ALL by default)


@pytest.mark.slow
def test_each_tool_sees_the_offline_variables_under_the_doubles(tmp_path):
    log = tmp_path / "env.jsonl"
    p = make(tmp_path, "steps", PROFILE="tiny", RUN="t", env_extra={"DOUBLE_ENV_LOG": str(log)})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    seen = [s for s in seen if s["tool"] != "nvidia-smi"]  # the kit's own GPU memory sampler
    assert {s["tool"] for s in seen} == {"python", "torchrun", "lm_eval", "vllm"}
    for s in seen:
        assert {k: s["env"][k] for k in OFFLINE} == OFFLINE, s
        for a in s["argv"]:
            assert not HUB.search(a), (s["tool"], a)
    ev = next(s for s in seen if s["tool"] == "lm_eval")
    assert Path(ev["cwd"]) == TINY / "eval"  # where tiny_cloze.yaml's relative data_files resolve
    prune = next(s for s in seen if s["tool"] == "torchrun" and "prune_minitron.py" in " ".join(s["argv"]))
    data = tmp_path / "runs" / "t" / "data"
    assert Path(prune["cwd"]) == data and (data / "calib.jsonl").is_file()
    assert (data / "cais" / "mmlu" / "test.jsonl").is_file() and (data / "teacher" / "config.json").is_file()


# ---- the shipped data: eval task and MMLU stand-in ----

def test_local_eval_task_parses_and_its_data_is_there():
    group = yaml.safe_load((TINY / "eval" / "tiny_kit.yaml").read_text())
    task = yaml.safe_load((TINY / "eval" / "tiny_cloze.yaml").read_text())
    assert group["group"] == "tiny_kit" and group["task"] == ["tiny_cloze"]
    assert task["task"] == "tiny_cloze" and task["dataset_path"] == "json" and task["test_split"] == "test"
    data = TINY / "eval" / task["dataset_kwargs"]["data_files"]["test"]
    rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    assert len(rows) == 32 and all(len(r["text"].split()) >= 3 for r in rows)
    corpus = {json.loads(line)["text"] for line in (TINY / "corpus.jsonl").read_text().splitlines() if line.strip()}
    assert not corpus & {r["text"] for r in rows}  # held out from what the teacher's tokenizer was trained on


def test_the_doubles_lm_eval_finds_the_group_through_include_path(tmp_path):
    argv = [str(DOUBLES / "lm_eval"), "--model", "vllm", "--model_args", "pretrained=/m/x,max_model_len=512",
            "--tasks", "tiny_kit", "--include_path", str(TINY / "eval"), "--output_path", str(tmp_path / "out")]
    p = subprocess.run(argv, cwd=TINY / "eval", capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert set(res["results"]) == {"tiny_kit", "tiny_cloze"} and res["n-samples"]["tiny_cloze"]["original"] == 32
    # elsewhere the relative data file is not found: why the profile runs the step in recipes/tiny/eval
    p = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 1 and "Unable to find" in p.stdout


def test_mmlu_stand_in_has_the_fields_prune_reads():
    card = (TINY / "mmlu" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    (cfg,) = front["configs"]
    assert cfg["config_name"] == "all" and cfg["data_files"] == [{"split": "test", "path": "test.jsonl"}]
    rows = [json.loads(line) for line in (TINY / "mmlu" / "test.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) == 20 and len({r["subject"] for r in rows}) == 4
    assert all(set(r) == {"question", "subject", "choices", "answer"} and 0 <= r["answer"] < len(r["choices"]) for r in rows)


# ---- scripts/tiny_model.py: which NemotronHConfig, which spelling ----

SMALL = dict(num_hidden_layers=7, hidden_size=64, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
             intermediate_size=128, mamba_num_heads=4, mamba_head_dim=16, n_groups=1, ssm_state_size=8, vocab_size=64)


@pytest.mark.slow
def test_transformers_5_native_class_takes_the_pattern():
    transformers = pytest.importorskip("transformers")
    assert int(transformers.__version__.split(".")[0]) >= 5
    cfg_cls, model_cls, source = tiny_model.nemotron_h_classes(None)
    assert cfg_cls.__name__ == "NemotronHConfig" and source == f"transformers {transformers.__version__}"
    spelling, cfg = tiny_model.configure(cfg_cls, "M-M*-M-", **SMALL)
    assert spelling == "hybrid_override_pattern" and tiny_model.held_pattern(cfg) == "M-M*-M-"
    assert len(cfg.layers_block_type) == 7  # 5.x stores the list; the pattern is a computed property


class Hub4x:
    """As the Hub's configuration_nemotron_h.py (what transformers 4.x loads with trust_remote_code): the pattern
    is a plain attribute, and an unknown keyword (layers_block_type) is kept as an attribute too."""

    def __init__(self, hybrid_override_pattern="M-M-M-M*-", **kwargs):
        self.hybrid_override_pattern = hybrid_override_pattern
        self.__dict__.update(kwargs)


class Native53:
    """As transformers 5.3-5.22: stores layers_block_type; an unknown keyword is kept as a plain attribute."""

    def __init__(self, layers_block_type=("mamba", "attention"), **kwargs):
        if not all(t in ("mamba", "mlp", "attention", "moe") for t in layers_block_type):
            raise ValueError(f"invalid layer types {layers_block_type}")
        self.layers_block_type = list(layers_block_type)
        self.__dict__.update({k: v for k, v in kwargs.items() if k != "hybrid_override_pattern"})
        self._pattern_kwarg = kwargs.get("hybrid_override_pattern")


class Native53WithoutMlp:
    """As transformers 5.3-5.5: the pattern keyword is converted, but '-' maps to nothing (KeyError)."""

    def __init__(self, hybrid_override_pattern=None, layers_block_type=None, **kwargs):
        names = {"M": "mamba", "*": "attention", "E": "moe"}
        if hybrid_override_pattern is not None:
            layers_block_type = [names[c] for c in hybrid_override_pattern]
        if any(t not in names.values() for t in layers_block_type or ()):
            raise ValueError(f"invalid layer types {layers_block_type}")
        self.layers_block_type = layers_block_type


def test_4x_remote_code_config_gets_hybrid_override_pattern():
    spelling, cfg = tiny_model.configure(Hub4x, "M-M*-M-", **SMALL)
    assert spelling == "hybrid_override_pattern" and cfg.hybrid_override_pattern == "M-M*-M-"


def test_a_class_that_keeps_the_keyword_but_not_the_pattern_gets_the_block_list():
    spelling, cfg = tiny_model.configure(Native53, "M-M*-M-", **SMALL)
    assert spelling == "layers_block_type" and cfg.layers_block_type == ["mamba", "mlp", "mamba", "attention", "mlp", "mamba", "mlp"]


def test_no_usable_class_is_a_message_naming_what_was_tried():
    with pytest.raises(tiny_model.NoNemotronH) as e:
        tiny_model.configure(Native53WithoutMlp, "M-M*-M-", **SMALL)
    msg = str(e.value)
    assert "cannot express the pattern 'M-M*-M-'" in msg and "KeyError" in msg and "ValueError" in msg
    assert "use transformers >= 5.6, or the Hub's remote code with --remote-code DIR" in msg
    with pytest.raises(tiny_model.NoNemotronH, match="no NemotronH layer has: Q"):
        tiny_model.configure(Hub4x, "MQ")


@pytest.mark.slow
def test_remote_code_directory_is_loaded_and_checked(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    code = tmp_path / "code"
    code.mkdir()
    with pytest.raises(tiny_model.NoNemotronH, match="lacks configuration_nemotron_h.py, modeling_nemotron_h.py"):
        tiny_model.nemotron_h_classes(code)
    # stand-ins written for this test (not the Hub's code): a config that takes hybrid_override_pattern, as 4.x's does
    (code / "configuration_nemotron_h.py").write_text(
        "from transformers import PretrainedConfig\n\n\nclass NemotronHConfig(PretrainedConfig):\n"
        "    model_type = 'nemotron_h_standin'\n\n"
        "    def __init__(self, hybrid_override_pattern='M*', **kwargs):\n"
        "        self.hybrid_override_pattern = hybrid_override_pattern\n        super().__init__(**kwargs)\n")
    (code / "modeling_nemotron_h.py").write_text(
        "from transformers import PreTrainedModel\n\nfrom .configuration_nemotron_h import NemotronHConfig\n\n\n"
        "class NemotronHForCausalLM(PreTrainedModel):\n    config_class = NemotronHConfig\n")
    cfg_cls, model_cls, source = tiny_model.nemotron_h_classes(code)
    assert source == f"remote code in {code}" and model_cls.__name__ == "NemotronHForCausalLM"
    spelling, cfg = tiny_model.configure(cfg_cls, "M-M*-M-", **SMALL)
    assert spelling == "hybrid_override_pattern" and cfg.hybrid_override_pattern == "M-M*-M-"
    cfg.save_pretrained(tmp_path / "saved")  # what the teacher carries, so the tools load it offline
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["auto_map"]["AutoConfig"] == "configuration_nemotron_h.NemotronHConfig"
    assert (tmp_path / "saved" / "configuration_nemotron_h.py").is_file()


def test_without_nemotron_h_the_script_exits_2_with_a_message(tmp_path):
    """transformers 4.57.6 (Megatron-Bridge 0.3.0's lock, the pinned image) has no native NemotronHConfig."""
    stub = ("import sys, types, runpy; m = types.ModuleType('transformers'); m.__version__ = '4.57.6'; "
            "sys.modules['transformers'] = m; sys.argv = ['tiny_model.py', '--out', sys.argv[1]]; "
            "runpy.run_path('scripts/tiny_model.py', run_name='__main__')")
    p = subprocess.run([sys.executable, "-c", stub, str(tmp_path / "t")], cwd=ROOT, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "NEMOTRON_H_REMOTE_CODE": ""})
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "transformers 4.57.6 has no NemotronHConfig" in p.stderr and "--remote-code DIR" in p.stderr
    assert not (tmp_path / "t").exists()
