import numpy as np
import pytest
from safetensors.numpy import save_file

from checks.errors import CheckError
from checks.hfckpt import read_safetensors_header


def test_reader_agrees_with_the_safetensors_library(tmp_path):
    p = tmp_path / "m.safetensors"
    save_file({"a": np.zeros((3, 5), np.float32), "b": np.ones((7,), np.int64), "c": np.zeros((), np.float16)}, str(p))
    got = {t.name: (t.dtype, t.shape) for t in read_safetensors_header(p)}
    assert got == {"a": ("F32", (3, 5)), "b": ("I64", (7,)), "c": ("F16", ())}


@pytest.mark.parametrize("cut", [1, 100])
def test_truncated_file_is_refused(tmp_path, cut):
    p = tmp_path / "m.safetensors"
    save_file({"a": np.zeros((64, 64), np.float32)}, str(p))
    data = p.read_bytes()
    p.write_bytes(data[:-cut])
    with pytest.raises(CheckError, match="truncated"):
        read_safetensors_header(p)


@pytest.mark.parametrize("data", [b"", b"\x00" * 4, b"\xff" * 8 + b"{}", b"\x02\x00\x00\x00\x00\x00\x00\x00[]",
                                  b"\x10\x00\x00\x00\x00\x00\x00\x00" + b"\xfe" * 16])
def test_garbage_is_refused(tmp_path, data):
    p = tmp_path / "m.safetensors"
    p.write_bytes(data)
    with pytest.raises(CheckError):
        read_safetensors_header(p)
