"""Edit a goldens file as a reviewer would: change the values of named entries in place and leave every other
character as it is (comments, order, quoting, folding). ruamel.yaml composes the file into nodes that know where
each value starts and ends; only those spans are replaced, each with the new value written on one line."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from checks.errors import CheckError

_PLAIN = re.compile(r"[A-Za-z_/][\w./+-]*")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


@dataclass(frozen=True)
class Change:
    """Set `key` of the entry whose id is `gid` in the list `section` to `value`."""

    section: str
    gid: str
    key: str
    value: object


def scalar(v: object) -> str:
    """A value as YAML that PyYAML (the kit's loader) reads back as the same value, on one line, valid in flow
    collections too."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise CheckError("a goldens value must be finite", found=repr(v))
        r = repr(v)
        if "e" in r and "." not in r.split("e")[0]:  # PyYAML reads 1e-05 as text, 1.0e-05 as a number
            r = r.replace("e", ".0e", 1)
        return r
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {scalar(x)}" for k, x in v.items()) + "}"
    s = str(v)
    if _PLAIN.fullmatch(s) and s.lower() not in _RESERVED:
        return s
    if s.isprintable():
        return "'" + s.replace("'", "''") + "'"
    return json.dumps(s, ensure_ascii=False)


def _compose(text: str, name: str) -> Node:
    try:
        return YAML(typ="rt").compose(text)
    except YAMLError as e:
        raise CheckError("not valid YAML", where=name, found=str(e).splitlines()[0]) from None


def _get(node: Node, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        return next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key), None)
    return None


def _entry(root: Node, section: str, gid: str, name: str) -> MappingNode:
    items = _get(root, section)
    if isinstance(items, SequenceNode):
        for item in items.value:
            ident = _get(item, "id")
            if isinstance(ident, ScalarNode) and ident.value == gid:
                return item
    raise CheckError(f"no entry {section}.{gid} in {name}", hint="the goldens file changed while bless ran; rerun it")


def _span(node: Node, text: str, value: object) -> tuple[int, int, str]:
    """(start, end, replacement) for a value node: a block mapping keeps its lines, one `key: value` each."""
    if isinstance(node, MappingNode) and not node.flow_style and isinstance(value, dict) and node.value:
        indent = " " * node.start_mark.column
        start, end = node.value[0][0].start_mark.index, node.value[-1][1].end_mark.index
        return start, end, f"\n{indent}".join(f"{scalar(str(k))}: {scalar(v)}" for k, v in value.items())
    return node.start_mark.index, node.end_mark.index, scalar(value)


def edit(text: str, name: str, changes: list[Change]) -> str:
    """The text with each change applied in place; CheckError when an entry or key is not in the file."""
    root = _compose(text, name)
    spans = []
    for c in changes:
        node = _get(_entry(root, c.section, c.gid, name), c.key)
        if node is None:
            raise CheckError(f"{c.section}.{c.gid} has no `{c.key}` in {name} to change")
        spans.append(_span(node, text, c.value))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text
