"""The goldens checked against the records' types when they load: a `path` must name a field the step's record
has (dataclass fields, dict keys of any name, list indices), and the expected value must be of that field's type,
with a numeric tolerance only on a number. Answers say what the path would find, or why it cannot."""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import lru_cache

ANY = object  # a field typed `object` (e.g. the settings vLLM echoed) holds anything


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, object]:
    return typing.get_type_hints(cls)


def _options(t: object) -> tuple:
    """The types a field may hold, None left out (`int | None` -> (int,))."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return tuple(a for a in typing.get_args(t) if a is not type(None))
    return (t,)


def _children(t: object, parts: list[str], i: int) -> list[tuple[object, int]]:
    """(the type one step down, the index of the next part) for each way parts[i:] can continue from type t."""
    out: list[tuple[object, int]] = []
    for opt in _options(t):
        origin, args = typing.get_origin(opt), typing.get_args(opt)
        if opt is ANY or opt is typing.Any:
            out.append((ANY, len(parts)))  # whatever lies below is the record's business
        elif dataclasses.is_dataclass(opt):
            hint = _hints(opt).get(parts[i])
            if hint is not None:
                out.append((hint, i + 1))
        elif origin is dict:
            out += [(args[1] if args else ANY, j) for j in range(len(parts), i, -1)]  # keys may contain dots
        elif origin in (list, tuple) and parts[i].isdigit():
            out.append((args[0] if args else ANY, i + 1))
    return out


def leaf_types(root: type, path: str) -> list[object]:
    """Every type `path` can end at in a record of type `root` ([] when no field of that name exists anywhere)."""
    parts = path.split(".")
    found: list[object] = []
    todo = [(root, 0)]
    while todo:
        t, i = todo.pop()
        if i == len(parts):
            found.append(t)
            continue
        todo += _children(t, parts, i)
    return found


def _kind(t: object) -> set[str]:
    """What a leaf type holds, as the goldens' values are written: number, bool, str, list, dict, any."""
    kinds: set[str] = set()
    for opt in _options(t):
        origin = typing.get_origin(opt) or opt
        if opt is ANY or opt is typing.Any:
            return {"any"}
        if opt is bool:
            kinds.add("bool")
        elif opt in (int, float):
            kinds.add("number")
        elif opt is str:
            kinds.add("str")
        elif origin in (list, tuple):
            kinds.add("list")
        elif origin is dict or dataclasses.is_dataclass(opt):
            kinds.add("dict")
        else:
            kinds.add("any")
    return kinds


def value_kind(v: object) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "str"
    if isinstance(v, (list, tuple)):
        return "list"
    return "dict" if isinstance(v, dict) else "any"


def kinds(root: type, path: str) -> set[str]:
    """What `path` can hold in a record of type `root` (empty: no such field)."""
    return set().union(*(_kind(t) for t in leaf_types(root, path))) if leaf_types(root, path) else set()


def fields_of(root: type) -> list[str]:
    """The record's top-level fields, for a message naming what there is."""
    return [f.name for f in dataclasses.fields(root)] if dataclasses.is_dataclass(root) else []
