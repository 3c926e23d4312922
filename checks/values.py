"""Values and tolerances: follow a golden's path into a record, and compare a measured value with a reference
within a tolerance. Pure; the one place these rules live (checks.judge, checks.engine, checks.diff and
checks.watch all compare through here)."""

from __future__ import annotations

import dataclasses
import math
import re

from checks.findings import ERROR, FAIL, PASS, Status
from checks.goldens import Golden, Tolerance


def is_number(x: object) -> bool:
    """An int or a float, never a bool."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def gpu_key(gpu_model: str, keys: list[str]) -> str | None:
    """The golden key naming this GPU: a key matches when it appears in the model name as whole words;
    the longest match wins ('H100' matches 'NVIDIA H100 80GB HBM3')."""
    hits = [k for k in keys if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", gpu_model, re.IGNORECASE)]
    return max(hits, key=len) if hits else None


class Missing(Exception):
    """A record lacks the value a golden names; `depth` says how far the path got. Internal: the judge turns it
    into a SKIP or an ERROR finding, never lets it out."""

    def __init__(self, depth: int, segment: str) -> None:
        super().__init__(segment)
        self.depth, self.segment = depth, segment


def _step_into(node: object, parts: list[str], i: int) -> tuple[object, int]:
    """One step of a path: (the child, the index of the next part); Missing when there is no such child."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        if parts[i] not in _field_names(type(node)):
            raise Missing(0, parts[i])
        return getattr(node, parts[i]), i + 1
    if isinstance(node, dict):
        for j in range(len(parts), i, -1):  # keys that contain dots ('mlp.up_proj') are matched greedily
            key = ".".join(parts[i:j])
            if key in node:
                return node[key], j
        raise Missing(0, parts[i])
    if isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
        return node[int(parts[i])], i + 1
    raise Missing(0, parts[i])


def resolve(record: object, path: str) -> object:
    """Follow a dotted path into a record (dataclasses, dicts, lists). Raises Missing with how deep it got."""
    node: object = record  # walked as it is: converting a whole record per golden made judging quadratic
    parts = path.split(".")
    i = depth = 0
    while i < len(parts):
        try:
            node, nxt = _step_into(node, parts, i)
        except Missing:
            raise Missing(depth, parts[i]) from None
        if node is None:
            raise Missing(depth, parts[nxt - 1])
        i, depth = nxt, depth + 1
    return plain(node)


_FIELDS: dict[type, frozenset[str]] = {}


def _field_names(cls: type) -> frozenset[str]:
    if cls not in _FIELDS:
        _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return _FIELDS[cls]


def plain(x: object) -> object:
    """A value as plain data (what dataclasses.asdict would give), so goldens compare against dicts and lists."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.asdict(x)
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, tuple):
        return tuple(plain(v) for v in x)
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    return x


def measure(g: Golden, record: object) -> object:
    """The value a golden names in a record: its path, or the ratio of two paths.
    Raises Missing when the record lacks it, TypeError when a ratio cannot be formed."""
    if g.ratio:
        num, den = (resolve(record, p) for p in g.ratio)
        if not (is_number(num) and is_number(den)) or float(den) == 0:
            raise TypeError(f"cannot form ratio {g.ratio[0]} / {g.ratio[1]} from {num!r} / {den!r}")
        return float(num) / float(den)
    return resolve(record, g.path)


def locate(record: object, path: str | tuple | None) -> str:
    """file:line a record path was read from: the longest recorded prefix of the path."""
    where = getattr(record, "where", None) or {}
    for p in (path if isinstance(path, tuple) else (path,)):
        parts = (p or "").split(".")
        for k in range(len(parts), 0, -1):
            hit = where.get(".".join(parts[:k]))
            if hit:
                return hit
    return ""


def binomial_width(t: Tolerance, expected_pct: float) -> float:
    """Half-width, in percentage points, for the difference of two independent evaluations of one model
    on the same n questions, each averaging `repeats` samples: z * sqrt(2 p (1-p) / (n * repeats)).
    This is an upper bound of that difference's standard error (per-question variance <= p(1-p))."""
    trials = t.n * t.repeats
    p = min(max(expected_pct / 100.0, 1.0 / trials), 1.0 - 1.0 / trials)
    return 100.0 * t.z * math.sqrt(2.0 * p * (1.0 - p) / trials)


_WIDTH = {"abs": lambda t, e: t.value, "rel": lambda t, e: t.value * abs(e), "binomial": binomial_width}


def bounds(t: Tolerance, expected: object) -> tuple[float | None, float | None]:
    """The numeric interval a tolerance allows around `expected` (None where it is open or not numeric)."""
    if t.kind == "at_most":
        return None, t.value
    if t.kind == "at_least":
        return t.value, None
    if not is_number(expected):
        return None, None
    e = float(expected)
    if t.kind == "exact":
        return e, e
    w = _WIDTH[t.kind](t, e)
    return e - w, e + w


def describe(t: Tolerance, expected: object = None) -> str:
    """The tolerance as a reader would write it."""
    simple = {"exact": "exact", "abs": "±{v:g}", "at_most": "≤ {v:g}", "at_least": "≥ {v:g}"}
    if t.kind in simple:
        return simple[t.kind].format(v=t.value)
    if t.kind == "rel":
        return f"±{t.value * 100:g}%"
    width = binomial_width(t, expected) if is_number(expected) else None
    shown = f"±{width:.2f} " if width is not None else ""
    return f"{shown}({t.z:g}σ binomial, n={t.n}×{t.repeats})"


def compare(measured: object, expected: object, t: Tolerance) -> tuple[Status, str]:
    """(status, note) for one value. NaN and inf never pass a numeric tolerance."""
    if t.kind == "exact":
        return (PASS, "") if equal(measured, expected) else (FAIL, "differs")
    if not is_number(measured):
        return ERROR, f"expected a number, found {type(measured).__name__} {measured!r}"[:300]
    m = float(measured)
    if not math.isfinite(m):
        return FAIL, f"measured value is {m}"
    if t.kind == "at_most":
        return (PASS, "") if m <= t.value else (FAIL, f"{m:g} > {t.value:g}")
    if t.kind == "at_least":
        return (PASS, "") if m >= t.value else (FAIL, f"{m:g} < {t.value:g}")
    if not is_number(expected):
        return ERROR, f"golden is not a number: {expected!r}"
    lo, hi = bounds(t, expected)
    if lo <= m <= hi:
        return PASS, ""
    return FAIL, f"off by {m - float(expected):+.4g} (allowed ±{(hi - lo) / 2:.4g})"


def equal(a: object, b: object) -> bool:
    """Exact equality as the goldens mean it: numbers by value (1 == 1.0), containers item by item, else type and value."""
    if is_number(a) and is_number(b):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
