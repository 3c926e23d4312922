"""How demo/real-runs/ was made from ../shared/real-runs/ (kept for the record; the demo never runs it).

    python demo/trim.py ../shared/real-runs demo/real-runs

Each run is copied as the kit wrote it, except:
- `quantize/hf_fp8` and `convert/hf_iter_40` were stored there as text files holding their symlink targets:
  they are symlinks again (convert/hf_iter_40 dangles: its target was deleted on the GPU machine).
- the teacher's weights (`data/teacher/model.safetensors`, 5.9 MB, read by no check) are dropped.
- each FP8 `model.safetensors` keeps its header and its size; of its tensor data only the bytes the kit reads
  (checks/hfckpt.py `fingerprint`: windows of the tensors `sample_names` picks) are kept, the rest is zero.
  Everything `checks` reads of the file is therefore what the H100 wrote; the weights themselves are not.
The 7b-fp8/ directory is copied whole (headers JSON, logs, the kit's parse)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

from checks.hfckpt import load_hf_checkpoint, read_safetensors_header, sample_names, windows

RUNS = ("base-0.44.0", "intent-0.45.0", "intent-0.46.0", "intent-0.47.0", "aggr-0.46.0", "asis-0.45.0")
LINKS = ("quantize/hf_fp8", "convert/hf_iter_40")
DROPPED = ("data/teacher/model.safetensors",)


def trim_safetensors(src: Path, dst: Path, pattern: str | None) -> None:
    tensors = read_safetensors_header(src)
    keep = sample_names(tensors, pattern)
    with src.open("rb") as f:
        head = f.read(min(t.start for t in tensors))
        spans = []
        for t in tensors:
            if t.name in keep:
                for a, b in windows(t.start, t.end):
                    f.seek(a)
                    spans.append((a, f.read(b - a)))
    with dst.open("wb") as g:
        g.write(head)
        for a, data in spans:
            g.seek(a)
            g.write(data)
        g.truncate(src.stat().st_size)  # the rest reads as zeros (sparse where the file system allows)


def main(src_root: Path, dst_root: Path) -> None:
    lines = []
    for run in RUNS:
        src, dst = src_root / "tiny" / run, dst_root / run
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, ignore=lambda d, names: [n for n in names if str(Path(d, n).relative_to(src)) in DROPPED])
        for p in dst.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() or p.name == "command.sh" else 0o644)
        for rel in LINKS:
            p = dst / rel
            if p.is_file() and p.stat().st_size < 200:
                target = p.read_text().strip()
                p.unlink()
                p.symlink_to(target)
        for st in sorted(src.rglob("*.safetensors")):
            rel = st.relative_to(src)
            if str(rel) in DROPPED:
                continue
            before = load_hf_checkpoint(st.parent)
            trim_safetensors(st, dst / rel, before.hybrid_override_pattern)
            after = load_hf_checkpoint(dst / rel.parent)
            assert (after.bytes, after.layout, after.dtypes, after.fingerprints) == \
                   (before.bytes, before.layout, before.dtypes, before.fingerprints), rel
            lines.append(f"{run}/{rel}: sha256 of the original {hashlib.sha256(st.read_bytes()).hexdigest()}, "
                         f"{before.bytes} bytes; fingerprints {json.dumps(before.fingerprints, sort_keys=True)}")
    shutil.rmtree(dst_root / "7b-fp8", ignore_errors=True)
    shutil.copytree(src_root / "7b-fp8", dst_root / "7b-fp8")
    for p in (dst_root / "7b-fp8").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
