"""`checks drift --gate` on real upstream trees (tests/fixtures/upstream/, PROVENANCE.md there): what each version
will do with the tutorial's commands, before any GPU time. Exit 0 means "this version will run the tutorial's
commands": scripts and flags (rendered with that version's errata), imports against the image's Megatron-Bridge
0.3.0 / megatron-core 0.16.0, the evaluator config's metrics against the goldens, and (with the pinned launcher
built in .envs/launcher) the launcher's own --dry-run.

The real launcher is needed for the dry-run tests: they skip, saying so, when .envs/launcher is absent, unless
KIT_REQUIRE_LAUNCHER=1 (CI), where its absence fails."""

import json
import os
import subprocess
import sys

import pytest

from checks import goldens as G
from checks.drift import evalcfg, launcher as L
from conftest import ROOT

UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"
LAUNCHER = ROOT / ".envs" / "launcher" / "bin" / "nemo-evaluator-launcher"
REFS = ["0.44.0", "0.45.0", "0.46.0", "main"]
VERSION = {"0.44.0": "0.44.0", "0.45.0": "0.45.0", "0.46.0": "0.46.0", "main": "0.47.0.dev0"}


def need_launcher():
    if not LAUNCHER.exists():
        if os.environ.get("KIT_REQUIRE_LAUNCHER") == "1":
            pytest.fail(f"KIT_REQUIRE_LAUNCHER=1 but {LAUNCHER} is absent: {L.BUILD}")
        pytest.skip(f"the pinned nemo-evaluator-launcher is not built ({L.BUILD}); set KIT_REQUIRE_LAUNCHER=1 to fail instead")


def rendered(tmp_path, ref):
    """The full profile's commands as the kit renders them for that ModelOpt version (errata applied)."""
    p = subprocess.run([sys.executable, "scripts/kit.py", "--run-dir", str(tmp_path / "runs" / "x"), "--runner", "local",
                        "--profile", "full", "--modelopt-ref", ref, "--modelopt-version", VERSION[ref],
                        "--slurm-host", "login1", "--slurm-account", "acct", "commands"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    f = tmp_path / f"commands-{ref}.json"
    f.write_text(p.stdout)
    return f


def gate(tmp_path, ref, *extra, launcher=None):
    argv = [sys.executable, "-m", "checks", "drift", "--gate", "--commands", str(rendered(tmp_path, ref)),
            "--modelopt-root", str(UPSTREAM / "Model-Optimizer" / ref), "--bridge-root", str(UPSTREAM / "Megatron-Bridge" / "v0.3.0"),
            "--expected", "expected/full.yaml", "--packages", str(UPSTREAM / "packages"),
            "--launcher", str(launcher or tmp_path / "no-launcher-here"), "--json", str(tmp_path / "gate.json"), *extra]
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"})
    found = json.loads((tmp_path / "gate.json").read_text())["findings"] if (tmp_path / "gate.json").exists() else []
    return p, found


def by(found, status):
    return {(f["step"], f["id"]) for f in found if f["status"] == status}


@pytest.mark.parametrize("ref", REFS)
def test_eval_goldens_against_the_config_at_each_ref(ref):
    """The goldens are the seed's table (LiveCodeBench avg-of-8, AIME avg-of-64): producible at 0.44.0 only."""
    text = (UPSTREAM / "Model-Optimizer" / ref / evalcfg.EVAL_YAML).read_text()
    found = {f.id: f for f in evalcfg.check(text, "cfg", G.load(ROOT / "expected" / "full.yaml"), "expected/full.yaml")}
    missing = sorted(k for k, f in found.items() if f.status == "MISSING")
    if ref == "0.44.0":
        assert missing == [] and len(found) == 7  # 6 tasks + Math 500 (commented out, the MATH500=1 addition)
    else:
        assert missing == ["aime25_pass_at_1_avg-of-64_symbolic_correct", "livecodebench_pass_at_1_avg-of-8_accuracy"]
        lcb = found["livecodebench_pass_at_1_avg-of-8_accuracy"]
        assert lcb.measured == "livecodebench_pass_at_1_avg-of-4_accuracy" and "num_repeats changed" in lcb.note
        assert "8 golden(s) in expected/full.yaml" in lcb.note
        assert found["aime25_pass_at_1_avg-of-64_symbolic_correct"].measured == "aime25_pass_at_1_avg-of-32_symbolic_correct"


def test_metric_names_follow_num_repeats():
    assert evalcfg.task_metric({"name": "ns_gpqa", "nemo_evaluator_config": {"config": {"params": {"extra": {"num_repeats": 8}}}}}) \
        == ("ns_gpqa", "gpqa_pass_at_1_avg-of-8_symbolic_correct")
    assert evalcfg.task_metric({"name": "ns_ifeval"}) == ("ns_ifeval", "ifeval_pass_at_1_average_score")
    assert evalcfg.task_metric({"name": "something_new"}) is None


@pytest.mark.parametrize("ref,code", [("0.44.0", 2), ("0.45.0", 2), ("0.46.0", 2), ("main", 2)])
def test_gate_without_the_launcher_is_an_error_not_a_pass(tmp_path, ref, code):
    p, found = gate(tmp_path, ref)
    assert p.returncode == code, p.stdout + p.stderr
    (e,) = [f for f in found if f["status"] == "ERROR"]
    assert e["id"] == "launcher --dry-run" and "python3 -m venv .envs/launcher" in e["note"]


@pytest.mark.parametrize("ref", REFS)
def test_gate_findings_per_version_before_the_dry_run(tmp_path, ref):
    """Everything but the launcher: the scripts and flags (rendered with errata), imports, and goldens."""
    _, found = gate(tmp_path, ref)
    failing = by(found, "MISSING") | by(found, "FAIL")
    want = set()
    if ref != "0.44.0":
        want |= {("eval", "aime25_pass_at_1_avg-of-64_symbolic_correct"), ("eval", "livecodebench_pass_at_1_avg-of-8_accuracy")}
    if ref in ("0.46.0", "main"):
        line = 43 if ref == "0.46.0" else 44
        want.add(("distill", f"examples/megatron_bridge/distill.py:{line} from megatron.bridge.training.config import ValidationConfig"))
    assert failing == want, failing ^ want
    assert ("distill", "examples/megatron_bridge/distill.py") in by(found, "SAME")  # flags: every one accepted
    assert any(f["id"].endswith("imports megatron.core") and f["status"] == "SAME" for f in found)
    readme_only = [f for f in found if f["step"] == "README"]
    assert all(f["status"] in ("SKIP", "SAME") for f in readme_only)  # README text: shown, not gating


@pytest.mark.parametrize("ref,code", [("0.44.0", 0), ("0.45.0", 1), ("0.46.0", 1), ("main", 1)])
def test_gate_with_the_pinned_launcher(tmp_path, ref, code):
    """The faithful plan at the pinned version passes the gate, dry-run included; later versions do not."""
    need_launcher()
    p, found = gate(tmp_path, ref, launcher=LAUNCHER)
    assert p.returncode == code, p.stdout[-3000:] + p.stderr[-2000:]
    (d,) = [f for f in found if f["id"] == "launcher --dry-run"]
    assert d["status"] == "SAME" and "nemo-evaluator-launcher 0.1.90" in d["note"], d


def test_dry_run_of_the_yaml_as_written_stops_with_the_launchers_own_message(tmp_path):
    """Without the erratum, the pinned 0.1.90 refuses the tutorial's yaml, and the kit says why in its words."""
    need_launcher()
    text = (UPSTREAM / "Model-Optimizer" / "0.44.0" / evalcfg.EVAL_YAML).read_text()
    cmd = json.loads(rendered(tmp_path, "0.44.0").read_text())["eval/iter_12800"]
    plain = cmd.split(" -o evaluation.env_vars.HF_TOKEN=host:HF_TOKEN")[0] + "\n"
    (f,) = L.dry_run(plain, text, "Model-Optimizer 0.44.0", LAUNCHER, "0.1.90")
    assert f.status == "FAIL" and f.measured.startswith("Env var value 'HF_TOKEN' must have an explicit prefix. Use 'host:HF_TOKEN'")
    (ok,) = L.dry_run(cmd, text, "Model-Optimizer 0.44.0", LAUNCHER, "0.1.90")
    assert ok.status == "SAME"


def test_dry_run_environment_keeps_secrets_out(tmp_path):
    cmd = ("export HF_TOKEN=hf_real\nexport HF_HOME=/cache\nnemo-evaluator-launcher run --config nemo_evaluator.yaml "
           "-o a=b -o evaluation.tasks.0.env_vars.JUDGE_API_KEY=host:JUDGE_API_KEY\n")
    (line,) = L.launch_lines(cmd)
    env = L._environment(cmd, line, tmp_path)
    assert env["HF_TOKEN"] == "kit-dry-run-placeholder" and env["HF_HOME"] == "/cache" and env["HOME"] == str(tmp_path)
    assert env["JUDGE_API_KEY"] == "kit-dry-run-placeholder"  # host: variables the runner passes, not the step's exports
    assert line.startswith("nemo-evaluator-launcher run --config nemo_evaluator.yaml -o a=b ")


# ---- the MATH500=1 addition: its generated config is dry-run too, with its own prefixes ----

def rendered_math500(tmp_path, ref="0.44.0"):
    p = subprocess.run([sys.executable, "scripts/kit.py", "--run-dir", str(tmp_path / "runs" / "x"), "--runner", "local",
                        "--profile", "full", "--modelopt-ref", ref, "--modelopt-version", VERSION[ref], "--enable", "MATH500",
                        "--slurm-host", "login1", "--slurm-account", "acct", "commands"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["eval/iter_12800"]


def test_math500_launch_is_dry_run_as_the_step_makes_its_config(tmp_path):
    """The addition's config is made by scripts/enable_task.py from the tutorial's yaml: the gate makes it the same
    way and dry-runs it; 0.1.90 needs the prefixes of eval-math500-env-var-prefixes (JUDGE_API_KEY among them)."""
    need_launcher()
    cmd = rendered_math500(tmp_path)
    assert "-o evaluation.tasks.0.env_vars.JUDGE_API_KEY=host:JUDGE_API_KEY" in cmd
    text = (UPSTREAM / "Model-Optimizer" / "0.44.0" / evalcfg.EVAL_YAML).read_text()
    found = {f.id: f for f in L.dry_run(cmd, text, "Model-Optimizer 0.44.0", LAUNCHER, "0.1.90")}
    assert {k: f.status for k, f in found.items()} == {"launcher --dry-run": "SAME",
                                                        "launcher --dry-run nemo_evaluator_math500.yaml": "SAME"}
    plain = cmd.replace(" -o evaluation.tasks.0.env_vars.JUDGE_API_KEY=host:JUDGE_API_KEY", "")
    (f,) = [f for f in L.dry_run(plain, text, "Model-Optimizer 0.44.0", LAUNCHER, "0.1.90") if "math500" in f.id]
    assert f.status == "FAIL" and f.measured.startswith("Env var value 'JUDGE_API_KEY' must have an explicit prefix")


def test_the_double_dry_runs_as_the_pinned_launcher_does(tmp_path):
    """tests/doubles' launcher answers --version and --dry-run with the real 0.1.90 lines
    (tests/fixtures/real/nemo-evaluator/launcher-0.1.90_dry-run.txt): the same verdicts as the real one."""
    double = ROOT / "tests" / "doubles" / "bin" / "nemo-evaluator-launcher"
    assert L.installed_version(double) == "0.1.90"
    text = (UPSTREAM / "Model-Optimizer" / "0.44.0" / evalcfg.EVAL_YAML).read_text()
    cmd = rendered_math500(tmp_path)
    plain = cmd.split(" -o evaluation.env_vars.HF_TOKEN=host:HF_TOKEN")[0] + "\n"
    for launcher, real in ((double, False), (LAUNCHER, True)):
        if real and not LAUNCHER.exists():
            continue
        ok = L.dry_run(cmd, text, "cfg", launcher, "0.1.90")
        assert [f.status for f in ok] == ["SAME", "SAME"], (launcher, [f.measured for f in ok])
        (bad,) = L.dry_run(plain, text, "cfg", launcher, "0.1.90")
        assert bad.status == "FAIL" and bad.measured.startswith("Env var value 'HF_TOKEN' must have an explicit prefix")
    wrong = L.dry_run(cmd, text, "cfg", double, "0.1.82")
    assert [f.status for f in wrong] == ["ERROR"] and "the pin is 0.1.82" in wrong[0].note


# ---- the import check from the registry: the pinned version, then later ones until one has the name ----

def _wheel(d, dist, version, files):
    import zipfile

    name = dist.replace("-", "_")
    with zipfile.ZipFile(d / f"{name}-{version}-py3-none-any.whl", "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
        z.writestr(f"{name}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        z.writestr(f"{name}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{name}-{version}.dist-info/RECORD", "")


def test_registry_fetches_the_pin_then_later_versions_in_order(tmp_path):
    """pip itself, against a local index (--no-index --find-links) built from the real extracts: megatron-bridge
    0.3.0 (the pin), 0.3.1 (0.3.0's config.py: no ValidationConfig) and 0.4.0 (has it). The MISSING names 0.4.0,
    after looking at 0.3.1; the wheels land in the cache."""
    from checks.drift import imports as I
    from checks.drift.packages import Registry

    index = tmp_path / "index"
    index.mkdir()
    mods = ["megatron/bridge/__init__.py", "megatron/bridge/training/config.py"]
    pkg = UPSTREAM / "packages" / "megatron-bridge"
    for version, src in (("0.3.0", "0.3.0"), ("0.3.1", "0.3.0"), ("0.4.0", "0.4.0")):
        _wheel(index, "megatron-bridge", version, {m: (pkg / src / m).read_text() for m in mods if (pkg / src / m).is_file()})
    reg = Registry(tmp_path / "cache", fetch=True, index=["--no-index", "--find-links", str(index)])
    pinned = reg.package("megatron-bridge", "0.3.0")
    assert pinned is not None and pinned.where.name == "megatron_bridge-0.3.0-py3-none-any.whl"
    later = reg.later("megatron-bridge", "0.3.0")
    assert later.versions == ["0.3.1", "0.4.0"]
    src = (UPSTREAM / "Model-Optimizer" / "0.46.0" / "examples/megatron_bridge/distill.py").read_text()
    imps = [i for i in I.script_imports(src) if i.module == "megatron.bridge.training.config"]
    (m,) = [I._missing("distill", "Model-Optimizer", "distill.py", i, I.resolve(i, pinned), pinned, later)
            for i in imps if I.resolve(i, pinned)]
    assert m.expected == "megatron-bridge 0.4.0" and "0.4.0 is the first later version that has it" in m.note
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "megatron_bridge-0.3.0-py3-none-any.whl", "megatron_bridge-0.3.1-py3-none-any.whl", "megatron_bridge-0.4.0-py3-none-any.whl"]
    missing = Registry(tmp_path / "cache2", fetch=True, index=["--no-index", "--find-links", str(index)])
    assert missing.package("megatron-bridge", "9.9.9") is None and "megatron-bridge==9.9.9" in missing.problems


def _online() -> bool:
    import socket

    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def test_gate_names_the_version_that_has_the_name_from_the_real_registry(tmp_path):
    """For real: the gate at 0.46.0 with --fetch downloads megatron-bridge 0.3.0 and megatron-core 0.16.0 (the image's
    pins) from PyPI, and, for the missing ValidationConfig, the registry's later versions in order until 0.4.0.
    Needs the registry (CI: KIT_REQUIRE_REGISTRY=1 makes its absence a failure)."""
    if not _online():
        if os.environ.get("KIT_REQUIRE_REGISTRY") == "1":
            pytest.fail("KIT_REQUIRE_REGISTRY=1 but pypi.org is not reachable")
        pytest.skip("pypi.org not reachable (set KIT_REQUIRE_REGISTRY=1 to fail instead)")
    cache = tmp_path / "packages"
    argv = [sys.executable, "-m", "checks", "drift", "--gate", "--commands", str(rendered(tmp_path, "0.46.0")),
            "--modelopt-root", str(UPSTREAM / "Model-Optimizer" / "0.46.0"), "--packages", str(cache), "--fetch",
            "--launcher", str(tmp_path / "none"), "--json", str(tmp_path / "g.json")]
    subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    found = json.loads((tmp_path / "g.json").read_text())["findings"]
    (m,) = [f for f in found if f["status"] == "MISSING" and "ValidationConfig" in f["id"]]
    assert m["expected"] == "megatron-bridge 0.4.0" and m["measured"] == "megatron-bridge 0.3.0"
    names = sorted(p.name for p in cache.iterdir())
    assert "megatron_bridge-0.3.0-py3-none-any.whl" in names and "megatron_bridge-0.4.0-py3-none-any.whl" in names
    assert any(n.startswith("megatron_core-0.16.0-cp312") for n in names)
    assert any(f["id"].endswith("imports megatron.core") and f["status"] == "SAME" for f in found)
    (t,) = [f for f in found if f["id"].endswith("imports transformers")]
    assert t["status"] == "SKIP" and "versions.env pins no TRANSFORMERS_VERSION" in t["note"]


# ---- changed defaults against the baseline's checkout, judged by the goldens' relies_on ----

@pytest.mark.parametrize("ref", ["0.45.0", "0.46.0", "main"])
def test_changed_defaults_since_0_44_are_judged_by_the_goldens(tmp_path, ref):
    """On the real trees: --prune_score_func mmlu_10pct -> mmlu_10pct_bs1 (0.45.0+) changes the score the prune
    goldens were measured with: CHANGED, naming them; hf_ptq.py --calib_size 512 -> 1024 (0.45.0+): no golden relies
    on it, DIFFERS; --calib_dataset_name (0.46.0+) became None, resolved in the script's body: SKIP, said."""
    _, found = gate(tmp_path, ref, "--baseline-modelopt-root", str(UPSTREAM / "Model-Optimizer" / "0.44.0"))
    defaults = {(f["step"], f["id"]): f for f in found if f["id"].startswith("--")}
    score = defaults[("prune", "--prune_score_func")]
    assert score["status"] == "CHANGED" and (score["expected"], score["measured"]) == ("mmlu_10pct", "mmlu_10pct_bs1")
    assert "prune.candidate_*_score, prune.best_subnet_*" in score["note"]
    for variant in ("quantize/conservative", "quantize/aggressive"):
        c = defaults[(variant, "--calib_size")]
        assert c["status"] == "DIFFERS" and (c["expected"], c["measured"]) == ("512", "1024")
    ds = defaults.get(("prune", "--calib_dataset_name"))
    if ref == "0.45.0":
        assert ds is None
    else:
        assert ds["status"] == "SKIP" and ds["expected"] == "nemotron-post-training-dataset-v2"
        assert "the script resolves in its body" in ds["note"] and "prune.dropped_layers" in ds["note"]


def test_tiny_goldens_rely_on_no_changed_default(tmp_path):
    """The tiny tier's goldens are structural: its changed defaults are shown (DIFFERS), none gates."""
    cmds = tmp_path / "tiny.json"
    cmds.write_text(subprocess.run([sys.executable, "scripts/kit.py", "--run-dir", str(tmp_path / "r"), "--runner", "local",
                                    "--profile", "tiny", "--modelopt-ref", "0.45.0", "commands"], cwd=ROOT,
                                   capture_output=True, text=True, check=True).stdout)
    p = subprocess.run([sys.executable, "-m", "checks", "drift", "--flags-only", "--commands", str(cmds), "--modelopt-root",
                        str(UPSTREAM / "Model-Optimizer" / "0.45.0"), "--baseline-modelopt-root",
                        str(UPSTREAM / "Model-Optimizer" / "0.44.0"), "--expected", "expected/tiny.yaml", "--json",
                        str(tmp_path / "d.json")], cwd=ROOT, capture_output=True, text=True)
    found = json.loads((tmp_path / "d.json").read_text())["findings"]
    assert {(f["id"], f["status"]) for f in found if f["id"].startswith("--")} == {("--prune_score_func", "DIFFERS")}
    assert p.returncode == 0, p.stdout[-2000:]


def test_relies_on_must_name_goldens(tmp_path):
    from checks.errors import CheckError

    f = tmp_path / "g.yaml"
    f.write_text("schema: 1\nrelies_on:\n  prune_minitron.py --prune_score_func: [prune.candidate_*_scor]\n"
                 "prune:\n- {id: candidate_1_score, path: a, expect: 1, source: s}\n")
    with pytest.raises(CheckError, match="matches no golden"):
        G.load(f)
    f.write_text("schema: 1\nrelies_on:\n  prune_score_func: [prune.candidate_1_score]\n"
                 "prune:\n- {id: candidate_1_score, path: a, expect: 1, source: s}\n")
    with pytest.raises(CheckError, match="malformed `relies_on` key"):
        G.load(f)


def test_baseline_checkout_from_the_manifest(tmp_path):
    """make regress finds the baseline's checkout: the path a RUNNER=local run recorded, copied (examples/*.py and
    .kit-ref); without one, a SKIP line that says what to pass; not a run directory: exit 2."""
    import shutil

    src = tmp_path / "mo-0.44.0"
    shutil.copytree(UPSTREAM / "Model-Optimizer" / "0.44.0", src, symlinks=True)
    (src / ".kit-ref").write_text("0.44.0 c897fbeaaff66d53d61033f107885b7c5432f235\n")
    base = tmp_path / "base"
    base.mkdir()
    (base / "manifest.json").write_text(json.dumps({"runner": "local", "checkouts": {"modelopt": str(src)},
                                                    "versions": {"modelopt": "0.44.0"}}))
    run = lambda *a: subprocess.run([sys.executable, "scripts/baseline_checkout.py", *map(str, a)], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True)
    p = run(base, tmp_path / "out")
    got = tmp_path / "out" / "Model-Optimizer"
    assert p.returncode == 0 and p.stdout.strip() == str(got.resolve())
    assert (got / "examples/megatron_bridge/prune_minitron.py").read_text() == (src / "examples/megatron_bridge/prune_minitron.py").read_text()
    (src / ".kit-ref").write_text("0.46.0 43fd41a58d52c4e6e5dec1d1ff5989ecc737ae1a\n")  # the checkout moved since
    p = run(base, tmp_path / "out")
    assert p.stdout.startswith("SKIP:the baseline ran Model-Optimizer 0.44.0, but the checkout it names now holds 0.46.0")
    (base / "manifest.json").write_text(json.dumps({"runner": "docker", "versions": {"modelopt": "0.44.0"}}))
    assert run(base, tmp_path / "out").stdout.startswith("SKIP:") and "BASELINE_MODELOPT_DIR" in run(base, tmp_path / "o").stdout
    (base / "manifest.json").unlink()
    assert run(base, tmp_path / "out").returncode == 2


# ---- Megatron-Bridge v0.6.0: convert_checkpoints.py is gone, scripts/conversion/convert.sh replaces it ----

MB6 = UPSTREAM / "Megatron-Bridge" / "v0.6.0"


def _convert(bridge):
    sys.path.insert(0, str(ROOT / "scripts"))
    from kitlib import profile as P
    from kitlib.render import render
    from kitlib.versions import component_versions

    ctx = P.context(ROOT / "runs" / "x", ROOT / "data", "/opt/Model-Optimizer")
    return render(P.find(P.load("full", ctx), "convert"), ctx, {**component_versions("0.44.0"), "megatron_bridge": bridge})


def test_convert_sh_takes_its_options_from_arguments_py():
    """What ENTRY_POINTS says, on the real tree: convert.sh execs setup_conversion.py, which parses with
    arguments.build_parser(include_execution=True)."""
    from checks.drift.flags import ENTRY_POINTS

    assert ENTRY_POINTS[("bridge", "scripts/conversion/convert.sh")] == "scripts/conversion/arguments.py"
    sh = (MB6 / "scripts/conversion/convert.sh").read_text().split("\n")
    assert sh[55].startswith("exec uv run") and '"${SCRIPT_DIR}/setup_conversion.py" "$@"' in sh[55]
    setup = (MB6 / "scripts/conversion/setup_conversion.py").read_text().split("\n")
    assert setup[26] == "from arguments import build_parser, conversion_worker_args"
    assert setup[228].strip() == "args = build_parser(include_execution=True).parse_args(argv)"
    assert os.access(MB6 / "scripts/conversion/convert.sh", os.X_OK)  # mode 100755 upstream: run as is


def test_megatron_bridge_0_6_0_conversion(tmp_path):
    """As written (and as rendered for the image's 0.3.0), the command calls a script v0.6.0 does not have: MISSING,
    naming Megatron-Bridge and the file, pointing at scripts/conversion/ before other scripts with similar names.
    Rendered for Megatron-Bridge 0.6.0 (the erratum's second expression), convert.sh export takes every flag."""
    from checks.drift.flags import flags

    (m,) = flags({"convert": _convert("0.3.0").command}, None, MB6)
    assert m.status == "MISSING" and m.where == "Megatron-Bridge:examples/conversion/convert_checkpoints.py"
    assert "a directory of the same name exists: scripts/conversion/ (arguments.py, convert.sh" in m.note
    r = _convert("0.6.0")
    (ok,) = flags({"convert": r.command}, None, MB6)
    assert ok.status == "SAME" and ok.id == "scripts/conversion/convert.sh export", ok.note
    assert "options declared in scripts/conversion/arguments.py" in ok.note
    assert [d["expression"] for d in r.deviations] == ["scripts-conversion-convert.sh"]
    (bad,) = flags({"convert": r.command.replace("--device gpu", "--device tpu")}, None, MB6)
    assert bad.status == "MISSING" and bad.where == "scripts/conversion/arguments.py:33"
    # the old script at v0.3.0 / v0.5.1 with the first expression: unchanged
    assert [f.status for f in flags({"convert": _convert("0.5.1").command}, None, UPSTREAM / "Megatron-Bridge" / "v0.5.1")] == ["SAME"]


# ---- make gate, and the targets that run it first (the Makefile with the test doubles) ----

def _yaml_at(tmp_path, ref):
    """The fake checkout kit_env builds, with the tutorial's evaluator yaml as it is at `ref`."""
    from kit_env import fake_modelopt

    mo = tmp_path / "modelopt"
    if not mo.exists():
        fake_modelopt(mo)
    (mo / evalcfg.EVAL_YAML).write_text((UPSTREAM / "Model-Optimizer" / ref / evalcfg.EVAL_YAML).read_text())


def test_make_gate_alone_passes_the_faithful_plan_and_plan_shows_it(tmp_path):
    from kit_env import make

    p = make(tmp_path, "gate")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    gate_json = json.loads((tmp_path / "runs" / "e2e" / "gate.json").read_text())
    (d,) = [f for f in gate_json["findings"] if f["id"] == "launcher --dry-run"]
    assert d["status"] == "SAME" and "nemo-evaluator-launcher 0.1.90" in d["note"]  # the double, as the step would run it
    assert gate_json["modelopt_ref"] == "0.44.0" and "eval/iter_12800" in gate_json["commands_sha256"]
    p = make(tmp_path, "plan", check=True)
    assert "Before any step: make gate" in p.stdout and "last gate (MODELOPT_REF=0.44.0): passed" in p.stdout
    help_ = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "  gate " in help_


def test_reproduce_stops_at_the_front_door_before_any_step(tmp_path):
    """The evaluator yaml of 0.45.0 cannot produce the goldens' avg-of-8 / avg-of-64 metrics: make reproduce stops at
    the gate, naming them, and no step runs (the doubles record every call)."""
    from kit_env import calls, make

    _yaml_at(tmp_path, "0.45.0")
    p = make(tmp_path, "reproduce")
    assert p.returncode == 2 and calls(tmp_path) == [] and "Traceback" not in p.stdout + p.stderr
    assert "MISSING" in p.stdout and "livecodebench_pass_at_1_avg-of-8_accuracy" in p.stdout
    assert "Nothing was launched, no GPU time was spent" in p.stderr
    assert not (tmp_path / "runs" / "e2e" / "data").exists()
    p = make(tmp_path, "preflight")
    assert p.returncode == 2 and "make gate: Model-Optimizer 0.44.0 will not run" in p.stderr
    p = make(tmp_path, "plan", check=True)
    assert "last gate (MODELOPT_REF=0.44.0): 2 problem(s): MISSING eval aime25_pass_at_1_avg-of-64" in p.stdout


def test_each_step_holds_its_command_against_the_gate(tmp_path):
    """A step whose unit the gate failed is refused by its own preflight; so is one whose command is not the one the
    gate checked (another MODELOPT_REF); no gate at all is said, not refused; PREFLIGHT_SKIP=gate bypasses, saying so."""
    from kit_env import calls, make

    run = tmp_path / "runs" / "e2e"
    p = make(tmp_path, "data")
    assert p.returncode == 0 and "the front door (make gate) has not checked this run's commands" in p.stdout
    assert make(tmp_path, "gate").returncode == 0
    doc = json.loads((run / "gate.json").read_text())
    doc["findings"].append({"step": "prune", "id": "--some_flag", "status": "MISSING", "note": "gone. What to do: x",
                            "where": "examples/megatron_bridge/prune_minitron.py:99"})
    (run / "gate.json").write_text(json.dumps(doc))
    before = calls(tmp_path)
    p = make(tmp_path, "prune")
    assert p.returncode == 2 and calls(tmp_path) == before
    assert "the front door found MISSING --some_flag at examples/megatron_bridge/prune_minitron.py:99: gone" in p.stderr
    p = make(tmp_path, "prune", PREFLIGHT_SKIP="disk,gate")
    assert p.returncode == 0 and "skipping the gate check (PREFLIGHT_SKIP)" in p.stdout
    p = make(tmp_path, "quantize", MODELOPT_REF="0.45.0")  # --qformat mamba_moe_fp8_conservative there
    assert p.returncode == 2 and "quantize/conservative's command is not the one `make gate` checked" in p.stderr
    p = make(tmp_path, "reproduce", PREFLIGHT_SKIP="disk,gate", env_extra={"DOUBLE_FAIL_AT": "distill"})
    assert "PREFLIGHT_SKIP=gate: the front door (make gate) is not checked" in p.stderr


def test_make_gate_with_math500_dry_runs_both_launches(tmp_path):
    from kit_env import make

    p = make(tmp_path, "gate", MATH500="1")
    assert p.returncode == 0, p.stdout[-3000:]
    found = json.loads((tmp_path / "runs" / "e2e" / "gate.json").read_text())["findings"]
    assert {f["id"]: f["status"] for f in found if "dry-run" in f["id"]} == {
        "launcher --dry-run": "SAME", "launcher --dry-run nemo_evaluator_math500.yaml": "SAME"}
