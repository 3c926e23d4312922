"""Goldens held against the records they will judge, when they load: each check's `path` (or `ratio` paths) must be a
value of its step's record type, its `expect` (or `by_gpu` values) of that value's type, a numeric tolerance only on
a number, its `formats` among the step parser's; a lineage rule may echo only a value its step records; a `diff:`
tolerance names a check or a value of its step. Every failure is a CheckError at the goldens file:line (exit 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checks import recordtypes, registry
from checks.errors import CheckError
from checks.yamlio import YMap

if TYPE_CHECKING:
    from checks.goldens import Golden, Goldens, Lineage


def check(goldens: Goldens, own: list[Golden], doc: YMap) -> None:
    """The checks this file itself defines (included ones were checked in their own file), its lineage and diff."""
    for g in own:
        _golden(g)
    for rule in goldens.lineage:
        _lineage(rule)
    for key in goldens.diff:
        _diff_key(goldens, key, doc["diff"].where(key))


def _record(step: str):
    return registry.get(step).record


def _unknown(g_what: str, path: str, step: str, where: str) -> CheckError:
    rec = _record(step)
    return CheckError(f"{g_what}: `{path}` is no value of the {step} record ({rec.__name__})", where=where,
                      expected=f"a path into {rec.__name__}: {', '.join(recordtypes.fields_of(rec))} (then keys, "
                               "fields or list indices below them)",
                      hint="fix the path (`checks parse STEP PATH` prints a record as JSON)")


def _golden(g: Golden) -> None:
    what = f"check {g.step}.{g.id}"
    rec = _record(g.step)
    for path in (g.ratio or (g.path,) if not g.mean_of else ()):
        if not recordtypes.kinds(rec, path):
            raise _unknown(what, path, g.step, g.where)
    step = registry.get(g.step)
    if g.formats and step.formats and set(g.formats) - set(step.formats):
        raise CheckError(f"{what}: `formats` names a log format the {g.step} parser does not label",
                         where=g.where, found=", ".join(sorted(set(g.formats) - set(step.formats))),
                         expected=", ".join(step.formats))
    have = {"number"} if g.ratio or g.mean_of else recordtypes.kinds(rec, g.path)
    if g.tol.kind != "exact" and not have & {"number", "any"}:
        raise CheckError(f"{what}: a numeric tolerance ({g.tol.kind}) on a value that is no number", where=g.where,
                         found=f"{g.path} holds {' or '.join(sorted(have))}", expected="tol: exact")
    for value in ([g.expect] if g.by_gpu is None else list(g.by_gpu.values())):
        if value is None or "any" in have:
            continue
        kind = recordtypes.value_kind(value)
        if kind not in have:
            raise CheckError(f"{what}: the expected value is a {kind}, but {g.path or 'the value'} holds "
                             f"{' or '.join(sorted(have))}", where=g.where, found=repr(value)[:120],
                             hint="write the value as the record holds it (`checks parse` shows one)")


def _lineage(rule: Lineage) -> None:
    what = f"lineage check {rule.id}"
    target = rule.unit or rule.output
    step = target.split("/", 1)[0]
    if registry.find(step) is None or not registry.get(step).judged:
        raise CheckError(f"{what} names step `{step}`, which the kit does not judge", where=rule.where,
                         expected=", ".join(registry.judged()))
    if rule.echoed and not recordtypes.kinds(_record(step), rule.echoed):
        raise _unknown(what, rule.echoed, step, rule.where)
    for other in (rule.differs_from, rule.architecture_of, rule.bf16_same_as):
        if other and (registry.find(other.split("/", 1)[0]) is None):
            raise CheckError(f"{what} compares with `{other}`, which is no step's output", where=rule.where,
                             expected=f"a path under one of {', '.join(registry.judged())}")


def _diff_key(goldens: Goldens, key: str, where: str) -> None:
    """`diff: {<step>.<check id or value path>: tol}`; a key without a step is a comparison a step adds (loss_curve)."""
    step, _, rest = key.partition(".")
    if not rest or registry.find(step) is None:
        return
    if any(g.id == rest for g in goldens.steps.get(step, [])) or recordtypes.kinds(_record(step), rest):
        return
    raise CheckError(f"`diff:` names {key}, which is neither a check of `{step}:` nor a value of its record",
                     where=where, hint="name a check id or a record path of that step")


def completion(step: str, spec: dict, where: str) -> None:
    """A profile's `completion:` of a step (record field: the value it must have, or the name of another field): each
    field must be a value the step's record has, since the runner reads it from there before it stamps the step."""
    s = registry.get(step)
    if s.record is None:
        raise CheckError(f"step `{step}` has a `completion:` but no record to read it from", where=where,
                         hint="remove it: only steps the checks parse can be held to a completion rule")
    for key in spec:
        if not recordtypes.kinds(s.record, str(key)):
            raise CheckError(f"`completion:` of step `{step}` names `{key}`, which is no value of its record "
                             f"({s.record.__name__})", where=where, expected=", ".join(recordtypes.fields_of(s.record)))
