"""recipes/errata.yaml: every place where the kit runs something other than the tutorial's command, as data.

Each erratum states the tutorial's intent once and gives one expression per version range of the component
it depends on (ModelOpt, Megatron-Bridge, vLLM, the eval launcher): e.g. FP8 conservative is the hf_ptq.py
patch up to ModelOpt 0.44.x, `--qformat mamba_moe_fp8_conservative` from 0.45.0, and that flag on
examples/hf_ptq/hf_ptq.py from 0.46.0. A version no range covers stops the step before launch, naming the
erratum that needs a new range."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from checks import yamlio
from checks.errors import CheckError

KINDS = ("erratum", "fill", "patch")
COMPONENTS = {"modelopt": "ModelOpt", "megatron_bridge": "Megatron-Bridge", "vllm": "vLLM",
              "nemo_evaluator_launcher": "nemo-evaluator-launcher"}
ERRATUM_KEYS = ("id", "step", "reason", "recipe", "intent", "expressions", "kind", "versions", "find", "replace",
                "edits", "file")
EXPRESSION_KEYS = ("name", "versions", "kind", "find", "replace", "edits", "file")


@dataclass
class Expression:
    name: str
    versions: dict[str, SpecifierSet]
    kind: str
    edits: list[tuple[str, str]]
    file: str | None = None
    where: str = ""
    ranges: dict[str, str] | None = None  # as written in the file, for messages

    def covers(self, versions: dict[str, str | None]) -> bool:
        return all(versions.get(c) is not None and spec.contains(parse_version(versions[c]), prereleases=True)
                   for c, spec in self.versions.items())

    def describe(self) -> str:
        return ", ".join(f"{COMPONENTS[c]} {s}" for c, s in (self.ranges or self.versions).items()) or "every version"


@dataclass
class Erratum:
    id: str
    step: str
    reason: str
    expressions: list[Expression]
    recipe: str | list[str] | None = None  # e.g. tutorial/distill.sh (or a list); without it, every recipe of the step
    intent: str | None = None
    where: str = ""

    def select(self, versions: dict[str, str | None]) -> Expression:
        """The expression for these versions; CheckError, before anything launches, when none covers them."""
        for comp in sorted({c for e in self.expressions for c in e.versions}):
            if versions.get(comp) is None:
                raise CheckError(f"erratum {self.id} depends on the {COMPONENTS[comp]} version, which is unknown",
                                 where=self.where, hint=_VERSION_HINT[comp])
        for e in self.expressions:
            if e.covers(versions):
                return e
        have = ", ".join(f"{COMPONENTS[c]} {versions[c]}" for c in sorted({c for e in self.expressions for c in e.versions}))
        raise CheckError(f"erratum {self.id} has no expression for {have}", where=self.where,
                         expected="; ".join(f"{e.name}: {e.describe()}" for e in self.expressions),
                         hint="check what the tutorial's intent needs at that version and add a range to recipes/errata.yaml "
                              "(checks drift --flags-only shows which scripts and flags exist there)")


_VERSION_HINT = {
    "modelopt": "MODELOPT_REF is not a version (a branch or commit?): also give MODELOPT_VERSION=<the version it "
                "reports>, e.g. make regress MODELOPT_REF=main MODELOPT_VERSION=0.47.0",
    "megatron_bridge": "set MEGATRON_BRIDGE_VERSION in versions.env to the version the base image ships",
    "vllm": "set VLLM_VERSION in versions.env",
    "nemo_evaluator_launcher": "set NEMO_EVALUATOR_LAUNCHER_VERSION in versions.env",
}


def parse_version(v: str) -> Version:
    """'0.46.0', '0.47.0dev', '0.47.0.dev12+gabc', 'v0.3.0' -> Version; InvalidVersion for 'main' or a SHA."""
    return Version(str(v).strip().lstrip("v"))


def is_version(v: str | None) -> bool:
    try:
        parse_version(v or "")
        return True
    except InvalidVersion:
        return False


def load(path: Path) -> list[Erratum]:
    doc = yamlio.load(path, "errata file")
    if not isinstance(doc, dict) or doc.get("schema") != 2:
        raise CheckError("errata file has no `schema: 2`", where=str(path),
                         expected="schema: 2 and a list `errata:` whose entries carry version ranges")
    doc = yamlio.mapping(doc, "errata file", str(path), required=("schema", "errata"))
    items = yamlio.typed(doc, "errata", list, "errata file")
    out, seen = [], {}
    for i, item in enumerate(items):
        e = _erratum(item, items.where(i))
        if e.id in seen:
            raise CheckError(f"duplicate erratum id {e.id}", where=e.where, found=f"first at {seen[e.id]}")
        seen[e.id] = e.where
        out.append(e)
    return out


def _erratum(item: object, where: str) -> Erratum:
    m = yamlio.mapping(item, "an erratum", where, required=("id", "step", "reason"), allowed=ERRATUM_KEYS)
    eid = yamlio.typed(m, "id", str, "an erratum")
    what = f"erratum {eid}"
    for k in ("step", "reason", "intent"):
        yamlio.typed(m, k, str, what)
    recipe = yamlio.typed(m, "recipe", (str, list), what)
    if isinstance(recipe, list) and not (recipe and all(isinstance(r, str) for r in recipe)):
        raise CheckError(f"`recipe` of {what} must be a recipe path or a list of them", where=m.where("recipe"))
    if "expressions" in m:
        stray = [k for k in EXPRESSION_KEYS if k in m and k != "name"]
        if stray:
            raise CheckError(f"{what} has both `expressions:` and top-level {', '.join(stray)}", where=m.where(stray[0]),
                             hint="put every version's command change inside its expression")
        exprs = yamlio.typed(m, "expressions", list, what)
        if not exprs:
            raise CheckError(f"{what} has an empty `expressions:` list", where=m.where("expressions"))
        expressions = [_expression(x, exprs.where(k), what, eid) for k, x in enumerate(exprs)]
    else:
        expressions = [_expression(m, m.where(), what, eid, top=True)]
    return Erratum(eid, m["step"], " ".join(m["reason"].split()), expressions, recipe, m.get("intent"), m.where())


def _expression(x: object, where: str, what: str, eid: str, top: bool = False) -> Expression:
    if top:
        m = x
    else:
        m = yamlio.mapping(x, f"an expression of {what}", where, required=("name", "versions", "kind"),
                           allowed=EXPRESSION_KEYS)
    kind = yamlio.typed(m, "kind", str, what)
    if kind not in KINDS:
        raise CheckError(f"`kind` of {what} must be one of {', '.join(KINDS)}", where=m.where("kind"), found=repr(kind))
    if "versions" not in m:
        raise CheckError(f"{what} names no version range", where=m.where(),
                         expected="versions: {modelopt: '>=0.44.0,<0.45.0'} (or megatron_bridge, vllm, nemo_evaluator_launcher)",
                         hint="every erratum says which versions it was checked against")
    vm = yamlio.mapping(m["versions"], f"`versions` of {what}", m.where("versions"), allowed=tuple(COMPONENTS))
    versions = {}
    for comp, spec in vm.items():
        try:
            versions[comp] = SpecifierSet(str(spec))
        except InvalidSpecifier:
            raise CheckError(f"`versions.{comp}` of {what} is not a version range", where=vm.where(comp),
                             found=repr(spec), expected="e.g. '>=0.45.0,<0.46.0'") from None
    if ("find" in m) == ("edits" in m):
        raise CheckError(f"{what} needs exactly one of find/replace and edits", where=m.where())
    if "find" in m:
        edits = [(yamlio.typed(m, "find", str, what), yamlio.typed(m, "replace", str, what))]
        if "replace" not in m:
            raise CheckError(f"{what} has `find` but no `replace`", where=m.where("find"))
    else:
        raw = yamlio.typed(m, "edits", list, what)
        edits = []
        for k, ed in enumerate(raw):
            ed = yamlio.mapping(ed, f"an edit of {what}", raw.where(k), required=("find", "replace"))
            edits.append((yamlio.typed(ed, "find", str, what), yamlio.typed(ed, "replace", str, what)))
    if not edits or any(f == r or not f for f, r in edits):
        raise CheckError(f"{what}: every edit must change something", where=m.where())
    file = yamlio.typed(m, "file", str, what)
    if kind == "patch" and len(edits) != 1:
        raise CheckError(f"{what}: a patch changes one line of one file (one find/replace)", where=m.where())
    if (kind == "patch") != (file is not None):
        raise CheckError(f"{what}: a patch names the upstream `file` it edits; other kinds edit the command", where=m.where())
    name = str(m.get("name", eid)) if not top else eid
    return Expression(name, versions, kind, edits, file, m.where(), {c: str(v) for c, v in vm.items()})


def applicable(errata: list[Erratum], step: str, recipe: str) -> list[Erratum]:
    """The errata of a unit: its step's, limited to its recipe where the erratum names one."""
    return [e for e in errata if e.step == step and (e.recipe is None or recipe in ([e.recipe] if isinstance(e.recipe, str)
                                                                                    else e.recipe))]

