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
    ev = goldens.steps["eval"]
    assert len(ev) == 8 * 8 and all(x.tol.kind == "binomial" for x in ev)
    assert [x.optional for x in ev if "iter_12800" in x.id] == [False] * 8


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
    with pytest.raises(CheckError, match="unknown sections"):
        goldens.load(write_yaml(tmp_path, {"schema": 1, "benhc": [e1]}))
    with pytest.raises(CheckError, match="schema"):
        goldens.load(write_yaml(tmp_path, {"bench": [e1]}))
    (tmp_path / "bad.yaml").write_text("schema: [1\n")
    with pytest.raises(CheckError, match="not valid YAML"):
        goldens.load(tmp_path / "bad.yaml")


