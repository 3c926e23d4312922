import json
import os
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from conftest import EXPECTED, ROOT


def checks(*args, cwd=ROOT):
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "checks", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def test_verify_the_tutorial_run_passes(pristine_run, goldens, tmp_path):
    p = checks("verify", pristine_run, "--json", tmp_path / "v.json", "--junit", tmp_path / "v.xml")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr
    # every golden, one exit-code check per step.json the runner wrote, every lineage check, and the rules
    # (provenance, one run per log, settings echoed): all PASS
    from checks.engine import evaluate
    from checks.run import Run

    found = evaluate(goldens, Run.load(pristine_run))
    n = sum(f.status == "PASS" for f in found)
    xfail = [f"{f.step}.{f.id}" for f in found if f.status == "XFAIL"]
    assert n + len(xfail) == len(found)
    assert n > sum(map(len, goldens.steps.values())) + len(list(pristine_run.rglob("step.json"))) + len(goldens.lineage) - 10
    # the known discrepancies, and nothing else, are shown as such
    assert sorted(xfail) == ["bench.7b-fp8_model_loading_gib", "bench.memory_7b-fp8_vs_7b-bf16",
                             "quantize.layout_mamba_in_proj", "quantize.layout_mamba_out_proj"]
    assert f"{n} PASS 0 FAIL 0 SKIP 0 ERROR 4 XFAIL" in p.stdout and "Traceback" not in p.stderr
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["summary"] == {"PASS": n, "FAIL": 0, "SKIP": 0, "ERROR": 0, "XFAIL": 4}
    suite = ET.parse(tmp_path / "v.xml").getroot()
    assert suite.get("tests") == str(n + 4) and suite.get("failures") == "0" and suite.get("errors") == "0"


def test_verify_on_another_gpu_skips_absolutes_but_judges_ratios(run):
    m = json.loads((run / "manifest.json").read_text())
    m["gpu"]["model"] = "NVIDIA A100-SXM4-80GB"
    (run / "manifest.json").write_text(json.dumps(m))
    p = checks("verify", run, "--step", "bench", "--json", run / "v.json")
    assert p.returncode == 0
    v = {x["id"]: x for x in json.loads((run / "v.json").read_text())["findings"]}
    assert v["7b-fp8_output_tokens_per_s"]["status"] == "SKIP" and "A100" in v["7b-fp8_output_tokens_per_s"]["note"]
    assert v["speedup_7b-fp8_vs_7b-bf16"]["status"] == "PASS"


def test_a_failing_value_exits_1(run):
    log = run / "bench" / "7b-fp8" / "step.log"
    log.write_text(log.read_text().replace("1147.00 output tokens/s", "900.00 output tokens/s"))
    p = checks("verify", run, "--step", "bench")
    assert p.returncode == 1 and "FAIL" in p.stdout


@pytest.mark.parametrize("args,needle", [
    (("verify", "/nonexistent/run"), "no such directory"),
    (("verify", "RUN", "--expected", "/nonexistent.yaml"), "goldens file missing"),
    (("parse", "prune", "/nonexistent.log"), "does not exist"),
    (("parse", "nosuchstep", "x"), "invalid choice"),
])
def test_bad_input_exits_2_without_traceback(pristine_run, args, needle):
    p = checks(*[pristine_run if a == "RUN" else a for a in args])
    assert p.returncode == 2 and needle in (p.stdout + p.stderr) and "Traceback" not in p.stderr


def test_missing_step_directory_is_error(run):
    import shutil

    shutil.rmtree(run / "distill")
    p = checks("verify", run, "--step", "distill")
    assert p.returncode == 2 and "make distill" in p.stdout


@pytest.mark.parametrize("step,sub", [("prune", "prune"), ("distill", "distill/step.log"), ("bench", "bench"),
                                      ("eval", "eval/iter_12800"), ("quantize", "quantize"), ("convert", "convert")])
def test_parse_prints_json(pristine_run, step, sub):
    p = checks("parse", step, pristine_run / sub)
    assert p.returncode == 0, p.stderr
    json.loads(p.stdout)


def test_expected_default_is_the_full_profile():
    assert EXPECTED.exists()


def test_unknown_log_format_is_its_own_error(run):
    (run / "prune" / "step.log").write_text("Epoch 1/3 - loss: 0.25\nEpoch 2/3 - loss: 0.21\n")
    p = checks("verify", run, "--step", "prune", "--json", run / "v.json")
    assert p.returncode == 2
    v = [x for x in json.loads((run / "v.json").read_text())["findings"] if x["status"] == "ERROR"]
    assert [x["id"] for x in v] == ["log_format"] and "format not recognised" in v[0]["note"]


def test_html_report_has_the_plots_and_every_verdict(pristine_run, tmp_path):
    out = tmp_path / "r.html"
    p = checks("report", pristine_run, "--html", out, "--baseline", pristine_run)
    assert p.returncode == 0, p.stderr
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 3  # loss curves, bench bars, eval bands
    assert page.count("<tr>") - 1 == page.count(">PASS<") + page.count(">XFAIL<") and ">FAIL<" not in page
