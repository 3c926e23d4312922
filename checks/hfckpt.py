"""Read a Hugging Face checkpoint directory without loading a tensor: config.json plus safetensors headers.

A safetensors file is an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
data_offsets) and the raw data. Only the header is read; the file size is checked against the offsets
so a truncated shard is reported, not counted.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

from checks.errors import CheckError

_MAX_HEADER = 100 * 1024 * 1024  # safetensors itself refuses headers above 100 MB
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int = 0  # absolute byte offset of its data in the file
    end: int = 0

    @property
    def numel(self) -> int:
        return prod(self.shape)


def read_safetensors_header(path: Path) -> list[Tensor]:
    """Return the tensors a .safetensors file declares; CheckError if the file is not a whole one."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        raw_len = f.read(8)
        if len(raw_len) < 8:
            raise _bad(path, f"{size} bytes, too short for a header")
        (n,) = struct.unpack("<Q", raw_len)
        if n > min(_MAX_HEADER, size - 8):
            raise _bad(path, f"header length {n} does not fit in a {size}-byte file")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    tensors, data_end = [], 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
            if not (isinstance(start, int) and isinstance(end, int)) or start < 0 or end < start:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise _bad(path, f"tensor {name!r} has no dtype/shape/data_offsets") from None
        if dtype not in DTYPE_BYTES or end - start != prod(shape) * DTYPE_BYTES[dtype]:
            raise _bad(path, f"tensor {name!r}: {dtype} {list(shape)} does not match {end - start} bytes")
        data_end = max(data_end, end)
        tensors.append(Tensor(name, dtype, shape, 8 + n + start, 8 + n + end))
    if size < 8 + n + data_end:
        raise _bad(path, f"file has {size} bytes but its header needs {8 + n + data_end} (truncated?)")
    return tensors


WINDOW = 4096


def windows(start: int, end: int) -> list[tuple[int, int]]:
    """Where a tensor's fingerprint reads: its first, middle and last WINDOW bytes (all of it if smaller)."""
    if end - start <= 3 * WINDOW:
        return [(start, end)]
    mid = start + (end - start) // 2
    return [(start, start + WINDOW), (mid, mid + WINDOW), (end - WINDOW, end)]


def fingerprint(path: Path, t: Tensor) -> str:
    """A content hash of one tensor from three small reads: enough to tell two checkpoints' weights apart
    (or the same weights copied), never loading a whole tensor."""
    import hashlib

    h = hashlib.sha256(f"{t.dtype}{t.shape}".encode())
    with Path(path).open("rb") as f:
        for a, b in windows(t.start, t.end):
            f.seek(a)
            h.update(f.read(b - a))
    return h.hexdigest()[:16]


def _bad(path: Path, found: str) -> CheckError:
    return CheckError(
        "not a readable safetensors file",
        where=str(path),
        expected="8-byte header length, JSON header, tensor data",
        found=found,
        hint="the export was interrupted or the file is corrupt; rerun the step that wrote it",
    )


@dataclass
class HFCheckpoint:
    """What the kit checks of an exported checkpoint."""

    path: str
    files: list[str]
    architectures: list[str]
    model_type: str | None
    hybrid_override_pattern: str | None
    num_layers: int | None
    hidden_size: int | None
    mamba_num_heads: int | None
    mamba_head_dim: int | None
    ffn_hidden_size: int | None
    params: int
    bytes: int
    dtypes: dict[str, int] = field(default_factory=dict)  # dtype -> number of elements
    quantization: dict | None = None
    layout: dict[str, str] = field(default_factory=dict)  # module kind -> dtype (or "mixed:...")
    has_tokenizer: bool = False
    inconsistencies: list[str] = field(default_factory=list)  # config.json vs tensor shapes
    fingerprints: dict[str, str] = field(default_factory=dict)  # sample tensors kept in BF16 by FP8 PTQ -> content hash
    resolved: str = ""  # the directory's real path (a symlink followed)


# Scales written beside FP8 weights are bookkeeping, not model parameters.
_NOT_PARAMS = re.compile(r"(_scale|_scale_2|\.amax)$")
_LAYER = re.compile(r"^(?:model\.|backbone\.)?layers\.(\d+)\.mixer\.(\w+)\.weight$")
_KINDS = {"M": "mamba", "-": "mlp", "*": "attention", "E": "moe"}


def load_hf_checkpoint(path: Path) -> HFCheckpoint:
    """Summarise an HF checkpoint directory; CheckError when config.json or the weights are missing."""
    path = Path(path)
    if not path.is_dir():
        raise CheckError(
            "checkpoint directory missing",
            where=str(path),
            expected="a Hugging Face checkpoint (config.json and *.safetensors)",
            found="no such directory",
            hint="run the step that exports it, or check the run directory",
        )
    config_path = path / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8", errors="replace"))
    except FileNotFoundError:
        raise CheckError("config.json missing", where=str(config_path),
                         hint="the export did not finish; rerun the step") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise CheckError("config.json is not valid JSON", where=str(config_path), found=getattr(e, "msg", type(e).__name__),
                         hint="the export did not finish; rerun the step") from None
    except (IsADirectoryError, PermissionError) as e:
        raise CheckError("config.json cannot be read", where=str(config_path), found=type(e).__name__,
                         expected="a file") from None
    if not isinstance(config, dict):
        raise CheckError("config.json is not a JSON object", where=str(config_path))
    shards = sorted(path.glob("*.safetensors"))
    odd = [p.name for p in shards if not p.is_file()]
    if odd:
        raise CheckError("a shard that is not a file", where=str(path), found=", ".join(odd),
                         hint="the export or copy went wrong; rerun the step")
    if not shards:
        raise CheckError("no weights in checkpoint", where=str(path), expected="*.safetensors files",
                         found="none", hint="the export did not finish; rerun the step")
    _check_index(path, {s.name for s in shards})
    if len(shards) > 1 and not (path / "model.safetensors.index.json").exists():
        raise CheckError("sharded checkpoint without model.safetensors.index.json", where=str(path),
                         found=f"{len(shards)} shards", hint="loaders need the index; the export did not finish")
    by_shard = [(s, read_safetensors_header(s)) for s in shards]
    tensors = [t for _, ts in by_shard for t in ts]
    sampled = sample_names(tensors, hybrid_pattern(config))  # once: per tensor it made loading quadratic
    dtypes: dict[str, int] = {}
    for t in tensors:
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + t.numel
    pattern = hybrid_pattern(config)
    quant = config.get("quantization_config")
    hf_quant = path / "hf_quant_config.json"
    if hf_quant.exists():
        try:
            quant = json.loads(hf_quant.read_text(encoding="utf-8", errors="replace"))
        except (json.JSONDecodeError, RecursionError, IsADirectoryError, PermissionError) as e:
            raise CheckError("hf_quant_config.json is not valid JSON", where=str(hf_quant),
                             found=getattr(e, "msg", type(e).__name__)) from None
    return HFCheckpoint(
        path=str(path),
        files=sorted(p.name for p in path.iterdir()),
        architectures=list(config.get("architectures") or []),
        model_type=config.get("model_type"),
        hybrid_override_pattern=pattern,
        num_layers=_int(config.get("num_hidden_layers")) or (len(pattern) if pattern else None),
        hidden_size=_int(config.get("hidden_size")),
        mamba_num_heads=_int(config.get("mamba_num_heads")),
        mamba_head_dim=_int(config.get("mamba_head_dim")),
        ffn_hidden_size=_int(config.get("intermediate_size")),
        params=sum(t.numel for t in tensors if not _NOT_PARAMS.search(t.name)),
        bytes=sum(s.stat().st_size for s in shards),
        dtypes=dtypes,
        quantization=quant if isinstance(quant, dict) else None,
        layout=layer_layout(tensors, pattern),
        has_tokenizer=any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model")),
        inconsistencies=inconsistencies(config, tensors) + (
            [] if isinstance(config.get("quantization_config", {}), dict) else
            [f"config.json quantization_config is a {type(config['quantization_config']).__name__}, not an object "
             "(loaders read it)"]),
        fingerprints={t.name: fingerprint(s, t) for s, ts in by_shard for t in ts if t.name in sampled},
        resolved=str(path.resolve()),
    )


def sample_names(tensors: list[Tensor], pattern: str | None) -> set[str]:
    """The tensors a lineage check compares: ones FP8 PTQ leaves in BF16 (embeddings, the first and last norms,
    the first Mamba conv1d, the first attention q_proj). Byte-identical in a checkpoint and its FP8 export."""
    names = {t.name for t in tensors}
    out = {n for n in names if n.endswith(("embeddings.weight", "embed_tokens.weight"))}
    norms = sorted((n for n in names if re.match(r"^(?:model\.|backbone\.)?layers\.\d+\.norm\.weight$", n)),
                   key=lambda n: int(n.split("layers.")[1].split(".")[0]))
    out |= set(norms[:1] + norms[-1:])
    for kind in ("mixer.conv1d.weight", "mixer.q_proj.weight"):
        hits = sorted((n for n in names if n.endswith(kind)), key=lambda n: int(n.split("layers.")[1].split(".")[0]))
        out |= set(hits[:1])
    return out


def _check_index(path: Path, present: set[str]) -> None:
    index = path / "model.safetensors.index.json"
    if not index.exists():
        return
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8", errors="replace"))["weight_map"]
        wanted = set(weight_map.values())
        if not all(isinstance(v, str) for v in wanted):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, IsADirectoryError, RecursionError):
        raise CheckError("model.safetensors.index.json has no weight_map", where=str(index),
                         hint="the export did not finish; rerun the step") from None
    missing = sorted(wanted - present)
    if missing:
        raise CheckError("checkpoint shards missing", where=str(path),
                         expected=f"every shard the index names ({len(wanted)})",
                         found=f"missing: {', '.join(missing)}",
                         hint="the export or copy did not finish; rerun the step")


# transformers >= 5 writes the hybrid layout as layers_block_type instead of hybrid_override_pattern.
_BLOCK_TYPES = {"mamba": "M", "linear_attention": "M", "mlp": "-", "attention": "*", "full_attention": "*", "moe": "E"}


def hybrid_pattern(config: dict) -> str | None:
    """The hybrid layer pattern ('M-M*-...'), from either spelling of it in config.json."""
    p = config.get("hybrid_override_pattern")
    if isinstance(p, str):
        return p
    types = config.get("layers_block_type")
    if isinstance(types, list) and types and all(t in _BLOCK_TYPES for t in types):
        return "".join(_BLOCK_TYPES[t] for t in types)
    return None


def inconsistencies(config: dict, tensors: list[Tensor]) -> list[str]:
    """Disagreements between config.json and the weights: a checkpoint loaders would refuse."""
    out = []
    shapes = {t.name: t.shape for t in tensors}
    layers = {int(m.group(1)) for t in tensors if (m := re.match(r"^(?:model\.|backbone\.)?layers\.(\d+)\.", t.name))}
    hidden, pattern = config.get("hidden_size"), hybrid_pattern(config)
    n = config.get("num_hidden_layers") or (len(pattern) if pattern else None)
    if layers and n != len(layers):
        out.append(f"num_hidden_layers {n} but weights for {len(layers)} layers")
    if isinstance(pattern, str) and layers and len(pattern) != len(layers):
        out.append(f"hybrid_override_pattern has {len(pattern)} layers but weights have {len(layers)}")
    for name, shape in shapes.items():
        if name.endswith(("embeddings.weight", "embed_tokens.weight")) and len(shape) == 2:
            if shape[1] != hidden:
                out.append(f"hidden_size {hidden} but {name} is {list(shape)}")
            if config.get("vocab_size") not in (None, shape[0]):
                out.append(f"vocab_size {config.get('vocab_size')} but {name} is {list(shape)}")
    for name, shape in shapes.items():
        m = _LAYER.match(name)
        if not m or len(shape) != 2:
            continue
        sub = m.group(2)
        want = {"up_proj": (config.get("intermediate_size"), hidden), "down_proj": (hidden, config.get("intermediate_size")),
                "out_proj": (hidden, _mul(config.get("mamba_num_heads"), config.get("mamba_head_dim")))}.get(sub)
        if want and tuple(shape) != want:
            out.append(f"{name} is {list(shape)}, config implies {list(want)}")
            if len(out) > 20:
                break
    return out


def _mul(a: object, b: object) -> int | None:
    return a * b if isinstance(a, int) and isinstance(b, int) else None


def layer_layout(tensors: list[Tensor], pattern: str | None) -> dict[str, str]:
    """Map each module kind (e.g. 'mamba.in_proj', 'attention.q_proj', 'lm_head') to the dtype of its weights.

    The layer kind comes from the hybrid pattern (M mamba, - mlp, * attention); a kind whose layers
    disagree is reported as 'mixed:<dtypes>' so one stray BF16 layer cannot hide.
    """
    seen: dict[str, set[str]] = {}
    for t in tensors:
        m = _LAYER.match(t.name)
        if m:
            layer, sub = int(m.group(1)), m.group(2)
            kind = _KINDS.get(pattern[layer], "layer") if pattern and layer < len(pattern) else "layer"
            key = f"{kind}.{sub}"
        elif t.name.endswith("embeddings.weight") or t.name.endswith("embed_tokens.weight"):
            key = "embeddings"
        elif t.name == "lm_head.weight":
            key = "lm_head"
        else:
            continue
        seen.setdefault(key, set()).add(t.dtype)
    return {k: (next(iter(v)) if len(v) == 1 else "mixed:" + ",".join(sorted(v))) for k, v in sorted(seen.items())}


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
