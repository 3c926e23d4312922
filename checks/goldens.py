"""Golden values as data: load and validate expected/<profile>.yaml strictly.

Each check names a value in a step's record (`path`, or `ratio: [numerator, denominator]`), the expected
value (`expect`, or `by_gpu: {GPU: value}`), a tolerance (`tol`) and where the value comes from (`source`).
Optional: `formats` (only for these log formats), `requires` (e.g. `{world_size: 768}`), `optional: true`
(SKIP when the model/variant was not run), `note` (shown with a FAIL), `xfail: <reason>` (a known
discrepancy: FAIL becomes XFAIL, and a PASS becomes XPASS, which fails: strict, like pytest's xfail).

`include: [{file: full.yaml, steps: [prune, bench]}]` takes those sections from another goldens file;
an entry `{id: X, override: true, ...}` then changes fields of the included check X, in plain sight.
Unknown keys, wrong types, duplicate keys or ids, aliases and non-finite numbers are errors naming the
file and line (exit 2), never silently ignored. Each check is also held against its step's record type
(checks.goldenschema, from the step registry): a `path` the record does not have, an `expect` of another
type than the value, a numeric tolerance on a value that is no number, a lineage rule echoing a value its
step does not record: exit 2 with the file and line, before anything is judged."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from checks import goldenschema, registry, yamlio
from checks.errors import CheckError
from checks.yamlio import YList, YMap

TOL_KINDS = ("exact", "abs", "rel", "binomial", "at_most", "at_least")
TOP_KEYS = ("profile", "sources", "diff", "include", "lineage", "relies_on")
LINEAGE_KEYS = ("unit", "flag", "echoed", "names", "names_model", "only_flags", "output", "differs_from", "architecture_of",
                "bf16_same_as", "optional")
ENTRY_KEYS = ("path", "ratio", "mean_of", "expect", "by_gpu", "tol", "formats", "requires", "optional", "note", "xfail", "override")
REQUIRES = ("world_size", "addition")
TUTORIAL = re.compile(r"\btutorial\b", re.IGNORECASE)


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
    mean_of: list[str] | None = None  # ids of checks in the same step: their mean, over those that ran
    expect: object = None
    by_gpu: dict[str, object] | None = None
    formats: list[str] | None = None
    requires: dict[str, object] = field(default_factory=dict)
    optional: bool = False
    note: str | None = None
    xfail: str | None = None
    where: str = ""  # file:line of the entry

    @property
    def cites_tutorial(self) -> bool:
        """Its value is the tutorial's: what reproducing means, so `checks bless` never replaces it."""
        return bool(TUTORIAL.search(self.source or ""))


@dataclass
class Lineage:
    """Each step's input is the previous step's output. Either a unit's command flag and/or what its log echoed
    `names` a path of the run (or `names_model`, a model id); or a checkpoint `output` is checked against
    another: `differs_from` (not a copy of it), `architecture_of`, `bf16_same_as` (the tensors FP8 PTQ keeps
    in BF16 are byte-identical, by fingerprint)."""

    id: str
    source: str
    unit: str | None = None
    flag: str | None = None
    echoed: str | None = None
    names: str | None = None
    names_model: str | None = None
    only_flags: str | None = None  # a unit's recorded command passes no flag but these (space-separated)
    output: str | None = None
    differs_from: str | None = None
    architecture_of: str | None = None
    bf16_same_as: str | None = None
    optional: bool = False
    where: str = ""


@dataclass
class Goldens:
    file: str
    profile: str
    steps: dict[str, list[Golden]]
    sources: dict[str, str]
    diff: dict[str, Tolerance] = field(default_factory=dict)  # tolerances for `checks diff` extras
    includes: list[str] = field(default_factory=list)
    lineage: list[Lineage] = field(default_factory=list)
    # "<script> <--flag>" -> ids ("step.id", globs allowed) of the goldens measured with that flag's default: a
    # tool default the tutorial's command relies on. `checks drift --gate` judges them when the default changed.
    relies_on: dict[str, list[str]] = field(default_factory=dict)


def load(path: Path) -> Goldens:
    return _load(Path(path), ())


def load_text(text: str, name: str) -> Goldens:
    """Validate goldens given as text (e.g. before `bless` writes them); includes resolve beside `name`."""
    return _from_doc(yamlio.loads(text, name), Path(name), ())


def _load(path: Path, chain: tuple[str, ...]) -> Goldens:
    if str(path.resolve()) in chain:
        raise CheckError("goldens include themselves", where=str(path), found=" -> ".join(chain + (str(path),)))
    return _from_doc(yamlio.load(path, "goldens file"), path, chain)


def _from_doc(doc: object, path: Path, chain: tuple[str, ...]) -> Goldens:
    if not isinstance(doc, dict) or doc.get("schema") != 1:
        raise CheckError("goldens file has no `schema: 1`", where=str(path),
                         expected="a mapping with schema: 1, profile, and one list of checks per step")
    sections = registry.judged()
    doc = yamlio.mapping(doc, "goldens file", str(path), required=("schema",), allowed=TOP_KEYS + sections)
    profile = yamlio.typed(doc, "profile", str, "goldens file", default=path.stem)
    sources = yamlio.typed(doc, "sources", dict, "goldens file", default={})
    steps, includes, sources, relies = _includes(doc, path, chain, sources)
    own: list[Golden] = []
    for step in sections:
        if step not in doc:
            continue
        items = doc[step]
        if not isinstance(items, list):
            raise CheckError(f"`{step}:` must be a list of checks", where=doc.where(step), found=yamlio.kind(items))
        for i, item in enumerate(items):
            where = items.where(i) if isinstance(items, YList) else f"{path}:{step}[{i}]"
            own.append(_add(steps.setdefault(step, []), step, item, where))
    for step, gs in steps.items():
        _unique_ids(step, gs)
    diff = {k: _tol(v, doc["diff"].where(k), f"diff.{k}")
            for k, v in (yamlio.typed(doc, "diff", dict, "goldens file", default={}) or {}).items()}
    lineage = [_lineage(x, doc["lineage"].where(i)) for i, x in enumerate(yamlio.typed(doc, "lineage", list, "goldens file",
                                                                                        default=[]))]
    ids = [x.id for x in lineage]
    if len(ids) != len(set(ids)):
        raise CheckError("duplicate lineage ids", where=str(path), found=", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    for key, ids in _relies_on(doc, steps).items():
        relies.setdefault(key, []).extend(i for i in ids if i not in relies.get(key, []))
    out = Goldens(str(path), profile, steps, dict(sources), diff, includes, lineage, relies)
    goldenschema.check(out, own, doc)
    return out


def _includes(doc: YMap, path: Path, chain: tuple[str, ...], sources: dict) -> tuple[dict, list[str], dict, dict]:
    """The sections `include:` takes from other goldens files (each loaded and checked on its own)."""
    steps: dict[str, list[Golden]] = {}
    includes: list[str] = []
    relies: dict[str, list[str]] = {}
    for inc in yamlio.typed(doc, "include", list, "goldens file", default=[]):
        inc = yamlio.mapping(inc, "include entry", doc.where("include"), required=("file", "steps"))
        other = path.parent / yamlio.typed(inc, "file", str, "include entry")
        wanted = yamlio.typed(inc, "steps", list, "include entry")
        base = _load(other, chain + (str(path.resolve()),))
        for step in wanted:
            if step not in base.steps:
                raise CheckError(f"include asks for `{step}` but {other} has no such section", where=inc.where("steps"),
                                 expected=", ".join(base.steps))
            steps.setdefault(step, []).extend(base.steps[step])
        includes.append(str(other))
        sources = {**base.sources, **sources}
        for key, ids in base.relies_on.items():
            kept = [i for i in ids if i.split(".", 1)[0] in wanted]
            if kept:
                relies.setdefault(key, []).extend(kept)
    return steps, includes, sources, relies


def _unique_ids(step: str, gs: list[Golden]) -> None:
    """Ids name one check each; a mean averages plain checks of its own step."""
    seen: dict[str, Golden] = {}
    for g in gs:
        if g.id in seen:
            raise CheckError(f"duplicate check id {step}.{g.id}", where=g.where, found=f"first at {seen[g.id].where}",
                             hint="ids name one check each; use `override: true` to change an included check")
        seen[g.id] = g
    for g in gs:
        bad = [x for x in g.mean_of or [] if x not in seen or seen[x].mean_of]
        if bad:
            raise CheckError(f"check {step}.{g.id} averages checks that are not plain checks of `{step}:`",
                             where=g.where, found=", ".join(bad))


def _relies_on(doc: YMap, steps: dict[str, list[Golden]]) -> dict[str, list[str]]:
    """`relies_on: {"prune_minitron.py --prune_score_func": [prune.candidate_*_score, ...]}`: every pattern must
    name a golden of this file (a misspelt one would silently never be judged)."""
    from fnmatch import fnmatchcase

    out: dict[str, list[str]] = {}
    raw = yamlio.typed(doc, "relies_on", dict, "goldens file", default={}) or {}
    for key, ids in raw.items():
        where = doc["relies_on"].where(key)
        if not (isinstance(key, str) and len(key.split()) == 2 and key.split()[1].startswith("--")):
            raise CheckError("malformed `relies_on` key", where=where, expected="'<script file> <--flag>', e.g. "
                             "'prune_minitron.py --prune_score_func'", found=repr(key))
        if not (isinstance(ids, list) and ids and all(isinstance(i, str) and "." in i for i in ids)):
            raise CheckError(f"malformed `relies_on` entry {key!r}", where=where,
                             expected="a list of golden ids, 'step.id' (globs allowed: prune.candidate_*_score)")
        for i in ids:
            step, pat = i.split(".", 1)
            if not any(fnmatchcase(g.id, pat) for g in steps.get(step, [])):
                raise CheckError(f"`relies_on` names {i}, which matches no golden", where=where,
                                 expected=f"ids of `{step}:` checks", hint="fix the id or the pattern")
        out[key] = list(ids)
    return out


def _lineage(x: object, where: str) -> Lineage:
    m = yamlio.mapping(x, "a lineage check", where, required=("id", "source"), allowed=LINEAGE_KEYS)
    what = f"lineage check {m.get('id')}"
    vals = {k: yamlio.typed(m, k, bool if k == "optional" else str, what) for k in m}
    if ("unit" in m) == ("output" in m):
        raise CheckError(f"{what} needs exactly one of `unit` (a command/log names a path) and `output` (a checkpoint)",
                         where=m.where())
    if "unit" in m and "only_flags" in m:
        if any(k in m for k in ("flag", "echoed", "names", "names_model")):
            raise CheckError(f"{what}: `only_flags` is a check of its own (no flag/echoed/names)", where=m.where())
    elif "unit" in m and not (("flag" in m or "echoed" in m) and (("names" in m) != ("names_model" in m))):
        raise CheckError(f"{what}: a unit check names `flag` and/or `echoed`, and one of `names`/`names_model`, "
                         "or `only_flags`", where=m.where())
    if "output" in m and not any(k in m for k in ("differs_from", "architecture_of", "bf16_same_as")):
        raise CheckError(f"{what}: an output check needs differs_from, architecture_of or bf16_same_as", where=m.where())
    return Lineage(**vals, where=m.where())


def _add(gs: list[Golden], step: str, item: object, where: str) -> Golden:
    """Parse one entry of a step's section into `gs` (or change the included check it overrides); returns it."""
    item = yamlio.mapping(item, f"a check in `{step}:`", where, required=("id",), allowed=ENTRY_KEYS + ("source",))
    gid = str(yamlio.typed(item, "id", (str, int), "a check"))
    what = f"check {step}.{gid}"
    if item.get("override") is True:
        return _override(gs, item, gid, what)
    if "override" in item:
        yamlio.typed(item, "override", bool, what)
    if sum(k in item for k in ("path", "ratio", "mean_of")) != 1:
        raise _bad(item, what, "exactly one of `path`, `ratio` and `mean_of`")
    if "mean_of" in item and "tol" in item:
        raise _bad(item, what, "no `tol`: a mean's tolerance comes from its parts' (sqrt of the sum of squares / k)", "tol")
    if ("expect" in item) == ("by_gpu" in item):
        raise _bad(item, what, "exactly one of `expect` and `by_gpu`")
    if not item.get("source"):
        raise _bad(item, what, "a `source` saying where the value comes from")
    g = Golden(step=step, id=gid, where=item.where(), **_fields(item, what, partial=False))
    gs.append(g)
    return g


def _override(gs: list[Golden], item: YMap, gid: str, what: str) -> Golden:
    idx = next((k for k, g in enumerate(gs) if g.id == gid), None)
    if idx is None:
        raise CheckError(f"{what} has `override: true` but no included check has that id", where=item.where())
    merged = replace(gs[idx], **_fields(item, what, partial=True), where=item.where())
    if sum(x is not None for x in (merged.path, merged.ratio, merged.mean_of)) != 1 \
            or (merged.expect is None) == (merged.by_gpu is None):
        raise CheckError(f"{what}: the override leaves it without exactly one of path/ratio/mean_of and expect/by_gpu",
                         where=item.where())
    gs[idx] = merged
    return merged


def _f_path(item: YMap, what: str) -> dict:
    return {"path": yamlio.typed(item, "path", str, what), "ratio": None, "mean_of": None}


def _f_mean_of(item: YMap, what: str) -> dict:
    ids = item["mean_of"]
    if not (isinstance(ids, list) and len(ids) >= 2 and all(isinstance(x, str) for x in ids)):
        raise _bad(item, what, "`mean_of: [id of a check in this step, ...]` (two or more)", "mean_of")
    return {"mean_of": list(ids), "path": None, "ratio": None}


def _f_ratio(item: YMap, what: str) -> dict:
    ratio = item["ratio"]
    if not (isinstance(ratio, list) and len(ratio) == 2 and all(isinstance(r, str) for r in ratio)):
        raise _bad(item, what, "`ratio: [numerator path, denominator path]`", "ratio")
    return {"ratio": tuple(ratio), "path": None, "mean_of": None}


def _f_expect(item: YMap, what: str) -> dict:
    return {"expect": _finite(item["expect"], item, "expect", what), "by_gpu": None}


def _f_by_gpu(item: YMap, what: str) -> dict:
    by_gpu = item["by_gpu"]
    if not (isinstance(by_gpu, dict) and by_gpu):
        raise _bad(item, what, "`by_gpu: {GPU model: value}`", "by_gpu")
    return {"by_gpu": {str(k): _finite(v, item, "by_gpu", what) for k, v in by_gpu.items()}, "expect": None}


def _f_formats(item: YMap, what: str) -> dict:
    f = item["formats"]
    if not (isinstance(f, list) and f and all(isinstance(x, str) for x in f)):
        raise _bad(item, what, "`formats: [log format, ...]`", "formats")
    return {"formats": list(f)}


def _f_requires(item: YMap, what: str) -> dict:
    req = yamlio.mapping(item["requires"], f"`requires` of {what}", item.where("requires"), allowed=REQUIRES)
    return {"requires": {k: yamlio.typed(req, k, int if k == "world_size" else str, f"`requires` of {what}") for k in req}}


# Each key of an entry and how it is read; `tol` is read apart (a default when it is absent).
_READERS = {"path": _f_path, "mean_of": _f_mean_of, "ratio": _f_ratio, "expect": _f_expect, "by_gpu": _f_by_gpu,
            "formats": _f_formats, "requires": _f_requires,
            "source": lambda item, what: {"source": yamlio.typed(item, "source", str, what)},
            "optional": lambda item, what: {"optional": yamlio.typed(item, "optional", bool, what)},
            "note": lambda item, what: {"note": yamlio.typed(item, "note", str, what)},
            "xfail": lambda item, what: {"xfail": yamlio.typed(item, "xfail", str, what)}}


def _fields(item: YMap, what: str, partial: bool) -> dict:
    """The Golden fields an entry sets (`partial`: an override, which sets only what it names)."""
    out: dict = {}
    for key, read in _READERS.items():
        if key in item:
            out.update(read(item, what))
    if "tol" in item or not partial:
        out["tol"] = _tol(item.get("tol", "exact"), item.where("tol"), what)
    return out


def _finite(v: object, item: YMap, key: str, what: str) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        raise _bad(item, what, f"a finite `{key}`", key)
    if isinstance(v, dict):
        return {k: _finite(x, item, key, what) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x, item, key, what) for x in v]
    return v


def _finite_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _tol_bound(kind: str, v: object) -> Tolerance | None:
    if kind in ("abs", "rel", "at_most", "at_least") and _finite_number(v) and not (kind in ("abs", "rel") and v < 0):
        return Tolerance(kind, float(v))
    return None


def _tol_binomial(v: object) -> Tolerance | None:
    if not (isinstance(v, dict) and set(v) <= {"n", "repeats", "z"}):
        return None
    n, repeats, z = v.get("n"), v.get("repeats", 1), v.get("z", 3.0)
    ints = all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in (n, repeats))
    return Tolerance("binomial", n=n, repeats=repeats, z=float(z)) if ints and _finite_number(z) and z > 0 else None


def _tol(t: object, where: str, what: str) -> Tolerance:
    if t == "exact":
        return Tolerance("exact")
    if isinstance(t, dict) and len(t) == 1:
        (kind, v), = t.items()
        if kind in ("abs", "rel") and _finite_number(v) and v < 0:
            raise CheckError(f"malformed tolerance of {what}", where=where, expected=f"a non-negative `{kind}` tolerance",
                             found=repr(v))
        got = _tol_binomial(v) if kind == "binomial" else _tol_bound(kind, v)
        if got is not None:
            return got
    raise CheckError(f"malformed tolerance of {what}", where=where, found=repr(t)[:200],
                     expected="tol: exact | {abs: x} | {rel: x} | {at_most: x} | {at_least: x} | "
                              "{binomial: {n: questions, repeats: k, z: 3}} with finite numbers",
                     hint="every value needs its tolerance and its source")


def _bad(item: YMap, what: str, expected: str, key: str | None = None) -> CheckError:
    return CheckError(f"malformed {what}", where=item.where(key), expected=expected,
                      hint="fix the entry; every value needs its tolerance and its source")
