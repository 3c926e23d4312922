"""Golden values as data: load and validate expected/<profile>.yaml.

Each check names a value in a step's record (`path`, or `ratio: [numerator, denominator]`), the
expected value (`expect`, or `by_gpu: {GPU: value}`), a tolerance (`tol`) and where the value
comes from (`source`). Optional gates: `formats` (only for these log formats), `requires`
(e.g. `{world_size: 768}`), `optional: true` (SKIP when the model/variant was not run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from checks.errors import CheckError
from checks.rundir import STEPS

TOL_KINDS = ("exact", "abs", "rel", "binomial", "at_most", "at_least")


@dataclass(frozen=True)
class Tolerance:
    kind: str
    value: float | None = None
    n: int | None = None  # binomial: questions in the benchmark
    repeats: int = 1  # binomial: samples averaged per question
    z: float = 3.0  # binomial: how many standard errors of a rerun's difference


@dataclass
class Golden:
    step: str
    id: str
    source: str
    tol: Tolerance
    path: str | None = None
    ratio: tuple[str, str] | None = None
    expect: object = None
    by_gpu: dict[str, object] | None = None
    formats: list[str] | None = None
    requires: dict[str, object] = field(default_factory=dict)
    optional: bool = False
    note: str | None = None


@dataclass
class Goldens:
    file: str
    profile: str
    steps: dict[str, list[Golden]]
    sources: dict[str, str]
    diff: dict[str, Tolerance] = field(default_factory=dict)  # tolerances for `checks diff` extras


def load(path: Path) -> Goldens:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckError("goldens file missing", where=str(path), expected="expected/<profile>.yaml",
                         hint="pass --expected with an existing file") from None
    return load_text(text, str(path))


def load_text(text: str, name: str) -> Goldens:
    path = Path(name)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CheckError("goldens file is not valid YAML", where=str(path), found=str(e).splitlines()[0]) from None
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise CheckError("goldens file has no `schema: 1`", where=str(path),
                         expected="a mapping with schema: 1, profile, and one list of checks per step")
    steps: dict[str, list[Golden]] = {}
    for step in STEPS:
        if step in doc:
            items = doc[step]
            if not isinstance(items, list):
                raise _bad(path, step, "?", "a list of checks")
            steps[step] = [_golden(path, step, i, item) for i, item in enumerate(items)]
    unknown = set(doc) - set(STEPS) - {"schema", "profile", "sources", "diff"}
    if unknown:
        raise CheckError("unknown sections in goldens file", where=str(path),
                         expected=f"steps {', '.join(STEPS)}", found=", ".join(sorted(unknown)))
    ids = [(g.step, g.id) for gs in steps.values() for g in gs]
    dup = sorted({f"{s}.{i}" for s, i in ids if ids.count((s, i)) > 1})
    if dup:
        raise CheckError("duplicate check ids in goldens file", where=str(path), found=", ".join(dup))
    diff = {k: _tol(path, "diff", k, v) for k, v in (doc.get("diff") or {}).items()}
    return Goldens(str(path), str(doc.get("profile", path.stem)), steps, dict(doc.get("sources") or {}), diff)


def _golden(path: Path, step: str, i: int, item: object) -> Golden:
    if not isinstance(item, dict) or "id" not in item:
        raise _bad(path, step, i, "a mapping with id, path or ratio, expect or by_gpu, tol, source")
    gid = str(item["id"])
    if ("path" in item) == ("ratio" in item):
        raise _bad(path, step, gid, "exactly one of `path` and `ratio`")
    if ("expect" in item) == ("by_gpu" in item):
        raise _bad(path, step, gid, "exactly one of `expect` and `by_gpu`")
    if not item.get("source"):
        raise _bad(path, step, gid, "a `source` saying where the value comes from")
    ratio = item.get("ratio")
    if ratio is not None and not (isinstance(ratio, list) and len(ratio) == 2 and all(isinstance(r, str) for r in ratio)):
        raise _bad(path, step, gid, "`ratio: [numerator path, denominator path]`")
    by_gpu = item.get("by_gpu")
    if by_gpu is not None and not (isinstance(by_gpu, dict) and by_gpu):
        raise _bad(path, step, gid, "`by_gpu: {GPU model: value}`")
    return Golden(
        step=step, id=gid, source=str(item["source"]), tol=_tol(path, step, gid, item.get("tol", "exact")),
        path=item.get("path"), ratio=tuple(ratio) if ratio else None, expect=item.get("expect"),
        by_gpu={str(k): v for k, v in by_gpu.items()} if by_gpu else None,
        formats=list(item["formats"]) if item.get("formats") else None,
        requires=dict(item.get("requires") or {}), optional=bool(item.get("optional", False)),
        note=item.get("note"),
    )


def _tol(path: Path, step: str, gid: str, t: object) -> Tolerance:
    if t == "exact":
        return Tolerance("exact")
    if isinstance(t, dict) and len(t) == 1:
        (kind, v), = t.items()
        if kind in ("abs", "rel", "at_most", "at_least") and isinstance(v, (int, float)) and not isinstance(v, bool):
            if kind in ("abs", "rel") and v < 0:
                raise _bad(path, step, gid, f"a non-negative `{kind}` tolerance")
            return Tolerance(kind, float(v))
        if kind == "binomial" and isinstance(v, dict) and isinstance(v.get("n"), int) and v["n"] > 0:
            repeats, z = v.get("repeats", 1), v.get("z", 3.0)
            if isinstance(repeats, int) and repeats > 0 and isinstance(z, (int, float)) and z > 0:
                return Tolerance("binomial", n=v["n"], repeats=repeats, z=float(z))
    raise _bad(path, step, gid, "tol: exact | {abs: x} | {rel: x} | {at_most: x} | {at_least: x} | "
               "{binomial: {n: questions, repeats: k, z: 3}}")


def _bad(path: Path, step: str, gid: object, expected: str) -> CheckError:
    return CheckError("malformed check in goldens file", where=f"{path}: {step} / {gid}", expected=expected,
                      hint="fix the entry; every value needs its tolerance and its source")


class _Dumper(yaml.SafeDumper):
    """Short lists and flat mappings on one line, so a golden reads as one entry."""


def _seq(d, data):
    flow = all(isinstance(x, (int, float, str)) for x in data) and len(data) < 60
    return d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _map(d, data):
    flow = all(isinstance(x, (int, float, str, bool)) for x in data.values()) and len(data) < 8
    return d.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _seq)
_Dumper.add_representer(dict, _map)


def dump(doc: dict) -> str:
    """Goldens as YAML text, one blank line between step sections."""
    import re

    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return re.sub(r"\n(" + "|".join(STEPS) + r"):\n", r"\n\n\1:\n", text)
