"""Strict YAML for the kit's data files (goldens, profiles, errata): line numbers kept, duplicate keys and
aliases refused, and a schema check that names file and line for unknown, missing or mistyped keys.

Mappings load as `YMap` (a dict that remembers the line of each key), lists as `YList`."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from checks.errors import CheckError


class YMap(dict):
    """A mapping that knows where it and each of its keys stand in the file."""

    file: str = ""
    line: int = 0
    key_lines: dict

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key is not None else self.line
        return f"{self.file}:{line}"


class YList(list):
    file: str = ""
    line: int = 0
    item_lines: list

    def where(self, i: int | None = None) -> str:
        line = self.item_lines[i] if i is not None and i < len(self.item_lines) else self.line
        return f"{self.file}:{line}"


class _Loader(yaml.SafeLoader):
    file = ""
    allow_aliases = False

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent) and not self.allow_aliases:
            ev = self.peek_event()
            raise CheckError("YAML alias in a data file", where=f"{self.file}:{ev.start_mark.line + 1}",
                             found=f"*{ev.anchor}", expected="every value written out where it is used",
                             hint="replace the alias with the value itself: aliases hide values from a reviewer")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        out = YMap()
        out.file, out.line, out.key_lines = self.file, node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise CheckError("a mapping key that is not a plain value", where=f"{self.file}:{key_node.start_mark.line + 1}")
            if key in out:
                raise CheckError(f"duplicate key {key!r}", where=f"{self.file}:{key_node.start_mark.line + 1}",
                                 found=f"first at line {out.key_lines[key]}",
                                 hint="keep one of them: YAML would silently use the last")
            out[key] = self.construct_object(value_node, deep=True)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out

    def construct_sequence(self, node, deep=False):
        out = YList(self.construct_object(child, deep=True) for child in node.value)
        out.file, out.line = self.file, node.start_mark.line + 1
        out.item_lines = [child.start_mark.line + 1 for child in node.value]
        return out


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_sequence)


def loads(text: str, file: str, *, aliases: bool = False) -> object:
    """Parse YAML text; CheckError (with file:line) for bad YAML, duplicate keys or, unless allowed, aliases."""
    loader = None
    try:
        loader = _Loader(text)  # its reader refuses control characters already here
        loader.file, loader.allow_aliases = file, aliases
        return loader.get_single_data()
    except CheckError:
        raise
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        pos = getattr(e, "position", None)  # the reader's errors (control characters) give a character offset
        where = f"{file}:{mark.line + 1}" if mark else f"{file}:{text.count(chr(10), 0, pos) + 1}" if isinstance(pos, int) else file
        raise CheckError("not valid YAML", where=where, found=str(getattr(e, "problem", None) or e).splitlines()[0],
                         hint="fix the YAML syntax at that line") from None
    finally:
        if loader is not None:
            loader.dispose()


def load(path: Path, what: str, *, aliases: bool = False) -> object:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CheckError(f"{what} missing", where=str(path), hint="check the path") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as e:
        raise CheckError(f"{what} cannot be read", where=str(path), found=type(e).__name__) from None
    return loads(text, str(path), aliases=aliases)


# ---------------------------------------------------------------- schema checks


def mapping(node: object, what: str, where: str, *, required: tuple[str, ...] = (), allowed: tuple[str, ...] = ()) -> YMap:
    """`node` must be a mapping with every `required` key and no key outside required + allowed."""
    if not isinstance(node, dict):
        raise CheckError(f"{what} is not a mapping", where=where, found=kind(node),
                         expected=f"a mapping with {', '.join(required + allowed)}")
    node = node if isinstance(node, YMap) else _as_ymap(node, where)
    known = set(required) | set(allowed)
    for k in node:
        if k not in known:
            close = _closest(str(k), known)
            raise CheckError(f"unknown key {k!r} in {what}", where=node.where(k),
                             expected=f"one of {', '.join(sorted(known))}",
                             hint=f"did you mean {close!r}?" if close else "remove it or fix its name")
    for k in required:
        if k not in node:
            raise CheckError(f"{what} lacks `{k}`", where=node.where(), expected=f"keys {', '.join(required)}")
    return node


def typed(node: YMap, key: str, types: type | tuple, what: str, *, default: object = None) -> object:
    """node[key] if present and of `types` (bool never counts as a number), else a CheckError naming the line."""
    if key not in node:
        return default
    v = node[key]
    ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in _tuple(types))
    if isinstance(v, float) and not math.isfinite(v):
        ok = False
    if not ok:
        names = " or ".join(t.__name__ for t in _tuple(types))
        raise CheckError(f"`{key}` in {what} must be {names}", where=node.where(key), found=f"{kind(v)} {v!r}"[:200])
    return v


def _tuple(t) -> tuple:
    return t if isinstance(t, tuple) else (t,)


def kind(v: object) -> str:
    return {dict: "a mapping", YMap: "a mapping", list: "a list", YList: "a list", str: "a string",
            type(None): "nothing"}.get(type(v), type(v).__name__)


def _as_ymap(d: dict, where: str) -> YMap:
    m = YMap(d)
    m.file, m.line, m.key_lines = where.rsplit(":", 1)[0] if ":" in where else where, 0, {}
    return m


def _closest(word: str, known: set[str]) -> str | None:
    import difflib

    hits = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.75)
    return hits[0] if hits else None
