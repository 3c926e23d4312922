"""`checks drift` on fixture README texts: unchanged, a changed flag, a renamed and a moved script,
a removed and an added block, and script paths missing at the ref. Then the flags check, statically, on
real upstream argparse extracts (tests/fixtures/upstream/, see PROVENANCE.md there): scripts that exist
(or not) at each ref, flags removed or renamed, defaults changed that the recipes rely on."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from checks import drift
from checks.findings import exit_code
from checks.recipes import as_tutorial, compared_with_readme, recipe_command
from conftest import ROOT

RECIPES = ROOT / "recipes" / "tutorial"
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream"


def readme(transform=lambda name, text: text) -> str:
    """A tutorial README as upstream writes it: prose, and each command in an indented bash fence."""
    parts = ["# Nemotron-Nano-9B-v2: Prune + Distill + Quantize + vLLM Deployment", "", "Some prose.", ""]
    for p in sorted(RECIPES.glob("*.sh")):
        if not compared_with_readme(p):
            continue
        text = transform(p.stem, as_tutorial(p))
        if text is None:
            continue
        lines = text.split("\n")
        body = [lines[0]] + [("  " + l if l and not text.startswith("DATA_BLEND") else l) for l in lines[1:]]
        parts += ["<details>", "", "```bash", *body, "```", "", "</details>", ""]
    return "\n".join(parts)


def recipes():
    return {p.stem: as_tutorial(p) for p in sorted(RECIPES.glob("*.sh")) if compared_with_readme(p)}


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



# --- flags: scripts and flags in a checkout, on real upstream argparse extracts --------------------------

def mo(ref):
    return UPSTREAM / "Model-Optimizer" / ref


def mb(ref):
    return UPSTREAM / "Megatron-Bridge" / ref


def erratum(eid: str) -> tuple[str, str]:
    """(find, replace) of a command erratum in recipes/errata.yaml (top-level, or its only expression)."""
    e = next(e for e in yaml.safe_load((ROOT / "recipes" / "errata.yaml").read_text())["errata"] if e["id"] == eid)
    x = e if "find" in e else e["expressions"][0]
    return x["find"], x["replace"]


def tutorial(errata: bool = True) -> dict[str, str]:
    """The tutorial recipes' commands; with the erratum that names the real distillation script."""
    cmds = {p.stem: recipe_command(p) for p in sorted(RECIPES.glob("*.sh"))}
    if errata:
        find, replace = erratum("distill-script-name")
        assert cmds["distill"].count(find) == 1
        cmds["distill"] = cmds["distill"].replace(find, replace)
    return cmds


def by_step(findings) -> dict[str, list]:
    out = {}
    for f in findings:
        out.setdefault(f.step, []).append(f)
    return out


def test_fixtures_are_what_provenance_says():
    """Each fixture holds its extract at the upstream line numbers (header line 1, blank padding), and
    PROVENANCE.md names it with its commit; the 0.46.0 examples/llm_ptq is a real symlink to hf_ptq. distill.py
    extracts hold two ranges: the imports (checks.drift.imports reads them) and the argparse section."""
    import re

    prov = (UPSTREAM / "PROVENANCE.md").read_text()
    files = sorted(p for p in UPSTREAM.rglob("*.py") if p.relative_to(UPSTREAM).parts[0] != "packages")
    assert len(files) == 17
    for f in files:
        repo, ref, *path = f.relative_to(UPSTREAM).parts
        lines = f.read_text().split("\n")
        head = lines[0]
        ranges = [(int(a), int(b)) for a, b in re.findall(r"(\d+)-(\d+) ?(?:\(|,)", head.split(" lines ")[1])]
        assert ranges and head.startswith("# NVIDIA") and f" {ref} (" in head and "/".join(path) in head, f
        kept = {n for a, b in ranges for n in range(a, b + 1)}
        assert all(not line for n, line in enumerate(lines[1:], 2) if n not in kept and n <= ranges[-1][1]), f
        assert all(lines[a - 1].strip() for a, _ in ranges), f
        assert f"| {ref} |" in prov and "/".join(path) in prov and head.split("(")[1].split(")")[0] in prov, f
    link = mo("0.46.0") / "examples" / "llm_ptq"
    assert link.is_symlink() and os.readlink(link) == "hf_ptq"
    assert not (mo("main") / "examples" / "llm_ptq").exists()
    assert not (mb("main") / "examples" / "conversion" / "convert_checkpoints.py").exists()


def test_tutorial_flags_all_accepted_at_0_44_0():
    """ModelOpt 0.44.0 + Megatron-Bridge 0.3.0 (the tutorial's): every script exists and takes every flag."""
    found = by_step(drift.flags(tutorial(), mo("0.44.0"), mb("v0.3.0")))
    assert sorted(found) == ["convert", "distill", "prune", "quantize", "quantize_aggressive"]
    for step, fs in found.items():
        assert [f.status for f in fs] == ["SAME"], (step, [(f.status, f.id, f.note) for f in fs])
    assert found["distill"][0].id == "examples/megatron_bridge/distill.py"
    assert found["distill"][0].measured == "18 flags accepted"  # the launcher's --nproc_per_node is not counted
    assert found["prune"][0].measured == "7 flags accepted"
    assert found["quantize"][0].id == "examples/llm_ptq/hf_ptq.py" and found["quantize"][0].measured == "4 flags accepted"
    assert found["convert"][0].id == "examples/conversion/convert_checkpoints.py export"
    assert exit_code(sum(found.values(), [])) == 0


def test_tutorial_as_written_calls_a_script_that_never_existed():
    found = by_step(drift.flags(tutorial(errata=False), mo("0.44.0"), None))
    (d,) = found["distill"]
    assert d.status == "MISSING" and d.id == "examples/megatron_bridge/distill_minitron.py"
    assert "beside it: distill.py" in d.note and "What to do" in d.note
    assert [f.status for f in found["convert"]] == ["SKIP"]  # no Megatron-Bridge checkout given: not judged


@pytest.mark.parametrize("ref,status", [("0.44.0", "SAME"), ("0.45.0", "SAME"), ("0.46.0", "SAME"), ("main", "MISSING")])
def test_quantize_path_llm_ptq(ref, status):
    """examples/llm_ptq/hf_ptq.py: a file up to 0.45.0, a symlinked directory at 0.46.0, gone on main."""
    (q,) = by_step(drift.flags(tutorial(), mo(ref), None))["quantize"]
    assert (q.status, q.id.split()[0]) == (status, "examples/llm_ptq/hf_ptq.py")
    assert ("through the symlink examples/llm_ptq -> hf_ptq" in q.note) == (ref == "0.46.0")
    if status == "MISSING":
        assert q.measured == "examples/hf_ptq/hf_ptq.py" and "a file of that name is at examples/hf_ptq/hf_ptq.py" in q.note
        assert "examples/llm_ptq/ does not exist" in q.note


def test_quantize_at_new_path_on_main_takes_the_tutorial_flags():
    cmd = tutorial()["quantize"].replace("examples/llm_ptq/", "examples/hf_ptq/")
    (q,) = drift.flags({"quantize": cmd}, mo("main"), None)
    assert (q.status, q.id) == ("SAME", "examples/hf_ptq/hf_ptq.py")


def test_removed_flag_is_missing_with_a_hint():
    """distill.py --split exists at 0.44.0 (line 126) and is gone at 0.45.0."""
    cmd = tutorial()["distill"] + " \\\n--split 99,1,0"
    assert [f.status for f in drift.flags({"distill": cmd}, mo("0.44.0"), None)] == ["SAME"]
    found = drift.flags({"distill": cmd}, mo("0.45.0"), None, baseline={"modelopt": mo("0.44.0")})
    (f,) = found
    assert (f.step, f.id, f.status) == ("distill", "--split", "MISSING")
    assert "has no option --split (removed or renamed?)" in f.note
    assert "nearest by spelling: --seq_length" in f.note and f.measured is None  # no similar name: not offered as a rename
    assert "defined in the baseline at examples/megatron_bridge/distill.py:126" in f.note
    assert f.where == "examples/megatron_bridge/distill.py:164"  # the ArgumentParser(...) of 0.45.0
    assert exit_code(found) == 1


def test_renamed_flag_gets_the_closest_name():
    """0.44.0 prune_minitron.py --calib_mbs became --calib_batch_size at 0.45.0."""
    cmd = tutorial()["prune"] + " \\\n--calib_mbs 1"
    assert [f.status for f in drift.flags({"prune": cmd}, mo("0.44.0"), None)] == ["SAME"]
    (f,) = drift.flags({"prune": cmd}, mo("0.45.0"), None)
    assert (f.id, f.status, f.measured) == ("--calib_mbs", "MISSING", "--calib_batch_size")
    assert "closest: --calib_batch_size (line 105)" in f.note and f.where == "examples/megatron_bridge/prune_minitron.py:105"


def test_dash_and_underscore_are_not_the_same():
    cmd = tutorial()["quantize"].replace("--trust_remote_code", "--trust-remote-code")
    (f,) = drift.flags({"quantize": cmd}, mo("0.44.0"), None)
    assert (f.id, f.status, f.measured) == ("--trust-remote-code", "MISSING", "--trust_remote_code")
    assert "must match exactly" in f.note


def test_changed_defaults_the_recipes_rely_on():
    """0.44.0 -> 0.45.0: hf_ptq.py --calib_size '512' -> '1024', prune_minitron.py --prune_score_func
    mmlu_10pct -> mmlu_10pct_bs1; the tutorial passes neither. Line numbers are upstream's."""
    found = drift.flags(tutorial(), mo("0.45.0"), None, baseline={"modelopt": mo("0.44.0")})
    changed = {(f.step, f.id): f for f in found if f.status == "CHANGED"}
    assert sorted(changed) == [("prune", "--prune_score_func"), ("quantize", "--calib_size"),
                               ("quantize_aggressive", "--calib_size")]
    c = changed["quantize", "--calib_size"]
    assert (c.expected, c.measured, c.where) == ("512", "1024", "examples/llm_ptq/hf_ptq.py:1239")
    assert "examples/llm_ptq/hf_ptq.py:1161" in c.note and "pass --calib_size 512" in c.note
    p = changed["prune", "--prune_score_func"]
    assert (p.expected, p.measured, p.where) == ("mmlu_10pct", "mmlu_10pct_bs1", "examples/megatron_bridge/prune_minitron.py:169")
    assert "prune_minitron.py:143" in p.note
    assert [f.status for f in found if f.step == "distill"] == ["SAME"]
    assert not [f for f in drift.flags(tutorial(), mo("0.45.0"), None) if f.status == "CHANGED"]  # no baseline: no defaults


def test_changed_default_not_reported_when_the_recipe_passes_the_flag():
    tiny = recipe_command(ROOT / "recipes" / "tiny" / "quantize.sh")
    assert "--calib_size 32" in tiny
    assert [(f.status, f.id) for f in drift.flags({"quantize": tiny}, mo("0.45.0"), None, baseline={"modelopt": mo("0.44.0")})] \
        == [("SAME", "examples/llm_ptq/hf_ptq.py")]
    untouched = tiny.replace("--calib_size 32 \\\n", "")
    assert [(f.status, f.id) for f in drift.flags({"quantize": untouched}, mo("0.45.0"), None, baseline={"modelopt": mo("0.44.0")})] \
        == [("SAME", "examples/llm_ptq/hf_ptq.py"), ("CHANGED", "--calib_size")]  # every flag accepted; a default moved


def test_changed_default_found_through_the_moved_script():
    """Baseline 0.44.0 has hf_ptq.py under examples/llm_ptq/, main under examples/hf_ptq/: the only file of that
    name in the baseline is compared."""
    cmd = tutorial()["quantize"].replace("examples/llm_ptq/", "examples/hf_ptq/")
    ok, c = drift.flags({"quantize": cmd}, mo("main"), None, baseline={"modelopt": mo("0.44.0")})
    assert (ok.status, ok.id) == ("SAME", "examples/hf_ptq/hf_ptq.py")
    assert (c.status, c.id, c.expected, c.measured, c.where) == ("CHANGED", "--calib_size", "512", "1024", "examples/hf_ptq/hf_ptq.py:1371")


def test_megatron_bridge_main_has_no_convert_checkpoints():
    (c,) = by_step(drift.flags(tutorial(), None, mb("main")))["convert"]
    assert (c.status, c.id) == ("MISSING", "examples/conversion/convert_checkpoints.py")
    assert "a directory of the same name exists: scripts/conversion/" in c.note
    (ok,) = by_step(drift.flags(tutorial(), None, mb("v0.5.1")))["convert"]
    assert (ok.status, ok.id) == ("SAME", "examples/conversion/convert_checkpoints.py export")


def test_convert_flags_belong_to_their_subcommand():
    base = "python /opt/Megatron-Bridge/examples/conversion/convert_checkpoints.py {} --hf-model m --megatron-path p --hf-path h"
    assert [f.status for f in drift.flags([base.format("export")], None, mb("v0.3.0"))] == ["SAME"]
    # import has --hf-model and --megatron-path but no --hf-path
    assert [(f.status, f.id) for f in drift.flags([base.format("import")], None, mb("v0.3.0"))] == [("MISSING", "--hf-path")]
    (f,) = drift.flags([base.format("exprot")], None, mb("v0.3.0"))
    assert f.status == "MISSING" and "no sub-command 'exprot'" in f.note and "closest: export" in f.note
    # v0.3.0 export has no --trust-remote-code (hard-coded True); v0.5.1 has it
    trc = base.format("export") + " --trust-remote-code"
    assert [(f.status, f.id) for f in drift.flags([trc], None, mb("v0.3.0"))] == [("MISSING", "--trust-remote-code")]
    assert [f.status for f in drift.flags([trc], None, mb("v0.5.1"))] == ["SAME"]


def test_required_options_and_groups():
    """prune_minitron.py needs --hf_model_name_or_path and one of --output_megatron_path/--output_hf_path."""
    cmd = tutorial()["prune"].replace("--hf_model_name_or_path nvidia/NVIDIA-Nemotron-Nano-9B-v2 \\\n", "")
    cmd = cmd.replace(" \\\n--output_hf_path ${PRUNED_HF}", "")
    found = {f.id: f for f in drift.flags({"prune": cmd}, mo("0.46.0"), None)}
    assert sorted(found) == ["--hf_model_name_or_path", "--output_megatron_path | --output_hf_path"]
    assert all(f.status == "MISSING" for f in found.values())


def test_invocations_skip_launcher_flags_and_other_programs():
    cmd = ("torchrun --nproc_per_node 8 --master_port 29500 /opt/Model-Optimizer/examples/x/a.py --b 1 \\\n  --c=2\n"
           "python -m modelopt.torch.utils.plugins.megatron_preprocess_data --json_keys text\n"
           "python3 scripts/tiny_model.py --out x && python ${MODELOPT_DIR}/examples/y/b.py --d")
    inv = drift.invocations(cmd)
    assert [(i["repo"], i["path"], i["args"]) for i in inv] == [
        ("modelopt", "examples/x/a.py", ["--b", "1", "--c=2"]), ("modelopt", "examples/y/b.py", ["--d"])]


# --- argparse_spec on tricky source ----------------------------------------------------------------------

TRICKY = textwrap.dedent("""
    import argparse, os

    def _common(p, *, gpu=False):
        g = p.add_argument_group("Execution")
        g.add_argument("--device", choices=("cpu", "gpu"), default="gpu" if gpu else "cpu")
        g.add_argument("--gpus-per-node", "--gpus_per_node", dest="gpus_per_node", type=int)

    def build():
        parser = argparse.ArgumentParser()
        parser.add_argument("-v", "--verbose", action="store_true")
        parser.add_argument("--cache", default=os.environ.get("CACHE", "/tmp"))
        parser.add_argument("name")
        sub = parser.add_subparsers(dest="command")
        exp = sub.add_parser("export", allow_abbrev=False)
        _common(exp, gpu=True)
        exp.add_argument("--hf-path", required=True)
        exp.add_argument("--save", action=argparse.BooleanOptionalAction, default=None)
        imp = sub.add_parser("import")
        _common(imp)
        for p in (exp, imp):
            p.add_argument("--seed", type=int, default=1)
        grp = imp.add_mutually_exclusive_group(required=True)
        grp.add_argument("--a", type=int)
        grp.add_argument("--b", type=int)
        imp.set_defaults(seed=7)
        for k in ("x", "y"):
            parser.add_argument(f"--{k}")
        return parser
""")


def test_argparse_spec_subparsers_groups_helpers():
    spec = drift.argparse_spec(TRICKY, "tricky.py")
    top, exp, imp = (spec["parsers"][k] for k in ("", "export", "import"))
    assert top["subcommands"] == ["export", "import"]
    assert set(top["options"]) == {"-v", "--verbose", "--cache"}  # --x/--y are computed: listed as dynamic, not invented
    assert top["dynamic"] == [28] and top["positionals"][0]["dest"] == "name"
    v = top["options"]["--verbose"]
    assert v is top["options"]["-v"] and (v["action"], v["default"], v["takes_value"], v["dest"]) == ("store_true", False, False, "verbose")
    cache = top["options"]["--cache"]
    assert (cache["literal"], cache["default"]) == (False, 'os.environ.get("CACHE", "/tmp")')
    assert set(exp["options"]) == {"--device", "--gpus-per-node", "--gpus_per_node", "--hf-path", "--save", "--no-save", "--seed"}
    assert exp["allow_abbrev"] is False and imp["allow_abbrev"] is True and top["allow_abbrev"] is True
    assert exp["options"]["--gpus_per_node"]["dest"] == "gpus_per_node" and exp["options"]["--hf-path"]["required"]
    assert exp["options"]["--device"]["default"] == '"gpu" if gpu else "cpu"'  # not a literal: its source text
    assert exp["options"]["--device"]["choices"] == ("cpu", "gpu") and exp["options"]["--device"]["line"] == 6
    assert exp["options"]["--no-save"]["takes_value"] is False
    assert "--hf-path" not in imp["options"] and imp["required_groups"] == [["--a", "--b"]]
    assert (imp["options"]["--seed"]["default"], imp["options"]["--seed"]["default_line"]) == (7, 26)
    assert exp["options"]["--seed"]["default"] == 1


def test_argparse_spec_reads_indented_extracts_with_upstream_lines():
    src = (mo("0.44.0") / "examples" / "megatron_bridge" / "distill.py").read_text()
    opts = drift.argparse_spec(src, "distill.py")["parsers"][""]["options"]
    assert opts["--split"]["line"] == 126 and opts["--split"]["default"] == "99,1,0"
    assert opts["--etp_size"]["line"] == 117
    assert opts["--data_paths"]["nargs"] == "+" and opts["--use_mock_data"]["action"] == "store_true"
    hf = drift.argparse_spec((mo("0.44.0") / "examples" / "llm_ptq" / "hf_ptq.py").read_text(), "hf_ptq.py")["parsers"][""]
    assert (hf["options"]["--calib_size"]["default"], hf["options"]["--calib_size"]["default_line"]) == ("512", 1161)
    assert "--no-verbose" in hf["options"]  # BooleanOptionalAction


def test_argparse_spec_megatron_bridge_main_helpers_and_allow_abbrev():
    """scripts/conversion/arguments.py builds its sub-commands through helper functions, allow_abbrev=False."""
    spec = drift.argparse_spec((mb("main") / "scripts" / "conversion" / "arguments.py").read_text(), "arguments.py")
    assert spec["parsers"][""]["subcommands"] == ["import", "export", "roundtrip"]
    exp = spec["parsers"]["export"]
    assert {"--hf-model", "--megatron-path", "--hf-path", "--executor", "--tp", "-tp", "--no-distributed-save"} <= set(exp["options"])
    assert exp["allow_abbrev"] is False and "--hf-path" not in spec["parsers"]["import"]["options"]
    assert exp["options"]["--device"]["default"] == "default_device"  # a parameter of the helper: not a literal


def _script(tmp_path, body: str, name: str = "s.py"):
    d = tmp_path / "examples"
    d.mkdir(exist_ok=True)
    (d / name).write_text(textwrap.dedent(body))
    return tmp_path


@pytest.mark.parametrize("flag,status,what", [
    ("--calib_si 4", "SAME", "--calib_si is accepted as an abbreviation of --calib_size"),
    ("--calib 4", "MISSING", "ambiguous option: --calib could match --calib_seq, --calib_size"),
    ("--calib_size=4", "SAME", "1 flags accepted"),
    ("--qformat nvfp4", "MISSING", "accepts --qformat only with one of ['fp8', 'int8']"),
    ("--qformat ${Q}", "SAME", "1 flags accepted"),
])
def test_abbreviations_and_choices(tmp_path, flag, status, what):
    root = _script(tmp_path, """
        import argparse
        p = argparse.ArgumentParser()
        p.add_argument("--calib_size", type=int)
        p.add_argument("--calib_seq", type=int)
        p.add_argument("--qformat", choices=["fp8", "int8"])
        p.parse_args()
    """)
    (f,) = drift.flags([f"python /opt/Model-Optimizer/examples/s.py {flag}"], root, None)
    assert f.status == status and what in (f.measured if status == "SAME" else f.note), (f.measured, f.note)


def test_allow_abbrev_false_refuses_prefixes(tmp_path):
    root = _script(tmp_path, """
        import argparse
        p = argparse.ArgumentParser(allow_abbrev=False)
        p.add_argument("--calib_size", type=int)
    """)
    (f,) = drift.flags(["python /opt/Model-Optimizer/examples/s.py --calib_si 4"], root, None)
    assert (f.status, f.measured) == ("MISSING", "--calib_size")


def test_script_without_argparse_is_skipped_not_passed(tmp_path):
    root = _script(tmp_path, "import sys\nprint(sys.argv)\n")
    (f,) = drift.flags(["python /opt/Model-Optimizer/examples/s.py --x 1"], root, None)
    assert f.status == "SKIP" and exit_code([f]) == 0


# --- the CLI -----------------------------------------------------------------------------------------------

def checks(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "checks", "drift", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "250"})


def test_cli_flags_only_passes_at_0_44_0_with_rendered_commands(tmp_path):
    cmds = tmp_path / "commands.json"
    cmds.write_text(json.dumps(tutorial()))
    p = checks("--flags-only", "--commands", cmds, "--modelopt-root", mo("0.44.0"), "--bridge-root", mb("v0.3.0"),
               "--json", tmp_path / "d.json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5 SAME" in p.stdout
    d = json.loads((tmp_path / "d.json").read_text())
    assert sorted(f["step"] for f in d["findings"]) == ["convert", "distill", "prune", "quantize", "quantize_aggressive"]


def test_cli_flags_only_on_main_fails_and_names_the_moves(tmp_path):
    p = checks("--flags-only", "--modelopt-root", mo("main"))  # the recipes as written
    assert p.returncode == 1, p.stdout + p.stderr
    out = " ".join(p.stdout.split())
    assert "examples/llm_ptq/hf_ptq.py" in out and "examples/hf_ptq/hf_ptq.py" in out
    assert "distill_minitron.py" in out and "errata.yaml rewrites this path" in out
    assert "SKIP" in out  # convert: no --bridge-root


def test_cli_baseline_reports_changed_defaults(tmp_path):
    cmds = tmp_path / "commands.json"
    cmds.write_text(json.dumps({k: v for k, v in tutorial().items() if k in ("quantize", "distill")}))
    base = ["--flags-only", "--commands", cmds, "--modelopt-root", mo("0.45.0")]
    assert checks(*base).returncode == 0
    p = checks(*base, "--baseline-modelopt-root", mo("0.44.0"))
    assert p.returncode == 1 and "CHANGED" in p.stdout and "--calib_size" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("argv,message", [
    ([], "needs the tutorial's README"),
    (["--flags-only"], "needs a checkout"),
    (["--flags-only", "--modelopt-root", "no/such/dir"], "is not a directory"),
])
def test_cli_bad_input_exits_2(argv, message):
    p = checks(*argv)
    assert p.returncode == 2 and message in " ".join(p.stderr.split()), p.stdout + p.stderr


def test_cli_readme_and_flags_together(tmp_path):
    f = tmp_path / "README.md"
    f.write_text(readme())
    p = checks("--readme", f, "--modelopt-root", mo("0.44.0"), "--bridge-root", mb("v0.3.0"))
    # the README comparison is clean; the recipes as written call distill_minitron.py, which 0.44.0 lacks,
    # and so does the README itself
    assert p.returncode == 1, p.stdout + p.stderr
    out = " ".join(p.stdout.split())
    assert "MISSING distill.examples/megatron_bridge/distill_minitron.py" in out
    assert "MISSING README./opt/Model-Optimizer/examples/megatron_bridge/distill_minitron.py" in out


def test_unparseable_script_is_an_error_not_a_pass(tmp_path):
    root = _script(tmp_path, "def broken(:\n")
    (f,) = drift.flags(["python /opt/Model-Optimizer/examples/s.py --x 1"], root, None)
    assert f.status == "ERROR" and f.where == "examples/s.py:1" and exit_code([f]) == 2


def test_read_commands_names_a_rendered_step_after_its_directory(tmp_path):
    (tmp_path / "quantize").mkdir()
    (tmp_path / "quantize" / "command.sh").write_text("python /opt/Model-Optimizer/examples/hf_ptq/hf_ptq.py --qformat fp8\n")
    (tmp_path / "c.json").write_text(json.dumps({"prune": "torchrun x.py"}))
    assert drift.read_commands(tmp_path / "quantize" / "command.sh") == {
        "quantize": "python /opt/Model-Optimizer/examples/hf_ptq/hf_ptq.py --qformat fp8\n"}
    assert drift.read_commands(tmp_path / "c.json") == {"prune": "torchrun x.py"}
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ValueError):
        drift.read_commands(tmp_path / "bad.json")
