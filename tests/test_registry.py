"""The step registry (checks.registry): adding a step is one module and its goldens, and the rest of the kit asks
the registry instead of testing a step's name. Proved with a toy step registered here and judged by verify, diff,
bless's completeness rule and list-rules, with no other file touched; and by reading the kit's own sources:
no step-name dispatch outside checks/steps/, no import cycle, no private helper used across modules, data found
from the kit's own folder."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from checks import cli, goldens, registry
from checks.engine import evaluate
from checks.errors import CheckError
from checks.findings import FAIL, PASS, Finding, exit_code
from checks.run import Run
from checks.stepdef import Rule, Step
from conftest import ROOT

# ---------------------------------------------------------------- a toy step: one module's worth, nothing else


@dataclass
class ToyRecord:
    answer: int | None = None
    attempts: list[int] = field(default_factory=list)
    completed: bool = False
    where: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def toy_parse(lines, source: str = "step.log") -> ToyRecord:
    rec = ToyRecord()
    for ln in lines:
        if ln.text.startswith("answer="):
            rec.answer = int(ln.text.split("=", 1)[1])
            rec.attempts.append(rec.answer)
            rec.where["answer"] = f"{ln.src or source}:{ln.no}"
        elif ln.text == "done":
            rec.completed = True
    return rec


def toy_load(run, sdir) -> ToyRecord:
    return toy_parse(run.lines(sdir / "step.log"), run.rel(sdir / "step.log"))


def one_answer(run, data) -> list[Finding]:
    n = len(data.record.attempts)
    return [Finding("toy", "one_answer", PASS if n == 1 else FAIL, expected=1, measured=n, source="the toy's rule")]


TOY = Step(name="toy", order=70, doc="a toy step for the registry's tests", record=ToyRecord, load=toy_load,
           parse=toy_parse, completion=("completed",),
           rules=(Rule("one_answer", one_answer, "the toy's rule", "one answer per log", completeness=True),))

GOLDENS = """schema: 1
profile: toy
# the toy's goldens: a comment bless keeps
toy:
- {id: answer, path: answer, expect: 42, tol: {abs: 1}, source: the toy's own figure}
- {id: completed, path: completed, expect: true, tol: exact, source: the toy prints done}
"""


def toy_run(tmp: Path, name: str, answers=(42,)) -> Path:
    run = tmp / name
    (run / "toy").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"schema": 1, "run_id": name, "profile": "toy",
                                                   "gpu": {"model": "NVIDIA H100 80GB HBM3"}, "steps": {
        "toy": {"command": "python toy.py --answer 42", "deviations": []}}}))
    (run / "toy" / "step.log").write_text("".join(f"answer={a}\n" for a in answers) + "done\n")
    (run / "toy" / "step.json").write_text(json.dumps({"unit": "toy", "command": "python toy.py --answer 42",
                                                        "exit_code": 0}))
    return run


@pytest.fixture
def toy():
    with registry.registered(TOY):
        yield TOY
    assert registry.find("toy") is None


def test_a_registered_toy_step_is_verified_diffed_listed_and_refused_by_bless_when_unclean(toy, tmp_path, capsys):
    g_file = tmp_path / "toy.yaml"
    g_file.write_text(GOLDENS)
    g = goldens.load(g_file)
    assert "toy" in registry.judged() and [x.id for x in g.steps["toy"]] == ["answer", "completed"]
    good = toy_run(tmp_path, "good")
    found = {f.id: f for f in evaluate(g, Run.load(good)) if f.step == "toy"}
    assert {k: str(f.status) for k, f in found.items()} == {"exit_code": "PASS", "answer": "PASS", "completed": "PASS",
                                                            "one_answer": "PASS"}
    assert found["answer"].where == "toy/step.log:1"
    assert cli.main(["verify", str(good), "--expected", str(g_file)]) == 0
    assert cli.main(["parse", "toy", str(good / "toy" / "step.log")]) == 0 and '"answer": 42' in capsys.readouterr().out
    # diff: the same goldens, the baseline's value as the reference
    off = toy_run(tmp_path, "off", answers=(45,))
    assert cli.main(["diff", str(good), str(off), "--expected", str(g_file)]) == 1
    assert re.search(r"CHANGED +toy.answer", capsys.readouterr().out)
    assert cli.main(["diff", str(good), str(good), "--expected", str(g_file)]) == 0
    # the toy's rule is a completeness rule: bless refuses a run that breaks it
    twice = toy_run(tmp_path, "twice", answers=(42, 42))
    assert exit_code(evaluate(g, Run.load(twice))) == 1
    assert cli.main(["bless", str(twice), "--into", str(g_file), "--yes"]) == 2
    assert "toy.one_answer: FAIL" in capsys.readouterr().err
    # and a bless of a good run is an edit in place
    assert cli.main(["bless", str(toy_run(tmp_path, "better", answers=(43,))), "--into", str(g_file), "--yes"]) == 0
    assert g_file.read_text().splitlines()[2] == "# the toy's goldens: a comment bless keeps"
    assert goldens.load(g_file).steps["toy"][0].expect == 43
    assert cli.main(["list-rules", "--expected", str(g_file)]) == 0
    listed = capsys.readouterr().out
    assert "rule       toy.one_answer  at tests/test_registry.py:" in listed and "golden     toy.answer" in listed


def test_a_golden_the_toy_record_cannot_hold_is_refused_at_its_line(toy, tmp_path):
    for entry, needle in (("{id: x, path: answr, expect: 1, source: s}", "`answr` is no value of the toy record"),
                          ("{id: x, path: answer, expect: forty-two, source: s}", "the expected value is a str"),
                          ("{id: x, path: completed, expect: true, tol: {rel: 0.1}, source: s}", "numeric tolerance")):
        f = tmp_path / "g.yaml"
        f.write_text(f"schema: 1\ntoy:\n- {entry}\n")
        with pytest.raises(CheckError) as e:
            goldens.load(f)
        assert needle in e.value.render() and f"{f}:3" in e.value.render(), e.value.render()


def test_the_registry_knows_the_tutorial_steps_in_run_order():
    assert registry.names() == ("data", "prune", "distill", "convert", "eval", "quantize", "bench")
    assert registry.judged() == ("prune", "distill", "convert", "eval", "quantize", "bench")
    assert [s for s in registry.names() if registry.get(s).live] == ["distill", "bench"]
    with pytest.raises(CheckError, match="no step named 'distil'"):
        registry.get("distil")


# ---------------------------------------------------------------- the kit's own sources

SOURCES = sorted([*(ROOT / "checks").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")])
STEP_NAMES = "|".join(registry.names())
DISPATCH = re.compile(rf"""(==|!=|\bin\b)\s*[(\[{{]?\s*["']({STEP_NAMES})["']""")
# Left for the helper that owns the file (issue 18, the front door): which recipes the tutorial README holds.
NOT_YET = {"checks/recipes.py": 'return path.stem != "data"'}


def test_no_step_name_dispatch_outside_the_registry():
    """A step's name is tested only where the step is declared (checks/steps/); everything else asks the registry."""
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in SOURCES if "checks/steps" not in str(p)
            for n, line in enumerate(p.read_text().splitlines(), 1) if DISPATCH.search(line)
            and NOT_YET.get(str(p.relative_to(ROOT)), "\0") not in line]
    assert not hits, "\n".join(hits)


def _imports(path: Path) -> set[str]:
    """The checks modules a module imports, anywhere in it (function-level too), outside `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for b in node.body for n in ast.walk(b)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("checks"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if (ROOT / (sub.replace(".", "/") + ".py")).exists() else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("checks")}
    return out


def _module(p: Path) -> str:
    rel = p.relative_to(ROOT).with_suffix("")
    return ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)


def test_no_import_cycle_in_checks():
    graph = {_module(p): _imports(p) for p in sorted((ROOT / "checks").rglob("*.py"))}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            assert state.get(n) != 1, "import cycle: " + " -> ".join(path + [m, n])
            if n not in state:
                visit(n, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_no_private_helper_is_used_across_modules():
    bad = []
    for p in SOURCES:
        tree = ast.parse(p.read_text())
        modules = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                   and n.module.startswith("checks") for a in n.names}
        for n in ast.walk(tree):
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("checks"):
                bad += [f"{p.relative_to(ROOT)}: from {n.module} import {a.name}" for a in n.names
                        if a.name.startswith("_")]
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules \
                    and n.attr.startswith("_") and not n.attr.startswith("__"):
                bad.append(f"{p.relative_to(ROOT)}:{n.lineno}: {n.value.id}.{n.attr}")
    assert not bad, "\n".join(bad)


def test_goldens_are_the_kits_whatever_the_working_directory_and_never_a_path_a_run_names(pristine_run, tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    p = subprocess.run([sys.executable, "-m", "checks", "verify", str(pristine_run)], cwd=tmp_path, capture_output=True,
                       text=True, env=env)
    assert p.returncode == 0 and str(ROOT / "expected" / "full.yaml") in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
    run = tmp_path / "evil"
    (run / "prune").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"schema": 1, "run_id": "evil", "profile": "../../tmp/evil", "steps": {}}))
    for cmd in (["verify", str(run)], ["report", str(run), "--html", str(tmp_path / "r.html")]):
        p = subprocess.run([sys.executable, "-m", "checks", *cmd], cwd=tmp_path, capture_output=True, text=True, env=env)
        assert p.returncode == 2 and "no profile '../../tmp/evil' in the kit" in p.stderr, p.stdout + p.stderr


def test_list_rules_shows_every_rule_where_it_lives_and_its_source(tmp_path):
    from checks import provenance, rulelist

    rows = rulelist.rows()
    kinds = {r.kind for r in rows}
    assert {"golden", "lineage", "diff", "completion", "watch", "rule", "provenance", "engine"} <= kinds
    code = [r for r in rows if r.kind == "rule"]
    assert {(r.step, r.id.replace("<variant>_", "")) for r in code} == {(s.name, r.id) for s, r in registry.rules()}
    assert all(re.fullmatch(r"checks/[\w/]+\.py:\d+", r.where) for r in code + [r for r in rows if r.kind == "provenance"])
    assert len([r for r in rows if r.kind == "provenance"]) == len(provenance.RULES)
    full = goldens.load(ROOT / "expected" / "full.yaml")
    listed = {(r.step, r.id) for r in rows if r.kind == "golden"}
    assert {(g.step, g.id) for gs in full.steps.values() for g in gs} <= listed
    assert all(r.source for r in rows) and all(re.search(r":\d+$", r.where) for r in rows if r.kind != "diff")
    out = tmp_path / "rules.json"
    assert cli.main(["list-rules", "--json", str(out)]) == 0
    assert len(json.loads(out.read_text())) == len(rows)


@pytest.mark.parametrize("old,new,needle", [
    ("path: width_pct,", "path: width_pc,", "`width_pc` is no value of the prune record"),
    ("id: width_limit_pct, path: width_pct, expect: 40,", "id: width_limit_pct, path: width_pct, expect: forty,",
     "the expected value is a str, but width_pct holds number"),
    ("path: pruned_pattern, expect: M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-MMMM-M-, tol: exact,",
     "path: pruned_pattern, expect: M-M-M-MM-M-M-M*-M-M-M*-M-M-M-M*-M-M-M-M*-MMMM-M-, tol: {rel: 0.1},",
     "a numeric tolerance (rel) on a value that is no number"),
    ("echoed: saved_to,", "echoed: sved_to,", "lineage check prune_saved_its_checkpoint: `sved_to` is no value"),
    ("  distill.loss_falls: {rel: 0.05}", "  distill.loss_fallz: {rel: 0.05}", "`diff:` names distill.loss_fallz"),
])
def test_goldens_that_their_records_cannot_hold_exit_2_at_their_line(pristine_run, tmp_path, old, new, needle):
    g = tmp_path / "g.yaml"
    text = (ROOT / "expected" / "full.yaml").read_text()
    assert text.count(old) == 1
    g.write_text(text.replace(old, new))
    line = text[:text.index(old)].count("\n") + 1
    p = subprocess.run([sys.executable, "-m", "checks", "verify", str(pristine_run), "--expected", str(g)],
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
    assert p.returncode == 2 and needle in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert re.search(rf"{re.escape(str(g))}:{line}\b", p.stderr), (line, p.stderr[-2000:])
