from checks.run import load_path


def test_every_hf_iter_directory(run):
    r = load_path("convert", run / "convert")
    ck = r.checkpoints["hf_iter_12800"]
    assert ck.architectures == ["NemotronHForCausalLM"] and ck.params == 6_997_637_824 and not r.errors


def test_missing_shard_named_in_the_index(run):
    shard = sorted((run / "convert" / "hf_iter_12800").glob("*.safetensors"))[-1]
    shard.unlink()
    r = load_path("convert", run / "convert")
    assert "hf_iter_12800" not in r.checkpoints
    assert "checkpoint shards missing" in r.errors["checkpoints.hf_iter_12800"]


def test_empty_step_directory(tmp_path):
    (tmp_path / "convert").mkdir()
    assert "no hf_iter_<N>" in load_path("convert", tmp_path / "convert").errors["checkpoints"]
