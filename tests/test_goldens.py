import pytest

from checks import goldens
from checks.errors import CheckError
from tests_helpers import write_yaml


def test_full_profile_loads_with_every_step(goldens):
    assert set(goldens.steps) == {"prune", "distill", "convert", "eval", "quantize", "bench"}
    for gs in goldens.steps.values():
        for x in gs:
            assert x.source and x.tol.kind


def test_every_tutorial_eval_cell_has_a_statistical_bound(goldens):
    cells = [x for x in goldens.steps["eval"] if not x.mean_of]
    assert len(cells) == 8 * 8 and all(x.tol.kind == "binomial" for x in cells)
    assert [x.optional for x in cells if "iter_12800" in x.id] == [False] * 8
    averages = [x for x in goldens.steps["eval"] if x.mean_of]
    assert len(averages) == 8 and all(len(x.mean_of) == 8 for x in averages)
    math500 = [x for x in cells if "AA_math_test_500" in x.id]
    assert len(math500) == 8 and all(x.requires == {"addition": "addition-eval-math500"} for x in math500)


def test_bench_absolutes_are_keyed_by_gpu_and_ratios_are_not(goldens):
    b = goldens.steps["bench"]
    assert all(x.by_gpu == {"H100": x.by_gpu["H100"]} for x in b if "tokens_per_s" in x.id)
    assert all(x.by_gpu is None for x in b if x.ratio)


@pytest.mark.parametrize("entry,why", [
    ({"id": "a", "path": "x", "expect": 1, "tol": "exact"}, "source"),
    ({"id": "a", "path": "x", "ratio": ["a", "b"], "expect": 1, "source": "s"}, "exactly one of `path`"),
    ({"id": "a", "path": "x", "expect": 1, "tol": {"rel": -1}, "source": "s"}, "non-negative"),
    ({"id": "a", "path": "x", "expect": 1, "tol": {"binomial": {"n": 0}}, "source": "s"}, "binomial"),
    ({"id": "a", "path": "x", "tol": "exact", "source": "s"}, "exactly one of `expect`"),
])
def test_malformed_entries_are_refused(tmp_path, entry, why):
    p = write_yaml(tmp_path, {"schema": 1, "bench": [entry]})
    with pytest.raises(CheckError) as e:
        goldens.load(p)
    assert why in str(e.value)


def test_duplicate_ids_and_unknown_sections(tmp_path):
    e1 = {"id": "a", "path": "x", "expect": 1, "source": "s"}
    with pytest.raises(CheckError, match="duplicate"):
        goldens.load(write_yaml(tmp_path, {"schema": 1, "bench": [e1, e1]}))
    with pytest.raises(CheckError, match="unknown key 'benhc'(.|\n)*did you mean 'bench'"):
        goldens.load(write_yaml(tmp_path, {"schema": 1, "benhc": [e1]}))
    with pytest.raises(CheckError, match="schema"):
        goldens.load(write_yaml(tmp_path, {"bench": [e1]}))
    (tmp_path / "bad.yaml").write_text("schema: [1\n")
    with pytest.raises(CheckError, match="not valid YAML"):
        goldens.load(tmp_path / "bad.yaml")




def _load_text(tmp_path, text, name="g.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return goldens.load(p)


ENTRY = "  - {id: a, path: runs.x.output_tokens_per_s, expect: 1, source: s}\n"


@pytest.mark.parametrize("text,needle,line", [
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: 1, toll: {rel: 0.1}, source: s}\n", "unknown key 'toll'", 3),
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: 1, optinal: true, source: s}\n", "did you mean 'optional'", 3),
    ("schema: 1\nbench:\n  - id: a\n    path: x\n    expect: 1\n    expect: 2\n    source: s\n", "duplicate key 'expect'", 6),
    ("schema: 1\nschema: 1\nbench:\n" + ENTRY, "duplicate key 'schema'", 2),
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: 1, tol: {abs: .inf}, source: s}\n", "malformed tolerance", 3),
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: .nan, source: s}\n", "finite `expect`", 3),
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: 1, optional: 'yes', source: s}\n", "`optional` in check bench.a must be bool", 3),
    ("schema: 1\nbench:\n  - {id: a, path: 3, expect: 1, source: s}\n", "`path` in check bench.a must be str", 3),
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: 1, requires: {world_sise: 8}, source: s}\n", "unknown key 'world_sise'", 3),
    ("schema: 1\nbench:\n  - {id: a, path: x, expect: &v 1, source: s}\n  - {id: b, path: y, expect: *v, source: s}\n",
     "YAML alias", 4),
    ("schema: 1\nbench: {id: a}\n", "must be a list of checks", 2),
    ("schema: 1\nbench:\n  - [1, 2]\n", "is not a mapping", 3),
])
def test_strict_schema_names_file_and_line(tmp_path, text, needle, line):
    with pytest.raises(CheckError) as e:
        _load_text(tmp_path, text)
    msg = e.value.render()
    assert needle in msg and f"g.yaml:{line}" in msg, msg


def test_include_takes_sections_and_override_changes_fields_in_plain_sight(tmp_path):
    (tmp_path / "base.yaml").write_text("schema: 1\nprofile: base\nbench:\n" + ENTRY +
                                        "  - {id: b, path: runs.y.output_tokens_per_s, expect: 2, optional: true, source: s}\n"
                                        "prune:\n  - {id: a, path: searches, expect: 1, source: s}\n")
    g = _load_text(tmp_path, "schema: 1\ninclude:\n  - {file: base.yaml, steps: [bench]}\nbench:\n"
                   "  - {id: b, override: true, optional: false, source: here}\n"
                   "  - {id: c, path: runs.z.output_tokens_per_s, expect: 3, source: s}\n")
    assert [x.id for x in g.steps["bench"]] == ["a", "b", "c"] and "prune" not in g.steps
    b = g.steps["bench"][1]
    assert (b.optional, b.source, b.expect, b.path) == (False, "here", 2, "runs.y.output_tokens_per_s")
    assert b.where.endswith("g.yaml:5")
    assert g.steps["bench"][0].where.endswith("base.yaml:4")
    with pytest.raises(CheckError, match="duplicate check id bench.a"):
        _load_text(tmp_path, "schema: 1\ninclude:\n  - {file: base.yaml, steps: [bench]}\nbench:\n" + ENTRY)
    with pytest.raises(CheckError, match="no included check has that id"):
        _load_text(tmp_path, "schema: 1\nbench:\n  - {id: zz, override: true, source: s}\n")
    with pytest.raises(CheckError, match="no such section"):
        _load_text(tmp_path, "schema: 1\ninclude:\n  - {file: base.yaml, steps: [eval]}\n")
    (tmp_path / "loop.yaml").write_text("schema: 1\ninclude:\n  - {file: loop.yaml, steps: [bench]}\n")
    with pytest.raises(CheckError, match="include themselves"):
        goldens.load(tmp_path / "loop.yaml")


def test_tier_goldens_include_the_full_ones_instead_of_copying(goldens):
    from checks import goldens as G
    from conftest import ROOT

    tier = G.load(ROOT / "expected" / "prune-quant-bench.yaml")
    assert tier.includes and [g.id for g in tier.steps["prune"]] == [g.id for g in goldens.steps["prune"]]
    assert not (ROOT / "expected" / "prune-quant-bench.yaml").read_text().count("candidate_1_config")
    required = {g.id for g in tier.steps["bench"] if not g.optional}
    assert {"9b-fp8_completed", "9b-fp8_output_tokens_per_s", "speedup_9b-fp8_vs_9b-bf16"} <= required


def test_no_golden_file_holds_an_alias():
    from conftest import ROOT

    for p in (ROOT / "expected").glob("*.yaml"):
        text = p.read_text()
        assert "&id" not in text and "*id" not in text, p
